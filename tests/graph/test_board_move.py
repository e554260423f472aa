"""A trial resumed on another board of its device's model (issue 26, item 2).

Every profile names the board it was measured on. A trial cut off and resumed where its
device is another board (``resume_graph`` resolves it again, as does a Ray retry on
another node through campaign/runner.py) re-measures the source and its best version
there, one per step, before it screens a candidate against them; its result and report
say that it moved. On the cpu device the board is the host: the move here is to a host of
another name (this machine's device resolved under that name), the measurements real.
"""

from __future__ import annotations

from typing import Any

import pytest

from lassi_ee import api
from lassi_ee.api import resume_graph
from lassi_ee.devices import Device, cpu_device
from lassi_ee.energy.decide import screen_lower
from lassi_ee.errors import LassiError
from lassi_ee.graph import routes
from lassi_ee.nodes import boards
from lassi_ee.nodes.common import TrialContext
from lassi_ee.report.console import print_result
from lassi_ee.state import Candidate, RunSummary
from lassi_ee.trials import open_trials, read_trial
from tests.helpers.trial_programs import FASTER, VALID, fenced, scripted, variant

ELSEWHERE = "host elsewhere"


def model():
    """v1 wins (confirmed against the source); v2, as fast as v1, is not lower."""
    return scripted(
        vanilla=[fenced(FASTER)], refactor=[fenced(variant(FASTER, 1))], judge=[VALID] * 10
    )


def resumed_elsewhere(monkeypatch: pytest.MonkeyPatch, here: Device) -> None:
    """From now on this machine's device resolves to another board of the same model."""
    monkeypatch.setattr(
        api, "resolve_device", lambda spec: here.model_copy(update={"board": ELSEWHERE})
    )


@pytest.mark.trial
@pytest.mark.parametrize(
    "cut_after",
    [["assess"], ["assess", "run_candidate"]],
    ids=["after-vanilla", "before-v2-is-measured"],
)
def test_a_trial_moved_to_another_board_re_measures_the_source_and_the_best_before_its_screen(
    source_file, trial_settings, cut_after, capsys, monkeypatch
):
    settings = trial_settings.model_copy(update={"max_iterations": 1})
    config: Any = {"configurable": {"thread_id": "moved"}}
    with open_trials(settings) as trials:
        graph = trials.graph
        context = TrialContext(settings=settings, models=model())
        graph_input: Any = {"source": str(source_file), "device": "cpu"}
        for node in cut_after:  # cut off where a Ray worker could have died
            graph.invoke(graph_input, config, context=context, interrupt_after=[node])
            graph_input = None
        before = graph.get_state(config).values
        assert before["best"].version == 1
        here = before["device_info"]
        assert here.board == cpu_device().board and here.board.startswith("host ")
        assert before["reference"].profile.board == before["best"].profile.board == here.board
    resumed_elsewhere(monkeypatch, here)

    steps: list[tuple[str, dict[str, Any]]] = []
    result = resume_graph(
        "moved",
        settings=settings,
        models=model(),
        on_update=lambda node, update: steps.append((node, update)),
    )
    measured = [update for node, update in steps if node == "measure_candidate"]
    # one measurement per step: the source, then the best, then the candidate, all there
    source_step, best_step, candidate_step = measured
    assert source_step["reference"].profile.board == ELSEWHERE
    assert best_step["best"].version == 1 and best_step["best"].profile.board == ELSEWHERE
    [source_move] = source_step["board_moves"]
    [best_move] = best_step["board_moves"]
    assert source_move.startswith(
        f"moved to board {ELSEWHERE} (from {here.board}): re-measured the source there"
    )
    assert best_move.startswith(
        f"moved to board {ELSEWHERE} (from {here.board}): re-measured v1 there"
    )
    v2 = candidate_step["candidate"]
    assert v2.version == 2 and v2.profile.board == ELSEWHERE
    # the screen compared v2 with v1's figure from the board v2 was measured on
    assert v2.screened_lower == screen_lower(
        best_step["best"].profile, v2.profile, settings.min_energy_gain, settings.noise_sigmas
    )
    # what Stage 4 and the result rest on are the new board's figures
    assert result.status == "improved" and result.best_version == 1
    assert result.board_moves == [source_move, best_move]
    print_result(result)
    shown = " ".join(capsys.readouterr().out.split())
    assert f"moved to board {ELSEWHERE} (from {here.board}):" in shown


@pytest.mark.trial
def test_a_baseline_that_cannot_be_re_measured_on_the_new_board_stops_the_trial(
    source_file, trial_settings, monkeypatch
):
    """Nothing can be screened where the source cannot be measured: the trial stops, the
    candidate in flight unmeasured, and Stage 4 decides on that board as always."""
    settings = trial_settings.model_copy(update={"max_iterations": 1})
    config: Any = {"configurable": {"thread_id": "stuck"}}
    with open_trials(settings) as trials:
        context = TrialContext(settings=settings, models=model())
        graph_input = {"source": str(source_file), "device": "cpu"}
        trials.graph.invoke(graph_input, config, context=context, interrupt_after=["assess"])
        here = trials.graph.get_state(config).values["device_info"]
    resumed_elsewhere(monkeypatch, here)

    def broken_sensor(*args: Any, **kwargs: Any) -> None:
        raise LassiError("the device lock timed out")

    monkeypatch.setattr(boards, "measure_binary", broken_sensor)
    result = resume_graph("stuck", settings=settings, models=model())
    assert result.stop_reason == (
        f"the trial moved to board {ELSEWHERE}, where the source could not be re-measured "
        "(the device lock timed out): nothing can be screened there"
    )
    state = read_trial("stuck", settings).state
    v2 = state["history"][-1]
    assert v2.version == 2 and v2.profile is None and v2.outcome == "abandoned"
    assert state.get("board_moves", []) == []


def test_a_figure_of_another_board_is_never_screened_against():
    """The routes come back to the measuring step while the trial has moved and the
    candidate is not yet measured; a failed re-measurement stops the trial."""
    untouched = Candidate(version=2, stage="refactor", code="x", run=RunSummary(ok=True))
    moved = {"candidate": untouched, "board_moves": ["moved to board B (from A): ..."]}
    assert routes.after_measure(moved) == "measure_candidate"
    assert routes.after_measure({**moved, "stop_reason": "could not be re-measured"}) == "assess"
    not_measured = untouched.model_copy(update={"note": "not measured: the lock timed out"})
    assert routes.after_measure({**moved, "candidate": not_measured}) == "assess"
    assert routes.after_measure({"candidate": untouched}) == "assess"  # never moved: no loop
