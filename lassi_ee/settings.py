"""Every knob of lassi-ee in one pydantic model.

Values come, lowest priority first, from the defaults here, a TOML file named by
``LASSI_CONFIG`` (or ``lassi-ee.toml`` in the working directory), environment
variables prefixed ``LASSI_`` and finally explicit keyword arguments (the CLI
passes its flags that way).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lassi_ee.errors import UsageError

# What a trial does not keep as its own: the key, and where this machine keeps files and
# locks (a trial may resume on another node, or with its files moved).
MACHINE_SETTINGS = frozenset(
    {
        "api_key", "checkpoint_url", "checkpoint_lock_timeout_s", "work_root", "runs_dir",
        "cache_dir", "lock_dir", "lock_timeout_s", "llm_max_concurrent", "sandbox_user",
        "sandbox_fresh_uid", "calibration_log",
    }
)  # fmt: skip
# What a trial's figures were measured and decided with: a resume cannot change them.
FIXED_FOR_A_TRIAL = frozenset(
    {
        "repeats", "min_window_s", "sample_period_s", "settle_window_s", "settle_tolerance_w",
        "min_energy_gain", "noise_sigmas", "check_rtol", "check_atol", "initial_temperature",
        "temperature_step", "max_temperature", "max_iterations", "max_self_corrections",
        "max_fruitless_without_temperature", "confirm_pairs", "confirm_max_pairs",
        "false_claim_rate", "final_pairs", "suspicious_gain",
    }
)  # fmt: skip


def _config_file() -> Path:
    """The TOML file settings come from: ``LASSI_CONFIG``, which must exist, or
    ``lassi-ee.toml`` here when there is one."""
    named = os.environ.get("LASSI_CONFIG")
    if named is not None and not Path(named).exists():
        raise UsageError(
            f"LASSI_CONFIG names {named}, which does not exist: fix the path, or unset it"
        )
    return Path(named or "lassi-ee.toml")


class Settings(BaseSettings):
    """Every knob of lassi-ee; the module docstring says where values come from."""

    model_config = SettingsConfigDict(env_prefix="LASSI_", extra="forbid")

    # --- which models answer, where, and what a trial may spend on them ---
    generate_model: str = Field(
        "gpt-4o",
        description="model of the generate roles (vanilla, refactor, the fixes), and of every "
        "role whose group names none; 'demo' and 'null' name the scripted models",
    )
    context_model: str | None = Field(None, description="defaults to generate_model")
    judge_model: str | None = Field(None, description="defaults to context_model")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None = OpenAI")
    api_key: SecretStr | None = Field(None, description="falls back to OPENAI_API_KEY")
    request_timeout_s: float = Field(
        300.0, gt=0, description="seconds an LLM request may take before it is tried again"
    )
    llm_max_attempts: int = Field(
        6, ge=1, description="attempts per LLM request (rate limits, 5xx and timeouts retried)"
    )
    max_output_tokens: int = Field(16_000, ge=1, description="longest reply asked for, tokens")
    max_reasks: int = Field(
        2, ge=0, description="times a reply with nothing usable (no program) is asked again"
    )
    prices_per_mtok: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="model -> (USD per 1M input, per 1M output tokens)"
    )
    budget_tokens: int | None = Field(None, ge=1, description="tokens per trial; None = no limit")
    budget_usd: float | None = Field(None, gt=0, description="USD per trial; None = no limit")
    docs_paths: list[Path] = Field(default_factory=list, description="own programming notes")
    # --- how the client gets a usable reply: retries of failed requests, cut-off replies ---
    llm_backoff_initial_s: float = Field(
        1.0,
        ge=0,
        description="first retry wait on rate limits, 5xx and timeouts; grows exponentially",
    )
    llm_backoff_max_s: float = Field(60.0, ge=0, description="longest wait between two retries")
    max_continuations: int = Field(
        2,
        ge=0,
        description=(
            "times a code reply cut off by the length limit is asked to continue "
            "(prose is used as it stands)"
        ),
    )
    # --- how hard an endpoint may be pressed by trials running side by side ---
    llm_max_concurrent: int | None = Field(
        None,
        ge=1,
        description="requests in flight at once per endpoint: per process, or across the "
        "whole cluster with --engine ray; None = unlimited",
    )

    # --- the method: temperatures, bounds of Stage 3, and when a gain is claimed ---
    initial_temperature: float = Field(
        0.2, ge=0, le=2, description="temperature of the first attempts (Stages 1 and 3)"
    )
    temperature_step: float = Field(
        0.2, gt=0, description="added to the temperature after a valid try that saved nothing"
    )
    max_temperature: float = Field(
        0.8, ge=0, le=2, description="Stage 3 stops once the temperature passes this"
    )
    max_iterations: int = Field(10, ge=1, description="Stage-3 refactorings at most")
    max_self_corrections: int = Field(
        5, ge=0, description="compile/runtime fixes per Stage-3 candidate"
    )
    candidates_per_step: int = Field(
        1,
        ge=1,
        description="candidates each Stage-3 refactoring asks for from the same context (the "
        "requests concurrent, within llm_max_concurrent); each is built, fixed, run, checked, "
        "measured and judged, and only the lowest screened one is confirmed, so a step still "
        "makes one confirmation at most; 1 = the paper's method",
    )
    max_fruitless_without_temperature: int = Field(
        3, ge=1, description="tries without a gain that end Stage 3 for models with no temperature"
    )
    min_energy_gain: float = Field(
        0.02,
        ge=0.0,
        lt=1.0,
        description="the smallest relative gain worth claiming: the screen's margin, and the "
        "bound a confirmation's upper confidence limit of candidate/best must fall below",
    )
    noise_sigmas: float = Field(
        2.0,
        ge=0.0,
        description="screen only: multiples of the two measurements' combined spread a gain "
        "must exceed before it is worth confirming",
    )
    confirm_pairs: int = Field(
        5,
        ge=2,
        description="interleaved best/candidate window pairs measured before each look of a "
        "confirmation",
    )
    confirm_max_pairs: int = Field(
        20,
        ge=2,
        description="most pairs one confirmation measures while undecided; more pairs detect "
        "smaller gains at more device time",
    )
    false_claim_rate: float = Field(
        0.01,
        gt=0.0,
        lt=0.5,
        description="chance a whole trial may claim a gain that is not there; split "
        "(Bonferroni) over every look of its max_iterations + 1 confirmations",
    )
    final_pairs: int = Field(
        5,
        ge=2,
        description="interleaved source/best pairs of Stage 4's final re-measurement, whose "
        "paired estimate and 95 % interval are the trial's reported reduction",
    )

    # --- the output check, and gains too good to be true ---
    check_rtol: float = Field(1e-3, ge=0, description="output check: relative tolerance on numbers")
    check_atol: float = Field(1e-6, ge=0, description="output check: absolute tolerance on numbers")
    suspicious_gain: float = Field(
        10.0,
        gt=1.0,
        description="a candidate faster or lower in energy than the source by more than this "
        "factor is too good to be true: it is run again on every input, the judge is told, and "
        "it can win only when it matched on at least two inputs",
    )

    # --- measurement: windows, repeats, the idle level, one measurement per device ---
    repeats: int = Field(3, ge=1, description="measured windows per version")
    min_window_s: float = Field(
        2.0, gt=0, description="short programs run back to back until this long"
    )
    sample_period_s: float = Field(0.01, gt=0, description="power timeline period, seconds")
    settle_window_s: float = Field(
        1.0, gt=0, description="idle is settled when two windows this long agree"
    )
    settle_tolerance_w: float = Field(
        3.0, gt=0, description="how closely (W) two idle windows must agree"
    )
    settle_timeout_s: float = Field(
        30.0, gt=0, description="longest wait for the idle power to settle"
    )
    lock_dir: Path = Field(
        Path("/tmp/lassi-ee-locks"),
        description="lock files that keep two measurements (of any process) off one device, "
        "and trials of one source from measuring it twice",
    )
    lock_timeout_s: float = Field(
        900.0, ge=0, description="how long a measurement waits for another one on the same device"
    )

    # --- profiler counters of the source (Stage 0, NVIDIA): what Stage 2's prompts are told ---
    ncu_profile: bool = Field(
        True,
        description="at Stage 0, profile the source once with Nsight Compute (ncu) when it is "
        "on the PATH and the device is an NVIDIA GPU; without it the prompts say why",
    )
    ncu_max_launches: int = Field(
        10,
        ge=1,
        description="kernel launches ncu profiles: the program's first ones; ncu stops the "
        "program once they are profiled",
    )
    ncu_timeout_s: float = Field(
        180.0, gt=0, description="seconds the ncu run may take before it is stopped (no counters)"
    )

    # --- compile and run: timeouts, kept output, and the sandbox's limits ---
    compile_timeout_s: float = Field(300.0, gt=0, description="seconds a build may take")
    run_timeout_s: float = Field(600.0, gt=0, description="seconds one run of a program may take")
    max_output_bytes: int = Field(
        1_000_000,
        ge=1,
        description="output kept per run and stream (its start and its end when longer)",
    )
    max_file_size_mb: int = Field(2048, ge=1, description="RLIMIT_FSIZE of every sandboxed run")
    max_open_files: int = Field(1024, ge=16, description="RLIMIT_NOFILE of every sandboxed run")
    max_processes: int = Field(
        512, ge=1, description="RLIMIT_NPROC of every sandboxed run (threads count)"
    )
    address_space_gb: float | None = Field(
        32.0, gt=0, description="RLIMIT_AS for CPU programs; never applied to GPU programs"
    )
    sandbox_user: str = Field("nobody", description="uid the child runs as when we are root")
    sandbox_fresh_uid: bool = Field(
        True,
        description="as root, run each program (and compiler) under a fresh unused uid in "
        "sandbox_user's group, so one run's processes cannot use up another run's process "
        "limit; False: run as sandbox_user",
    )
    work_root: Path = Field(
        Path("/tmp/lassi-ee-work"),
        description="scratch space for builds and sandboxed runs; safe to delete between trials",
    )

    # --- where trials are kept ---
    checkpoint_url: str = Field(
        "checkpoints/lassi-ee.sqlite",
        description="the checkpoint database: a SQLite file, or a postgresql:// URL that "
        "several machines share",
    )
    checkpoint_lock_timeout_s: float = Field(
        30.0,
        ge=0,
        description="how long a SQLite checkpoint write waits for another process's lock",
    )
    cache_dir: Path = Field(Path("checkpoints/source-cache"), description="Stage-0 profiles")
    calibration_log: Path = Field(
        Path("checkpoints/calibrations.jsonl"),
        description="`lassi-ee calibrate` appends each noise floor here; campaign reports "
        "quote the newest per app and device",
    )
    runs_dir: Path = Field(
        Path("runs"), description="trial archives and reports, one folder per thread id"
    )

    @model_validator(mode="after")
    def _pairs_in_order(self) -> Settings:
        if self.confirm_max_pairs < self.confirm_pairs:
            raise ValueError(
                f"confirm_max_pairs ({self.confirm_max_pairs}) must be at least confirm_pairs "
                f"({self.confirm_pairs})"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values replaced (for CLI flags), checked as the
        settings themselves are: a bad value is one UsageError."""
        update = {k: v for k, v in overrides.items() if v is not None}
        try:
            return type(self).model_validate({**self.model_dump(), **update})
        except ValidationError as error:
            raise UsageError(f"invalid settings (command-line flags): {_problems(error)}") from None

    def trial_record(self) -> dict[str, Any]:
        """The settings a trial keeps as its own, as JSON values: models, endpoint,
        measurement, method and limits; never the API key or this machine's paths."""
        return self.model_dump(mode="json", exclude=set(MACHINE_SETTINGS))

    def resumed(
        self, record: dict[str, Any], overrides: dict[str, Any]
    ) -> tuple[Settings, list[str]]:
        """The settings a trial resumes with: these (this process's) for the machine, the
        trial's ``record`` for everything else, then ``overrides`` (flags, arguments).
        Returns them and one line per override that changed the record. Changing what
        the trial's figures depend on is a UsageError."""
        fields = type(self).model_fields
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise UsageError(f"not settings: {', '.join(unknown)} (see lassi_ee/settings.py)")
        recorded = {name: value for name, value in record.items() if name in fields}
        machine = {name: getattr(self, name) for name in MACHINE_SETTINGS}
        try:
            settings = type(self).model_validate(
                {**self.model_dump(), **recorded, **machine, **overrides}
            )
        except ValidationError as error:
            raise UsageError(f"invalid settings to resume with: {_problems(error)}") from None
        now = settings.model_dump(mode="json")
        changed = [
            name
            for name in overrides
            if name not in MACHINE_SETTINGS and now[name] != recorded.get(name)
        ]
        fixed = [name for name in changed if name in FIXED_FOR_A_TRIAL]
        if fixed:
            was = ", ".join(f"{name} {recorded.get(name)}" for name in fixed)
            raise UsageError(
                f"{', '.join(fixed)} cannot change on resume: the trial's figures were "
                f"measured and decided with {was}; start a new trial for other values"
            )
        return settings, [
            f"resumed with {name} {now[name]} instead of {recorded.get(name)}" for name in changed
        ]


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']} "
        f"(got {problem['input']!r})"
        for problem in error.errors()
    )


def load_settings() -> Settings:
    """Settings from the environment and the config file; every problem in one UsageError."""
    try:
        return Settings()
    except ValidationError as error:
        raise UsageError(
            f"invalid settings (LASSI_* variables, or {_config_file()}): {_problems(error)}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{_config_file()}: not valid TOML ({error})") from None
