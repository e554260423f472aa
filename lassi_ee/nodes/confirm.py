"""Confirmations: the interleaved re-measurements a claim rests on.

``confirm_candidate`` (Stages 1 and 3) measures the current best (the source
while nothing has beaten it) and a candidate that the screen found lower, their
windows interleaved in one settled session, and records the paired decision;
only a claimed gain makes the candidate the new best. ``confirm_final``
(Stage 4) re-measures the final best against the source once more, in a fresh
session: that paired estimate, with its 95 % interval, is the trial's reported
reduction. The source is always re-measured here, never taken from the Stage-0
cache (energy/decide.py says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.energy.base import SensorError
from lassi_ee.energy.decide import Decision, DecisionRule
from lassi_ee.energy.paired import Confirmation
from lassi_ee.errors import LassiError
from lassi_ee.nodes.common import TrialContext, context_of, version_dir, work_dir
from lassi_ee.nodes.evaluate import SENSOR_ATTEMPTS, binary_of
from lassi_ee.settings import Settings
from lassi_ee.state import Candidate, FinalCheck, TrialState
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.profile import MeasurementFailed, confirm_binaries

SOURCE_LABEL = "source"


def source_binary(state: TrialState, settings: Settings) -> Path:
    """The source's binary, built again for the confirmation.

    Stage 0 may have taken its figures from the cache, or the scratch space may be gone.
    """
    build_dir = work_dir(settings) / "source"
    result = compile_app(
        CompileRequest(app=state["app"], device=state["device_info"], build_dir=build_dir),
        settings,
    )
    if result.binary is None:
        raise LassiError(f"the source no longer builds: {result.diagnostics[:500]}")
    return result.binary


def _baseline(state: TrialState, settings: Settings) -> tuple[Path, str]:
    best = state.get("best")
    if best is None:
        return source_binary(state, settings), SOURCE_LABEL
    return binary_of(state, settings, best), f"v{best.version}"


def _measure(
    state: TrialState,
    settings: Settings,
    baseline: tuple[Path, str],
    candidate: Candidate,
    rule: DecisionRule,
    timeline: Path,
) -> Confirmation:
    """Both versions interleaved; LassiError (a failed run, a stuck sensor) says why not."""
    binaries = (baseline[0], binary_of(state, settings, candidate))
    labels = (baseline[1], f"v{candidate.version}")
    errors = []
    for _ in range(SENSOR_ATTEMPTS):  # a sensor error is the sensor's, not the programs'
        try:
            return confirm_binaries(
                state["app"], state["device_info"], binaries, labels, rule, settings, timeline
            )
        except SensorError as error:
            errors.append(str(error))
    raise LassiError(f"the sensor failed {len(errors)} times: {'; '.join(errors)}")


def _not_confirmed(candidate: Candidate, error: LassiError) -> dict[str, Any]:
    """No confirmation could be made, so there is no claim: the candidate stays not lower."""
    return {"candidate": candidate.model_copy(update={"note": f"not confirmed: {error}"})}


def confirm_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Best and candidate interleaved; the paired decision says whether it beat the best."""
    settings = context_of(runtime).settings
    candidate = state["candidate"]
    assert candidate is not None, "confirm_candidate ran with no candidate in flight"
    timeline = version_dir(settings, candidate) / "confirmation-timeline.json"
    try:
        baseline = _baseline(state, settings)
        confirmation = _measure(
            state, settings, baseline, candidate, state["decision_rule"], timeline
        )
    except MeasurementFailed as error:
        if error.label != f"v{candidate.version}":
            return _not_confirmed(candidate, error)
        assert candidate.run is not None  # it failed where it had passed: a run failure
        failed_run = candidate.run.model_copy(update={"ok": False, "failure": str(error)})
        return {"candidate": candidate.model_copy(update={"run": failed_run})}
    except LassiError as error:
        return _not_confirmed(candidate, error)
    return {"candidate": candidate.model_copy(update={"confirmation": confirmation})}


def confirm_final(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """The best version against the source, once more: the trial's reported reduction."""
    settings = context_of(runtime).settings
    best = state["best"]
    assert best is not None, "confirm_final ran with no best version"
    timeline = version_dir(settings, best) / "final-timeline.json"
    try:
        source = (source_binary(state, settings), SOURCE_LABEL)
        confirmation = _measure(state, settings, source, best, state["final_rule"], timeline)
    except LassiError as error:
        note = f"the final re-measurement against the source failed ({error}): no gain is claimed"
        return {"final_check": FinalCheck(confirmed=False, note=note)}
    decision = confirmation.decision
    confirmed = decision.interval_excludes_no_change
    note = "" if confirmed else unconfirmed_note(best, decision)
    return {"final_check": FinalCheck(confirmation=confirmation, confirmed=confirmed, note=note)}


def unconfirmed_note(best: Candidate, decision: Decision) -> str:
    """Why Stage 4 did not confirm the best version: its interval reaches 0, or shows a loss."""
    stage = 1 if best.stage == "vanilla" else 3
    interval = decision.reduction_ci95
    if interval is None:
        finding = "gives no interval of the reduction"
    else:
        low, high = (100 * end for end in interval)
        shown = f"its 95 % interval of the reduction ({low:.1f} % to {high:.1f} %)"
        if high < 0.0:
            finding = f"finds it uses more than the source: {shown} lies below 0"
        else:
            finding = f"does not confirm a gain: {shown} reaches 0"
    return (
        f"v{best.version} was confirmed lower in Stage {stage}, but the final re-measurement "
        f"against the source ({decision.pairs} interleaved pairs) {finding}. {decision.reason}"
    )
