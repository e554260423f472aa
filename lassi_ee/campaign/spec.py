"""A campaign file: apps x devices x n trials, the ks to report, the models and settings.

YAML or TOML, for example::

    name: omp-smoke
    apps: [examples/*-omp, ../hecbench/jacobi-cuda]   # app dirs (app.yaml) or sources; globs
    devices: [cuda:0, cuda:1]                          # one worker per device
    trials: 30                                         # n trials per app and device
    ks: [1, 3, 5]                                      # default: those of 1, 3, 5 up to n
    models: {generate: gpt-4o, context: gpt-4o-mini, base_url: http://localhost:8000/v1}
    models_factory: my_models.py:build                 # or package.module:callable
    settings: {repeats: 3, max_iterations: 10}         # any lassi_ee.settings.Settings field
    directory: campaigns/omp-smoke                     # default: campaigns/NAME
    ray: {resources: {cuda: {GPU: 1}}, max_retries: 3} # --engine ray only; these are the defaults

Relative paths are relative to the campaign file. A file with problems is
reported in one UsageError that lists every problem with its line number.
"""

from __future__ import annotations

import glob
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from lassi_ee.apps import load_app
from lassi_ee.campaign.locations import Loc, parse_with_lines, problems_report
from lassi_ee.devices import parse_device_spec
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.metrics import DEFAULT_KS
from lassi_ee.settings import Settings
from lassi_ee.thread_ids import check_thread_id
from lassi_ee.trials import is_postgres

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str) -> str:
    """``text`` with anything but letters, digits, ``_.-`` turned into ``-`` (ids, file names)."""
    return _UNSAFE.sub("-", text).strip("-") or "x"


def device_label(spec: str) -> str:
    """``cuda:0`` -> ``cuda0``: a device spec as it appears in thread ids and file names."""
    return spec.replace(":", "")


class CampaignApp(BaseModel):
    """One app of a campaign: its name (from its manifest or file) and where it lives."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: Path


class CampaignTrial(BaseModel):
    """One trial of a campaign; what a models factory is called with."""

    model_config = ConfigDict(frozen=True)

    campaign: str
    app: str
    device: str
    index: int
    thread_id: str


# --- validators: each raises ValueError with a message that says what to do -----------


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def apps_matching(pattern: str, base_dir: Path) -> list[CampaignApp]:
    """The apps a path or glob names: app directories (app.yaml) or single sources."""
    full = Path(pattern).expanduser()
    full = full if full.is_absolute() else base_dir / full
    matches = sorted(glob.glob(str(full))) if glob.has_magic(pattern) else [str(full)]
    if not matches:
        raise ValueError(f"'{pattern}' matches nothing (relative paths start at {base_dir})")
    apps, problems = [], []
    for match in matches:
        try:
            app = load_app(match)
        except LassiError as error:
            problems.append(str(error).splitlines()[0])
            continue
        apps.append(CampaignApp(name=app.name, path=Path(match).resolve()))
    if problems:
        raise ValueError("; ".join(problems))
    return apps


def _check_app_pattern(pattern: str, info: ValidationInfo) -> str:
    apps_matching(pattern, _base_dir(info))
    return pattern


def _normal_device(spec: str) -> str:
    try:
        kind, index = parse_device_spec(spec)
    except UsageError:
        raise ValueError(f"unknown device '{spec}': use cuda:N, rocm:N or cpu") from None
    if kind == "auto":
        raise ValueError(
            "'auto' is not allowed in a campaign: name each device (cuda:N, rocm:N or cpu)"
        )
    return kind if kind == "cpu" else f"{kind}:{index}"


def load_factory(ref: str) -> Callable[..., Any]:
    """The callable ``module:name`` or ``/abs/file.py:name`` names.

    A file is imported as a script would be: its folder goes on sys.path first,
    so it can import the modules beside it.
    """
    module_name, _, attribute = ref.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module_name = path.stem
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the user's module: any failure is theirs to see
        raise ValueError(
            f"cannot import '{module_name}' ({type(error).__name__}: {error})"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"'{module_name}' has no callable '{attribute}'")
    return factory


def _check_factory(ref: str, info: ValidationInfo) -> str:
    """Normalize a file reference to an absolute path (workers import it too) and load it."""
    module_name, colon, attribute = ref.rpartition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"'{ref}': write it as package.module:callable or file.py:callable")
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser()
        path = (path if path.is_absolute() else _base_dir(info) / path).resolve()
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        ref = f"{path}:{attribute}"
    load_factory(ref)
    return ref


AppPattern = Annotated[str, AfterValidator(_check_app_pattern)]
DeviceSpec = Annotated[str, AfterValidator(_normal_device)]


class ModelNames(BaseModel):
    """Model names per role group, and the endpoint; unset ones come from Settings."""

    model_config = ConfigDict(extra="forbid")

    generate: str | None = None
    context: str | None = None
    judge: str | None = None
    base_url: str | None = None


DeviceKind = Literal["cuda", "rocm", "cpu"]
# What one trial asks Ray for, per device kind: a whole GPU, so that no two trials share
# one (Ray's "GPU" counts NVIDIA and AMD GPUs alike and pins the task to the one it gives).
DEFAULT_RAY_RESOURCES: dict[DeviceKind, dict[str, float]] = {
    "cuda": {"GPU": 1},
    "rocm": {"GPU": 1},
    "cpu": {"CPU": 1},
}


class RaySpec(BaseModel):
    """How ``--engine ray`` schedules the trials of each device kind."""

    model_config = ConfigDict(extra="forbid")

    resources: dict[DeviceKind, dict[str, float]] = Field(
        default_factory=dict,
        description="device kind -> Ray resources one trial holds (CPU, GPU or custom ones)",
    )
    max_retries: int = Field(3, ge=0, description="times a trial whose worker died is rerun")

    @field_validator("resources")
    @classmethod
    def _whole_gpus(
        cls, resources: dict[DeviceKind, dict[str, float]]
    ) -> dict[DeviceKind, dict[str, float]]:
        for kind, request in resources.items():
            if not request or any(amount <= 0 for amount in request.values()):
                raise ValueError(f"{kind}: name each resource with a positive amount, e.g. GPU: 1")
            gpus = request.get("GPU")
            if kind != "cpu" and gpus is not None and (gpus < 1 or gpus != int(gpus)):
                raise ValueError(f"{kind}: GPU must be a whole number: trials never share a GPU")
        return resources

    def resources_for(self, device: str) -> dict[str, float]:
        """What a trial on ``device`` (cuda:N, rocm:N or cpu) asks Ray for."""
        kind = cast(DeviceKind, device.split(":")[0])
        return self.resources.get(kind) or DEFAULT_RAY_RESOURCES[kind]


class CampaignSpec(BaseModel):
    """The campaign file as written (validated, paths still relative to the file)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="letters, digits, _ . -: it names files and thread ids")
    apps: list[AppPattern] = Field(min_length=1, description="app paths or globs")
    devices: list[DeviceSpec] = Field(min_length=1, description="cuda:N, rocm:N or cpu")
    trials: int = Field(ge=1, description="n: trials per app and device")
    ks: list[int] | None = Field(None, description="k values of pass@k; default 1, 3, 5 up to n")
    models: ModelNames = Field(default_factory=ModelNames)
    models_factory: str | None = Field(
        None, description="module:callable or file.py:callable, called with a CampaignTrial"
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings overrides")
    directory: str | None = Field(None, description="default: campaigns/NAME beside the file")
    store: str | None = Field(None, description="results file; default DIRECTORY/results.sqlite")
    ray: RaySpec = Field(default_factory=RaySpec)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not re.match(_NAME, name):
            raise ValueError(f"'{name}': use letters, digits, _ . - (it names files and ids)")
        return name

    @field_validator("apps")
    @classmethod
    def _distinct_apps(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        seen: dict[str, Path] = {}
        for pattern in patterns:
            for app in apps_matching(pattern, _base_dir(info)):
                key = safe_name(app.name)
                if key in seen and seen[key] != app.path:
                    raise ValueError(
                        f"two apps are named '{app.name}' ({seen[key]} and {app.path}): "
                        "rename one in its app.yaml"
                    )
                seen[key] = app.path
        return patterns

    @field_validator("devices")
    @classmethod
    def _distinct_devices(cls, devices: list[str]) -> list[str]:
        repeated = sorted({d for d in devices if devices.count(d) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        return devices

    @field_validator("ks")
    @classmethod
    def _ks_within_trials(cls, ks: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if ks is None:
            return None
        if not ks or min(ks) < 1:
            raise ValueError("ks must be positive integers, e.g. [1, 3, 5]")
        trials = info.data.get("trials")
        if trials is not None and max(ks) > trials:
            raise ValueError(f"k={max(ks)} exceeds trials={trials}: pass@k needs k <= n")
        return sorted(set(ks))

    @field_validator("models_factory")
    @classmethod
    def _factory(cls, ref: str | None, info: ValidationInfo) -> str | None:
        return None if ref is None else _check_factory(ref, info)


class Campaign(BaseModel):
    """A loaded campaign: the spec, with every path resolved and its apps found."""

    spec: CampaignSpec
    file: Path
    directory: Path
    store_path: Path
    apps: list[CampaignApp]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def devices(self) -> list[str]:
        return self.spec.devices

    @property
    def ks(self) -> list[int]:
        if self.spec.ks is not None:
            return self.spec.ks
        return [k for k in DEFAULT_KS if k <= self.spec.trials] or [1]

    def app(self, name: str) -> CampaignApp:
        return next(app for app in self.apps if app.name == name)

    def thread_id(self, app: str, device: str, index: int) -> str:
        """Deterministic, so a rerun finds the trial's checkpoints."""
        return safe_name(f"{self.name}-{app}-{device_label(device)}-{index:03d}")

    def trials(self) -> list[CampaignTrial]:
        """Every trial, device-major, so each device's queue is in app, index order."""
        return [
            CampaignTrial(
                campaign=self.name,
                app=app.name,
                device=device,
                index=index,
                thread_id=self.thread_id(app.name, device, index),
            )
            for device in self.devices
            for app in self.apps
            for index in range(self.spec.trials)
        ]

    def settings(self) -> Settings:
        """Settings for this campaign's trials: checkpoints, archives and the Stage-0 cache
        live in the campaign's directory unless the file's settings say otherwise."""
        values: dict[str, Any] = {
            "checkpoint_url": str(self.directory / "checkpoints.sqlite"),
            "runs_dir": self.directory / "runs",
            "cache_dir": self.directory / "source-cache",
        }
        names = self.spec.models
        for field, value in (
            ("generate_model", names.generate),
            ("context_model", names.context),
            ("judge_model", names.judge),
            ("base_url", names.base_url),
        ):
            if value is not None:
                values[field] = value
        values.update(_resolve_setting_paths(self.spec.settings, self.file.parent))
        try:
            return Settings(**values)
        except ValidationError as error:  # the environment changed since the file was checked
            raise UsageError(f"{self.file}: settings: {error.errors()[0]['msg']}") from None

    def models_for(self, trial: CampaignTrial) -> Any:
        """The chat model(s) of one trial: the factory's, else None (Settings name them)."""
        if self.spec.models_factory is None:
            return None
        return load_factory(self.spec.models_factory)(trial)


def _is_path_type(annotation: Any) -> bool:
    if annotation is Path:
        return True
    if get_origin(annotation) in (Union, UnionType, list):
        return any(_is_path_type(arg) for arg in get_args(annotation))
    return False


def _resolve_setting_paths(overrides: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Paths in the file's settings are relative to the file, like every path in it."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            return str(base_dir / value)
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    resolved = {}
    for key, value in overrides.items():
        field = Settings.model_fields.get(key)
        path_like = key == "checkpoint_url" and isinstance(value, str) and not is_postgres(value)
        if path_like or (field is not None and _is_path_type(field.annotation)):
            value = resolve(value)
        resolved[key] = value
    return resolved


# --- loading, with every problem located in the file (locations.py) ----------------------


def load_campaign(path: str | Path) -> Campaign:
    """Read and check a campaign file; raise one UsageError that lists every problem."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"{file}: no such campaign file")
    text = file.read_text()
    base_dir = file.parent.resolve()
    raw, lines = parse_with_lines(file, text)
    problems: list[tuple[Loc, str]] = []
    spec: CampaignSpec | None = None
    try:
        spec = CampaignSpec.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as error:
        problems += [(tuple(e["loc"]), _message(e)) for e in error.errors()]
    overrides = raw.get("settings")
    if isinstance(overrides, dict):
        problems += _settings_problems(_resolve_setting_paths(overrides, base_dir))
    if problems or spec is None:
        raise UsageError(problems_report(file, problems, lines))
    directory = _resolved(spec.directory, base_dir) or base_dir / "campaigns" / spec.name
    apps = [app for pattern in spec.apps for app in apps_matching(pattern, base_dir)]
    campaign = Campaign(
        spec=spec,
        file=file.resolve(),
        directory=directory,
        store_path=_resolved(spec.store, base_dir) or directory / "results.sqlite",
        apps=list({app.name: app for app in apps}.values()),
    )
    for trial in campaign.trials():
        try:
            check_thread_id(trial.thread_id)
        except UsageError as error:
            shorten = "shorten the campaign's or the app's name"
            raise UsageError(f"{file}: {error} ({shorten})") from None
    return campaign


def _resolved(path: str | None, base_dir: Path) -> Path | None:
    if path is None:
        return None
    full = Path(path).expanduser()
    return full if full.is_absolute() else base_dir / full


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        models: dict[Any, type[BaseModel]] = {"models": ModelNames, "ray": RaySpec}
        model = models.get(error["loc"][0], CampaignSpec) if len(error["loc"]) > 1 else CampaignSpec
        return f"unknown key; the keys here are {', '.join(model.model_fields)}"
    if error["type"] == "missing":
        return "required, but missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _settings_problems(overrides: dict[str, Any]) -> list[tuple[Loc, str]]:
    try:
        Settings(**overrides)
    except ValidationError as error:
        return [
            (
                ("settings", *e["loc"]),
                "not a setting (see lassi_ee/settings.py)"
                if e["type"] == "extra_forbidden"
                else _message(e),
            )
            for e in error.errors()
        ]
    return []
