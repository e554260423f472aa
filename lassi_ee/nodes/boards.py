"""Trials that change boards: the screen compares figures of one board only.

A cut-off trial may resume on another GPU of the same model (a Ray retry on another
node, or ``lassi-ee resume`` on another machine: api.resume_graph re-pins its device), or
on another host's CPU.
Two boards of one model differ by more than the gains a trial looks for, so a candidate
measured on the new board must not be screened against the source's or the best's
figure from the old one: a gain smaller than the difference would be missed, or one
seen that is not there (claims would still be safe, since a confirmation measures both
versions on one board, but the screen decides what is confirmed).

Every profile names its board (``EnergyProfile.board``). Before a candidate is measured,
the source and then the best version are re-measured on the trial's board wherever their
figures name another: one measurement per step of ``measure_candidate``, so that a trial
killed in between repeats nothing that finished, and the routes (graph/routes.py) come
back to the step until none is left. Each re-measurement is recorded in
``board_moves``, which the trial's result and reports show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime

from lassi_ee.energy.base import EnergyProfile, SensorError, objective_unit
from lassi_ee.errors import LassiError
from lassi_ee.nodes import evaluate
from lassi_ee.nodes.common import TrialContext, archive_dir, context_of
from lassi_ee.nodes.confirm import source_binary
from lassi_ee.settings import Settings
from lassi_ee.state import TrialState
from lassi_ee.tools.profile import measure_binary

Baseline = Literal["source", "best"]


def from_another_board(state: TrialState) -> list[Baseline]:
    """The versions a candidate is screened against whose figures name another board.

    The source first, then the best version (when one has beaten the source); a pure
    function of the state, for the routes.
    """
    device = state.get("device_info")
    if device is None or "reference" not in state:
        return []
    stale: list[Baseline] = []
    if state["reference"].profile.board != device.board:
        stale.append("source")
    best = state.get("best")
    if best is not None and best.profile is not None and best.profile.board != device.board:
        stale.append("best")
    return stale


def _figure(profile: EnergyProfile) -> str:
    unit = objective_unit(profile.objective)
    return f"{profile.objective_stats.mean:.4g} {unit} per run"


def _remeasure(state: TrialState, settings: Settings, which: Baseline) -> dict[str, Any]:
    """Measure the source or the best version on the trial's board: one measurement."""
    device = state["device_info"]
    moves = len(state.get("board_moves", [])) + 1
    timeline = archive_dir(settings) / "board-moves" / f"{moves:02d}-{which}-timeline.json"
    timeline.parent.mkdir(parents=True, exist_ok=True)
    best = state.get("best")
    if which == "best":
        assert best is not None and best.profile is not None
        label, old = f"v{best.version}", best.profile
    else:
        label, old = "the source", state["reference"].profile
    try:
        profile = _measured(state, settings, which, timeline)
    except LassiError as error:
        return {
            "stop_reason": f"the trial moved to board {device.board}, where {label} could not "
            f"be re-measured ({error}): nothing can be screened there",
        }
    note = (
        f"moved to board {device.board} (from {old.board or 'an unrecorded board'}): "
        f"re-measured {label} there before screening against it: {_figure(profile)} "
        f"(was {_figure(old)})"
    )
    if which == "best":
        assert best is not None
        return {"best": best.model_copy(update={"profile": profile}), "board_moves": [note]}
    reference = state["reference"].model_copy(update={"profile": profile})
    return {"reference": reference, "board_moves": [note]}


def _measured(
    state: TrialState, settings: Settings, which: Baseline, timeline: Path
) -> EnergyProfile:
    """The version's profile on the trial's board; LassiError when it cannot be made."""
    best = state.get("best")
    binary = (
        evaluate.binary_of(state, settings, best)
        if which == "best" and best is not None
        else source_binary(state, settings)
    )
    errors = []
    for _ in range(evaluate.SENSOR_ATTEMPTS):  # a sensor error is the sensor's: again
        try:
            return measure_binary(state["app"], state["device_info"], binary, settings, timeline)
        except SensorError as error:
            errors.append(str(error))
    raise LassiError(f"the sensor failed {len(errors)} times: {'; '.join(errors)}")


def measure_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """The screen on the trial's board: first what it is screened against, then the candidate.

    While the source's or the best's figures name another board, this step re-measures
    one of them here (the source first); otherwise it measures the candidate and screens
    it (nodes/evaluate.py).
    """
    stale = from_another_board(state)
    if stale:
        return _remeasure(state, context_of(runtime).settings, stale[0])
    return evaluate.measure_candidate(state, runtime)
