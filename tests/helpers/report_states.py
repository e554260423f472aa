"""Trial states for report tests: the finished demo trial's, and the same trial as a GPU
with an energy counter would have measured it (a replayed H100-like board)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.measure import MeasurementConfig, measure, one_at_a_time
from lassi_ee.energy.replay import ReplayBoard, synthetic_trace
from lassi_ee.tools.profile import measurement_config
from lassi_ee.trials import read_trial


def trial_state(finished_trial) -> dict[str, Any]:
    return dict(read_trial(finished_trial.result.thread_id, finished_trial.settings).state)


def replayed_profile(runtime_s: float, busy_w: float, timeline: Path, config: MeasurementConfig):
    """An energy profile as the measurement procedure gives it for a replayed H100-like board."""
    clock = FakeClock()
    board = ReplayBoard(synthetic_trace(busy_w=busy_w), clock)
    return measure(board, one_at_a_time(board.program(runtime_s)), config, timeline, clock=clock)


def with_energy(state: dict[str, Any], settings, folder: Path) -> dict[str, Any]:
    """The trial as a GPU with an energy counter would have measured it.

    Versions keep the runtimes they had here; the source takes at least twice the best's
    (a busy machine may have slowed the best's real runs), so the best stays lower.
    """
    config = measurement_config(settings).model_copy(update={"min_window_s": 1.0, "repeats": 3})
    reference = state["reference"]
    best_s = state["best"].profile.runtime_s.mean
    source_s = max(0.6, 2 * best_s)
    state["reference"] = reference.model_copy(
        update={"profile": replayed_profile(source_s, 300.0, folder / "source.json", config)}
    )
    history = []
    for candidate in state["history"]:
        if candidate.profile is not None:
            runtime_s = max(candidate.profile.runtime_s.mean, 0.01)
            profile = replayed_profile(
                runtime_s, 250.0, folder / f"v{candidate.version}.json", config
            )
            candidate = candidate.model_copy(update={"profile": profile})
        history.append(candidate)
    state["history"] = history
    state["best"] = next(c for c in history if c.version == state["best"].version)
    state["objective"] = "energy"
    return state
