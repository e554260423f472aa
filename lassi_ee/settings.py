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


def _config_file() -> Path:
    return Path(os.environ.get("LASSI_CONFIG", "lassi-ee.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LASSI_", extra="forbid")

    # --- models (LLM layer) ---
    generate_model: str = "gpt-4o"
    context_model: str | None = Field(None, description="defaults to generate_model")
    judge_model: str | None = Field(None, description="defaults to context_model")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None = OpenAI")
    api_key: SecretStr | None = Field(None, description="falls back to OPENAI_API_KEY")
    request_timeout_s: float = 300.0
    llm_max_attempts: int = 6
    max_output_tokens: int = 16_000
    max_reasks: int = 2
    prices_per_mtok: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="model -> (USD per 1M input, per 1M output tokens)"
    )
    budget_tokens: int | None = None
    budget_usd: float | None = None
    docs_paths: list[Path] = Field(default_factory=list, description="own programming notes")
    # --- LLM layer: retries and cut-off replies (added with lassi_ee/llm) ---
    llm_backoff_initial_s: float = Field(
        1.0, description="first retry wait on rate limits, 5xx and timeouts; grows exponentially"
    )
    llm_backoff_max_s: float = Field(60.0, description="longest wait between two retries")
    max_continuations: int = Field(
        2, description="times a reply cut off by the length limit is asked to continue"
    )
    # --- LLM layer: concurrency (added with the Ray engine, lassi_ee/campaign/ray_engine.py) ---
    llm_max_concurrent: int | None = Field(
        None,
        ge=1,
        description="requests in flight at once per endpoint: per process, or across the "
        "whole cluster with --engine ray; None = unlimited",
    )

    # --- the method (trial graph) ---
    initial_temperature: float = 0.2
    temperature_step: float = 0.2
    max_temperature: float = 0.8
    max_iterations: int = 10
    max_self_corrections: int = 5
    max_fruitless_without_temperature: int = 3
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

    check_rtol: float = Field(1e-3, description="output check: relative tolerance on numbers")
    check_atol: float = Field(1e-6, description="output check: absolute tolerance on numbers")
    suspicious_gain: float = Field(
        10.0,
        gt=1.0,
        description="a candidate faster or lower in energy than the source by more than this "
        "factor is too good to be true: it is run again on every input, the judge is told, and "
        "it can win only when it matched on at least two inputs",
    )

    # --- measurement (profile tool) ---
    repeats: int = 3
    min_window_s: float = Field(2.0, description="short programs run back to back until this long")
    sample_period_s: float = 0.01
    settle_window_s: float = 1.0
    settle_tolerance_w: float = 3.0
    settle_timeout_s: float = 30.0
    lock_dir: Path = Path("/tmp/lassi-ee-locks")
    # --- measurement: added by the energy layer (lassi_ee/energy) ---
    lock_timeout_s: float = Field(
        900.0, description="how long a measurement waits for another one on the same device"
    )

    # --- compile and run ---
    compile_timeout_s: float = 300.0
    run_timeout_s: float = 600.0
    max_output_bytes: int = 1_000_000
    max_file_size_mb: int = 2048
    max_open_files: int = 1024
    max_processes: int = 512
    address_space_gb: float | None = Field(
        32.0, description="RLIMIT_AS for CPU programs; never applied to GPU programs"
    )
    sandbox_user: str = Field("nobody", description="uid the child runs as when we are root")
    # --- containment: added by the hardening work (issue 8) ---
    sandbox_fresh_uid: bool = Field(
        True,
        description="as root, run each program (and compiler) under a fresh unused uid in "
        "sandbox_user's group, so one run's processes cannot use up another run's process "
        "limit; False: run as sandbox_user",
    )
    work_root: Path = Path("/tmp/lassi-ee-work")

    # --- storage ---
    checkpoint_url: str = "checkpoints/lassi-ee.sqlite"
    checkpoint_lock_timeout_s: float = Field(
        30.0, description="how long a SQLite checkpoint write waits for another process's lock"
    )
    cache_dir: Path = Field(Path("checkpoints/source-cache"), description="Stage-0 profiles")
    calibration_log: Path = Field(
        Path("checkpoints/calibrations.jsonl"),
        description="`lassi-ee calibrate` appends each noise floor here; campaign reports "
        "quote the newest per app and device",
    )
    runs_dir: Path = Path("runs")

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

    def model_for(self, role_group: str) -> str:
        """Model name for a role group: generate, context or judge."""
        if role_group == "generate":
            return self.generate_model
        if role_group == "context":
            return self.context_model or self.generate_model
        return self.judge_model or self.context_model or self.generate_model

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values replaced (for CLI flags)."""
        update = {k: v for k, v in overrides.items() if v is not None}
        return self.model_copy(update=update)


def load_settings() -> Settings:
    """Settings from the environment and the config file; every problem in one UsageError."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']} "
            f"(got {problem['input']!r})"
            for problem in error.errors()
        )
        raise UsageError(
            f"invalid settings (LASSI_* variables, or {_config_file()}): {problems}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{_config_file()}: not valid TOML ({error})") from None
