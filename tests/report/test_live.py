"""Live progress, fed the steps a real trial reported (see conftest.py)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from lassi_ee.cli import main
from lassi_ee.report.live import ProgressView, TrialProgress
from lassi_ee.report.steps import step_words
from lassi_ee.state import Candidate


def text_of(view: ProgressView) -> str:
    console = Console(file=io.StringIO(), record=True, width=200)
    console.print(view.render())
    return console.export_text()


@pytest.mark.trial
def test_progress_follows_the_trial(finished_trial):
    progress = TrialProgress(thread_id="t")
    for node, update in finished_trial.updates:
        progress.apply(node, update)
    result = finished_trial.result
    assert progress.stage == "4: compare and archive"
    assert progress.iteration == result.iterations
    assert progress.self_corrections == result.self_corrections == 2
    assert progress.versions == result.versions
    assert progress.best_version == result.best_version
    assert progress.temperature is not None and progress.temperature > 0.8  # escalated, then stop
    assert progress.unit == ("J" if result.objective == "energy" else "s")
    assert (
        f"v{result.best_version}: " in progress.best_text() and "vs source" in progress.best_text()
    )


@pytest.mark.trial
def test_steps_in_a_few_words(finished_trial):
    steps = [step_words(node, update).brief for node, update in finished_trial.updates]
    assert steps[:3] == ["profile source", "wrote v1", "v1 compile ok"]
    for expected in (
        "v2 compile FAILED",
        "wrote v3, a fix of v2",
        "v4 run ok, vetoed by the output check",
        "v5 run FAILED",
        "wrote v6, a fix of v5",
    ):
        assert expected in steps
    assert any(step.endswith(": not_lower") for step in steps)


def test_a_fix_that_was_not_made_is_told_without_a_history():
    """A fix whose reply is an earlier version again (or has no program) returns the
    failed candidate alone: no new version, nothing added to the history."""
    note = "the correction is the same program as v2: not built again"
    failed = Candidate(version=3, stage="refactor", code="x", outcome="compile_failed", note=note)
    words = step_words("fix_compile", {"candidate": failed})
    assert words.brief == "v3 not fixed"
    assert words.line == f"fix_compile: {note}"


@pytest.mark.trial
def test_plain_lines_when_output_is_not_a_terminal(finished_trial):
    thread_id = finished_trial.result.thread_id
    out = io.StringIO()
    view = ProgressView(Console(file=out, width=80))
    with view:
        view.trial_started(thread_id, "heat2d-omp on cpu")
        for node, update in finished_trial.updates:
            view.on_update(node, update)
        view.trial_finished(finished_trial.result)
    lines = out.getvalue().splitlines()
    assert "\x1b[" not in out.getvalue()  # no terminal control codes in a log
    assert lines[0] == f"trial {thread_id} started: heat2d-omp on cpu"
    assert lines[1].startswith("stage 0: source runtime") or lines[1].startswith(
        "stage 0: source net"
    )
    assert any(
        line.startswith("  run ok; check: on check_args[0] (64 40): outputs differ")
        for line in lines
    )
    assert any(line.startswith("fix_compile: wrote v") for line in lines)
    assert any(line.startswith("fix_runtime: wrote v") for line in lines)
    assert any("stopping: temperature" in line for line in lines)
    assert all(len(line) > 80 for line in lines if "measured:" in line)  # long lines not wrapped
    stage4 = next(i for i, line in enumerate(lines) if line.startswith("stage 4: "))
    assert re.match(r"  measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on .*; 5 pairs", lines[stage4 + 1])
    assert lines[-1].startswith(f"trial {thread_id} {finished_trial.result.status}")


@pytest.mark.trial
def test_live_panel_on_a_terminal(finished_trial):
    thread_id = finished_trial.result.thread_id
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=True, width=160))
    panels = []  # (temperature, panel) once Stage 3 escalated with a best so far
    progress = TrialProgress(thread_id=thread_id)
    with view:
        on_update = view.trial_started(thread_id, "heat2d-omp on cpu")
        for node, update in finished_trial.updates:
            on_update(node, update)
            progress.apply(node, update)
            escalated = node == "assess" and update.get("temperature", 0.2) > 0.2
            if escalated and progress.best_version is not None:
                panels.append((update["temperature"], text_of(view)))
        view.trial_finished(finished_trial.result)
    # which version the busy machine confirms first is its call; the panel is drawn alike
    temperature, panel = panels[0]
    assert "trials: 0 done, 1 left of 1" in panel
    for column in ("stage", "iteration", "temperature", "self-corrections", "best so far"):
        assert column in panel
    row = next(line for line in panel.splitlines() if "heat2d-omp on cpu" in line)
    assert "3: refactor, check, measure" in row and f"{temperature:.1f}" in row
    assert "vs source" in row
    assert "\x1b[" in out.getvalue()  # drawn live
    assert "check: on check_args[0] (64 40)" in out.getvalue()  # step lines still scroll above
    final = text_of(view)
    assert "trials: 1 done, 0 left of 1" in final
    assert f"finished: trial {thread_id} {finished_trial.result.status}" in final
    assert "self-corrections" not in final  # no table once nothing runs


@pytest.mark.trial
def test_a_campaign_sees_trials_side_by_side(finished_trial):
    out = io.StringIO()
    view = ProgressView(Console(file=out, width=200), total_trials=3)
    updates = finished_trial.updates
    with view:
        first = view.trial_started("a-1", "heat2d on cuda:0")
        second = view.trial_started("b-2", "heat2d on cuda:1")
        for node, update in updates[:5]:
            first(node, update)
            second(node, update)
        both = text_of(view)
        for node, update in updates[5:]:
            first(node, update)
        view.trial_finished(finished_trial.result.model_copy(update={"thread_id": "a-1"}))
        after = text_of(view)
    assert "heat2d on cuda:0" in both and "heat2d on cuda:1" in both
    assert "trials: 0 done, 3 left of 3" in both
    assert "trials: 1 done, 2 left of 3" in after and "heat2d on cuda:0" not in after
    assert "heat2d on cuda:1" in after and "finished: trial a-1" in after
    log = out.getvalue()
    assert "trial b-2 started (1/3): heat2d on cuda:1" in log
    assert "[a-1] stage 0:" in log and "[b-2] stage 0:" in log
    assert "(1 done, 2 left)" in log


@pytest.mark.trial
def test_resume_of_a_finished_trial_shows_its_figures(finished_trial, capsys):
    settings = finished_trial.settings
    code = main(
        ["--checkpoints", settings.checkpoint_url, "resume", finished_trial.result.thread_id]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "started" not in out  # a finished trial is only read: nothing starts
    assert f"trial {finished_trial.result.thread_id}: {finished_trial.result.status}" in out


def test_the_panel_says_which_sibling_of_a_step_is_evaluated():
    """A step of several candidates: the iteration column names the sibling in flight."""
    first = Candidate(version=5, stage="refactor", iteration=2, code="x", sibling=1,
                      step_candidates=4)  # fmt: skip
    queued = [first.model_copy(update={"version": v, "sibling": v - 4}) for v in (6, 7, 8)]
    view = ProgressView(Console(file=io.StringIO()), live=False)
    view.trial_started("t", "spin on cpu")
    view.on_update("refactor", {"candidate": first, "queued_siblings": queued, "iteration": 2})
    assert "2 (sibling 1 of 4)" in text_of(view)
    assert step_words("refactor", {"candidate": first, "queued_siblings": queued}).brief == (
        "wrote v5-v8"
    )
    update = {"candidate": queued[0], "queued_siblings": queued[1:], "screened_siblings": [first]}
    view.on_update("next_sibling", update)
    assert "2 (sibling 2 of 4)" in text_of(view)
    line = step_words("next_sibling", update).line
    assert line == (
        "next sibling: v6 (iteration 2, sibling 2 of 4, attempt 0); 1 screened lower, waiting "
        "for the pick"
    )
