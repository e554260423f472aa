"""The profile tool: build a program, check that it runs, and measure its energy.

``measure_binary`` measures an already built program (the trial graph builds and
checks candidates in earlier steps); ``profile_app`` does all three for a source
or an app directory (Stage 0 and ``lassi-ee profile``); ``confirm_binaries``
measures two built programs interleaved in one session (what a claim rests on).
The energy layer gets from the settings only what it needs: ``measurement_config``
and ``decision_rule``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.apps import App
from lassi_ee.devices import Device
from lassi_ee.energy import backend_for
from lassi_ee.energy.base import EnergyProfile
from lassi_ee.energy.decide import DecisionRule
from lassi_ee.energy.measure import MeasurementConfig, RunBatch, measure
from lassi_ee.energy.paired import Confirmation, confirm
from lassi_ee.errors import LassiError
from lassi_ee.settings import Settings
from lassi_ee.tools.compile import CompileRequest, CompileResult, compile_app
from lassi_ee.tools.run import RunRequest, RunResult, run_program
from lassi_ee.tools.sandbox import inherited


class MeasurementFailed(LassiError):
    """The program failed during a measured run (it passed its first run)."""

    def __init__(self, message: str, label: str = "") -> None:
        """A failed measured run; ``label`` names which version, when two take turns."""
        super().__init__(message)
        self.label = label


class ProfileOutcome(BaseModel):
    """Build, first run and measurement of one program; ``failure`` says what stopped it."""

    compile: CompileResult
    run: RunResult | None = None
    profile: EnergyProfile | None = None
    failure: str | None = Field(None, description="one line; None when everything worked")


def measurement_config(settings: Settings) -> MeasurementConfig:
    """The measurement procedure's knobs, as the settings hold them."""
    return MeasurementConfig.model_validate(settings, from_attributes=True)


def decision_rule(settings: Settings) -> DecisionRule:
    """How a trial with these settings confirms a gain (see ``DecisionRule.for_trial``)."""
    return DecisionRule.for_trial(
        max_iterations=settings.max_iterations,
        false_claim_rate=settings.false_claim_rate,
        min_gain=settings.min_energy_gain,
        pairs_per_look=settings.confirm_pairs,
        max_pairs=settings.confirm_max_pairs,
    )


def run_request(app: App, device: Device, binary: Path, settings: Settings) -> RunRequest:
    """The sandboxed run of a built app with its manifest's arguments, data and environment."""
    return RunRequest(
        binary=binary,
        args=app.manifest.args,
        data_files=[app.root / name for name in app.manifest.data_files],
        device=device,
        timeout_s=settings.run_timeout_s,
        env=inherited(app.manifest.env),
    )


def self_check_failure(app: App, run: RunResult) -> str | None:
    """Why a run that exited 0 still failed: its own FAIL marker, or no PASS marker."""
    manifest = app.manifest
    if manifest.fail_regex and re.search(manifest.fail_regex, run.stdout):
        return f"the program printed its failure marker /{manifest.fail_regex}/"
    if manifest.pass_regex and not re.search(manifest.pass_regex, run.stdout):
        return f"the program did not print its success marker /{manifest.pass_regex}/"
    return None


def batch_runner(
    app: App, device: Device, binary: Path, settings: Settings, label: str = ""
) -> RunBatch:
    """Runs of a built program back to back in one sandbox.

    A failing run raises MeasurementFailed, naming ``label`` (which version) when given.
    """
    request = run_request(app, device, binary, settings)
    which = f"{app.name} {label}".rstrip()

    def run_batch(runs: int) -> list[float]:
        result = run_program(request.model_copy(update={"repeat": runs}), settings)
        result.discard()
        if not result.ok:
            raise MeasurementFailed(f"a measured run of {which} failed: {result.failure()}", label)
        return result.run_s

    return run_batch


def measure_binary(
    app: App, device: Device, binary: Path, settings: Settings, timeline_path: Path | None
) -> EnergyProfile:
    """Measure repeated runs of a built program; a failing run raises MeasurementFailed.

    The profile names the board it was measured on, so that figures of two boards are
    never compared as one's.
    """
    backend = backend_for(device)
    try:
        runs = batch_runner(app, device, binary, settings)
        profile = measure(backend, runs, measurement_config(settings), timeline_path)
    finally:
        backend.close()
    return profile.model_copy(update={"board": device.board})


def confirm_binaries(
    app: App,
    device: Device,
    binaries: tuple[Path, Path],
    labels: tuple[str, str],
    rule: DecisionRule,
    settings: Settings,
    timeline_path: Path | None,
) -> Confirmation:
    """Measure a baseline and a candidate binary interleaved in one session and decide."""
    baseline, candidate = (
        batch_runner(app, device, binary, settings, label)
        for binary, label in zip(binaries, labels, strict=True)
    )
    backend = backend_for(device)
    try:
        config = measurement_config(settings)
        return confirm(backend, baseline, candidate, rule, config, timeline_path, labels=labels)
    finally:
        backend.close()


def profile_app(
    app: App,
    device: Device,
    settings: Settings,
    build_dir: Path,
    timeline_path: Path | None = None,
    code: str | None = None,
) -> ProfileOutcome:
    """Build, run once (outputs kept for checks), then measure."""
    built = compile_app(
        CompileRequest(app=app, device=device, build_dir=build_dir, code=code), settings
    )
    if not built.ok or built.binary is None:
        return ProfileOutcome(compile=built, failure=f"{app.name} does not build")
    first = run_program(run_request(app, device, built.binary, settings), settings)
    failure = first.failure() or self_check_failure(app, first)
    if failure:
        return ProfileOutcome(compile=built, run=first, failure=f"{app.name}: {failure}")
    profile = measure_binary(app, device, built.binary, settings, timeline_path)
    return ProfileOutcome(compile=built, run=first, profile=profile)
