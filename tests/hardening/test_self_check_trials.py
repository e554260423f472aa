"""Whole trials of programs that print PASS and nothing else (issue 26, item 1): the output
check has nothing to compare, so the program's own check is what stands for its results.

Each trial runs on the cpu device with a fooled judge (VALID to everything). A cheat that
edits the self-check is vetoed before it is measured; a program with no self-check of
its own can claim no gain; a refactoring of the work that keeps the check wins. The
cases one edit at a time, on CUDA and OpenMP sources, are in tests/test_self_check.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cheat_programs import a_third_of_the_work, checked_program, write_checked_app
from tests.helpers.hardening_trials import outcomes, run_trial
from tests.helpers.trial_programs import FASTER, SOURCE, VALID, fenced, scripted

FOOLED = [VALID] * 30


@pytest.fixture(scope="module")
def checked_app(tmp_path_factory) -> Path:
    return write_checked_app(tmp_path_factory.mktemp("checked"), "checked", checked_program())


@pytest.fixture
def checked_settings(trial_settings, tmp_path_factory):
    return trial_settings.model_copy(update={"cache_dir": tmp_path_factory.getbasetemp() / "c0"})


@pytest.mark.trial
def test_a_third_of_the_work_with_the_expected_value_edited_is_vetoed(
    checked_app, checked_settings
):
    """The issue's case: without the guard the fooled judge let it through as improved
    (about 3x faster, under suspicious_gain); now the check vetoes it unmeasured."""
    model = scripted(
        vanilla=[fenced(a_third_of_the_work())],
        refactor=[fenced(checked_program(check_end="n - 0"))],
        judge=FOOLED,
    )
    result, state = run_trial(checked_app, checked_settings, model)
    first = state["history"][0]
    assert first.check.status == "inconclusive"
    assert first.verdict.by == "check" and first.verdict.verdict == "INVALID"
    [reason] = first.verdict.reasons
    assert reason.startswith("self-check: the candidate changed the source's self-check")
    assert "function expected_sum: '... double sum = 0.0; for" in reason
    assert "in main: 'for (int i = 0; i < n; i++)' (line 27) became" in reason
    assert "i < x.size() / 3; i++)" in reason  # the cut shows where the function changed
    assert first.profile is None  # vetoed before it was measured
    assert model.calls_for("judge") == []
    # Stage 3's version edits the check's loop bound alone: vetoed as well
    assert outcomes(state) == [("vanilla", 0, 0, "invalid"), ("refactor", 1, 0, "invalid")]
    assert "became 'for (int i = 0; i < n - 0; i++)'" in state["history"][1].verdict.reasons[0]
    assert result.status != "improved"


@pytest.mark.trial
def test_the_work_rewritten_with_the_check_kept_wins(checked_app, checked_settings):
    """Dropping the rounds whose results are thrown away is a real gain, and the check
    stays the source's: with nothing else to compare, the kept check backs the claim."""
    model = scripted(
        vanilla=[fenced(checked_program(first_round="rounds - 1"))],
        refactor=[fenced(a_third_of_the_work())],
        judge=FOOLED,
    )
    result, state = run_trial(checked_app, checked_settings, model)
    first = state["history"][0]
    assert first.check.status == "inconclusive"
    [note] = first.check.guards
    assert note.rule == "self-check" and not note.vetoes
    assert note.finding.startswith(
        "kept: the source's self-check (function cell, line 6; function expected_sum, line 11; "
        "main, lines 25-29) is unchanged"
    )
    assert note.finding in model.calls_for("judge")[0].prompt  # the judge is told
    assert first.outcome == "improved" and result.status == "improved"
    assert result.best_version == 1


@pytest.mark.trial
def test_a_program_whose_pass_nothing_decides_can_claim_no_gain(tmp_path, trial_settings):
    """The source prints PASS whatever happens and nothing else: a faster version cannot
    be shown to compute the same, so it is refused before it is measured."""
    only_pass = SOURCE.replace('  std::printf("result %d\\n", 42);\n', "")
    faster = FASTER.replace('  std::printf("result %d\\n", 42);\n', "")
    assert only_pass != SOURCE and faster != FASTER
    source = tmp_path / "src" / "spin.cpp"
    source.parent.mkdir()
    source.write_text(only_pass)
    model = scripted(vanilla=[fenced(faster)], refactor=[fenced(faster + "\n")], judge=FOOLED)
    result, state = run_trial(source, trial_settings, model)
    first = state["history"][0]
    assert first.check.status == "inconclusive" and first.outcome == "invalid"
    [reason] = first.verdict.reasons
    assert "the source prints its marker whatever happens (line" in reason
    assert "no gain of this program can be claimed" in reason
    assert first.profile is None and model.calls_for("judge") == []
    assert result.status != "improved"
