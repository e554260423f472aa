"""``lassi-ee calibrate``: the noise floor of one program on one device.

The same binary is measured as A and as B, interleaved exactly as a
confirmation measures best and candidate (energy/paired.py). Their true ratio
is 1, so the pairs show how much two windows of one program differ on this
device: the paired spread, and from it the smallest gain a confirmation could
claim. A user runs it before a campaign to see whether the gains they hope for
can be told from noise; each run is appended to ``settings.calibration_log``,
from which campaign reports quote it per app and device.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.apps import load_app
from lassi_ee.energy.decide import (
    REPORTED_CONFIDENCE,
    DecisionRule,
    minimum_detectable_gain,
)
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.settings import Settings
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.profile import (
    confirm_binaries,
    decision_rule,
    run_request,
    self_check_failure,
)
from lassi_ee.tools.run import run_program


class Calibration(BaseModel):
    """One program's noise floor on one device, as measured on ``measured_unix``."""

    app: str
    source_hash: str
    device: str
    device_name: str
    objective: str
    pairs: int
    spread: float = Field(description="sample stdev of the per-pair log-ratios of A and B")
    ratio: float = Field(description="B / A; 1 apart from noise")
    ratio_ci95: tuple[float, float]
    minimum_detectable_gain: float = Field(
        description="at 95 % one-sided confidence with these pairs, min_energy_gain included"
    )
    trial_detectable_gain: float = Field(
        description="the same for a trial's confirmation: confirm_max_pairs pairs at its "
        "corrected per-look level"
    )
    trial_confidence: float
    trial_max_pairs: int
    min_gain: float
    measured_unix: float = Field(default_factory=time.time)
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        """What the command prints; the last line's form is fixed (scripts read it)."""
        unit = "energy per run" if self.objective == "energy" else "runtime per run"
        low, high = self.ratio_ci95
        return [
            f"{self.app} on {self.device} ({self.device_name}): the same binary as A and B, "
            f"{self.pairs} interleaved pairs of {unit}, {self.wall_s:.0f} s",
            f"B/A = {self.ratio:.4f} (95 % CI {low:.4f}-{high:.4f}; 1 is no difference)",
            f"paired spread: {100 * self.spread:.2f} % per pair (stdev of ln(B/A))",
            f"a trial's confirmation (up to {self.trial_max_pairs} pairs, "
            f"{100 * self.trial_confidence:.3f} % per look) confirms gains above "
            f"{100 * self.trial_detectable_gain:.1f} %",
            f"minimum detectable gain: {100 * self.minimum_detectable_gain:.1f} % at 95 % "
            "confidence",
        ]


def calibrate(
    source: str | Path,
    device_spec: str,
    pairs: int,
    settings: Settings,
    args: list[str] | None = None,
) -> Calibration:
    """Measure a program against itself, interleaved; LassiError says why it cannot."""
    if pairs < 2:
        raise UsageError(f"--pairs must be at least 2 (got {pairs}): a spread needs two pairs")
    app = load_app(source, args)
    device = resolve_device(device_spec)
    with tempfile.TemporaryDirectory(prefix="lassi-calibrate-") as scratch:
        built = compile_app(
            CompileRequest(app=app, device=device, build_dir=Path(scratch) / "build"), settings
        )
        if not built.ok or built.binary is None:
            first = next((line for line in built.diagnostics.splitlines() if line.strip()), "")
            raise LassiError(f"{app.name} does not build: {first}")
        first_run = run_program(run_request(app, device, built.binary, settings), settings)
        first_run.discard()
        failure = first_run.failure() or self_check_failure(app, first_run)
        if failure:
            raise LassiError(f"{app.name} cannot be calibrated: {failure}")
        rule = DecisionRule.fixed(pairs, settings.min_energy_gain, REPORTED_CONFIDENCE)
        confirmation = confirm_binaries(
            app, device, (built.binary, built.binary), ("A", "B"), rule, settings,
            Path(scratch) / "timeline.json",
        )  # fmt: skip
    decision = confirmation.decision
    if decision.spread is None or decision.ratio is None or decision.ratio_ci95 is None:
        raise LassiError(f"{app.name} cannot be calibrated: {decision.reason}")
    trial_rule = decision_rule(settings)
    return Calibration(
        app=app.name,
        source_hash=app.source_hash(),
        device=device.spec,
        device_name=device.name,
        objective=confirmation.measurement.objective,
        pairs=decision.pairs,
        spread=decision.spread,
        ratio=decision.ratio,
        ratio_ci95=decision.ratio_ci95,
        minimum_detectable_gain=minimum_detectable_gain(
            decision.spread, decision.pairs, settings.min_energy_gain, REPORTED_CONFIDENCE
        ),
        trial_detectable_gain=minimum_detectable_gain(
            decision.spread, trial_rule.max_pairs, settings.min_energy_gain, trial_rule.confidence
        ),
        trial_confidence=trial_rule.confidence,
        trial_max_pairs=trial_rule.max_pairs,
        min_gain=settings.min_energy_gain,
        wall_s=confirmation.measurement.wall_s,
    )


def record_calibration(calibration: Calibration, log: Path) -> None:
    """Append one calibration to the log (one JSON object per line)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle:
        handle.write(calibration.model_dump_json() + "\n")


def latest_calibrations(log: Path) -> dict[tuple[str, str], Calibration]:
    """The newest calibration per (app, device) in the log; unreadable lines are skipped."""
    latest: dict[tuple[str, str], Calibration] = {}
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return latest
    for line in lines:
        try:
            calibration = Calibration.model_validate(json.loads(line))
        except ValueError:
            continue
        key = (calibration.app, calibration.device)
        if key not in latest or latest[key].measured_unix <= calibration.measured_unix:
            latest[key] = calibration
    return latest
