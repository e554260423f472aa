"""Stage 0: build, run and measure the source once; every candidate is screened against it.

The result is cached per source, arguments, device, measurement and profiler
settings, so 30 trials of one app measure the source once. The cache entry also
keeps the source's outputs on every further input set (smoke_args, check_args)
that candidates are checked on, and, on NVIDIA, its profiler counters and power
shape (tools/hotspots.py) that Stage 2 is told. The cached figures serve the
screen, the prompts and the reports only: every claim against the source
re-measures it, interleaved with the candidate (nodes/confirm.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.apps import App, load_app
from lassi_ee.devices import Device
from lassi_ee.energy.decide import REPORTED_CONFIDENCE, DecisionRule
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import LassiError
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.common import TrialContext, archive_dir, context_of, thread_id, work_dir
from lassi_ee.settings import Settings
from lassi_ee.state import Limits, ReferenceRun, TrialState
from lassi_ee.tools.check import read_output_files
from lassi_ee.tools.equivalence import RecordedOutput, input_sets, run_source_on_other_inputs
from lassi_ee.tools.hotspots import RAW_CSV_NAME, find_hotspots
from lassi_ee.tools.profile import decision_rule, profile_app, run_request

_MEASUREMENT_KNOBS = (
    "repeats", "min_window_s", "sample_period_s", "settle_window_s", "settle_tolerance_w",
)  # fmt: skip
_PROFILER_KNOBS = ("ncu_profile", "ncu_max_launches")


def cache_key(app: App, device: Device, settings: Settings) -> str:
    """The source's cache entry: what its figures and outputs depend on, hashed."""
    facts = {
        "source": app.source_hash(),
        "manifest": app.manifest.model_dump(mode="json"),
        "device": [device.kind, device.name, device.arch, device.visible_id, device.board],
        "measurement": [getattr(settings, knob) for knob in _MEASUREMENT_KNOBS],
        "profiler": [getattr(settings, knob) for knob in _PROFILER_KNOBS],
        "inputs": [inputs.args for inputs in input_sets(app.manifest)],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def _cached(path: Path) -> ReferenceRun | None:
    try:
        return ReferenceRun.model_validate_json(path.read_text()).model_copy(
            update={"from_cache": True}
        )
    except (OSError, ValueError):
        return None


def measure_source(app: App, device: Device, settings: Settings, build_dir: Path) -> ReferenceRun:
    """Profile the source (or take it from the cache); LassiError says why it cannot be used.

    Trials of one source on one device that start together take turns at this (a lock
    per cache entry): the first measures, the others read what it cached.
    """
    key = cache_key(app, device, settings)
    entry = settings.cache_dir / key
    with device_lock(f"source-{key}", settings.lock_dir, settings.lock_timeout_s):
        reference = _cached(entry / "reference.json")
        if reference is not None:
            return reference
        return _measure_into_cache(app, device, settings, build_dir, entry)


def _measure_into_cache(
    app: App, device: Device, settings: Settings, build_dir: Path, entry: Path
) -> ReferenceRun:
    key = entry.name
    staging = entry.with_name(key + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    outcome = profile_app(app, device, settings, build_dir, staging / "timeline.json")
    if outcome.failure or outcome.profile is None or outcome.run is None:
        detail = outcome.compile.diagnostics if not outcome.compile.ok else ""
        if outcome.run is not None and not outcome.run.ok:
            detail = (outcome.run.stderr or outcome.run.stdout)[-2000:]
        raise LassiError(
            f"the source cannot be used: {outcome.failure}. Fix it so that it builds and "
            f"passes on {device.spec}, then start again.\n{detail}".rstrip()
        )
    files = read_output_files(outcome.run.workdir, app.manifest.outputs, settings.max_output_bytes)
    _save(files, staging / "outputs")
    outcome.run.discard()
    assert outcome.compile.binary is not None
    other_inputs = []
    for index, (inputs, stdout, input_files) in enumerate(
        run_source_on_other_inputs(app, device, outcome.compile.binary, settings), 1
    ):
        _save(input_files, staging / "inputs" / str(index))
        files_dir = str(entry / "inputs" / str(index))
        other_inputs.append(RecordedOutput(input=inputs, stdout=stdout, files_dir=files_dir))
    source_run = run_request(app, device, outcome.compile.binary, settings)
    hotspots = find_hotspots(source_run, outcome.profile, settings, staging)
    if hotspots.raw_csv_path is not None:
        hotspots = hotspots.model_copy(update={"raw_csv_path": str(entry / RAW_CSV_NAME)})
    final_profile = outcome.profile.model_copy(update={"timeline_path": entry / "timeline.json"})
    reference = ReferenceRun(
        profile=final_profile,
        stdout=outcome.run.stdout,
        output_files_dir=str(entry / "outputs"),
        runtime_s=outcome.run.wall_s,
        cache_key=key,
        other_inputs=other_inputs,
        hotspots=hotspots,
    )
    (staging / "reference.json").write_text(reference.model_dump_json(indent=1))
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)  # all or nothing: a killed Stage 0 leaves no half entry
    return reference


def _save(files: dict[str, bytes], folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def _archive_raw_counters(reference: ReferenceRun, archive: Path) -> None:
    """Copy ncu's CSV from the cache entry into the archive, beside reference.json."""
    hotspots = reference.hotspots
    if hotspots is not None and hotspots.raw_csv_path is not None:
        with contextlib.suppress(OSError):  # a cache entry emptied by hand: the figures remain
            shutil.copyfile(hotspots.raw_csv_path, archive / RAW_CSV_NAME)


def profile_source(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Stage 0: start the trial's state, and measure the source (or take it from the cache)."""
    thread_id()  # an id that is not a name (from Studio or the SDK) stops here, folderless
    ctx = context_of(runtime)
    settings = ctx.settings
    start: dict[str, Any] = {
        "started_unix": time.time(),
        "phase": "vanilla",
        "best": None,
        "candidate": None,
        "next_version": 1,
        "iteration": 0,
        "fruitless": 0,
        "temperature": settings.initial_temperature,
        "usage": Usage(),
        "trial_settings": settings.trial_record(),
        "limits": Limits(
            max_iterations=settings.max_iterations,
            max_self_corrections=settings.max_self_corrections,
            max_temperature=settings.max_temperature,
            max_fruitless_without_temperature=settings.max_fruitless_without_temperature,
        ),
        "decision_rule": decision_rule(settings),
        "final_rule": DecisionRule.fixed(
            settings.final_pairs, settings.min_energy_gain, REPORTED_CONFIDENCE
        ),
        "final_check": None,
    }
    try:
        app = load_app(state["source"], state.get("args"))
        device = resolve_device(state.get("device", "auto"))
        reference = measure_source(app, device, settings, work_dir(settings) / "source")
        temperature_applies = ctx.llm().models.supports_temperature("generate")
    except LassiError as error:
        return {**start, "error": str(error)}
    archive = archive_dir(settings)
    (archive / "reference.json").write_text(reference.model_dump_json(indent=1))
    (archive / "settings.json").write_text(json.dumps(start["trial_settings"], indent=1))
    _archive_raw_counters(reference, archive)
    return {
        **start,
        "app": app,
        "source_code": app.source_code(),
        "device_info": device,
        "reference": reference,
        "objective": reference.profile.objective,
        "temperature_applies": temperature_applies,
    }
