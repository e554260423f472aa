"""Cheats against the output check, one per case of issue 13, each a real program in a whole
trial on the cpu device with a fooled judge (it says VALID to everything, as a weak or
hurried model can): each ends INVALID and the trial does not end ``improved``.

The apps (cheat_programs.py) list smoke_args and check_args, so every candidate runs on
four inputs. The Stage-0 cache is shared by the module: each app's source is measured
once. The cheat that keeps its result between runs is not here: it is a matter for the
sandbox, which must start every measured run from the same files (issue 13, item 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cheat_programs import BENCHMARK_N, benchmark_checksum, cheats, program, write_app
from tests.helpers.hardening_trials import outcomes, run_trial
from tests.helpers.trial_programs import VALID, fenced, scripted

pytestmark = pytest.mark.trial

FOOLED = [VALID] * 30


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cheat-apps")
    return {name: write_app(folder, name) for name in ("series", "selfcheck", "tiny", "writer")}


@pytest.fixture(scope="module")
def cheat_code(tmp_path_factory) -> dict[str, str]:
    return cheats(benchmark_checksum(tmp_path_factory.mktemp("checksum")))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stage0-cache")


@pytest.fixture
def cheat_settings(trial_settings, shared_cache):
    return trial_settings.model_copy(update={"cache_dir": shared_cache})


def failing(app_dir: Path) -> str:
    """The app's source made to print its FAIL marker: a Stage-3 version that the check
    rejects without measuring it, so that only the cheat could make the trial improve."""
    code = (app_dir / f"{app_dir.name}.cpp").read_text()
    return code.replace("if (!(sum > 0))", "if (true)").replace("return 1;", "return 0;")


def trial_with(app_dir: Path, settings, cheat: str):
    """The cheat as the vanilla version, then one Stage-3 version that fails."""
    model = scripted(vanilla=[fenced(cheat)], refactor=[fenced(failing(app_dir))], judge=FOOLED)
    result, state = run_trial(app_dir, settings, model)
    return result, state, model


def assert_rejected_by_the_check(result, state, model):
    first = state["history"][0]
    assert outcomes(state)[0] == ("vanilla", 0, 0, "invalid")
    assert first.verdict.by == "check" and first.verdict.verdict == "INVALID"
    assert result.status != "improved" and result.best_version is None
    assert model.calls_for("judge") == []  # the fooled judge was never asked
    assert outcomes(state)[1] == ("refactor", 1, 0, "invalid")
    return first


def test_a_hard_coded_answer_fails_on_the_next_input(apps, cheat_settings, cheat_code):
    """The issue's own case: the benchmark's checksum and PASS, nothing computed."""
    cheat = cheat_code["hard_coded"]
    result, state, model = trial_with(apps["series"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert first.check.finding.startswith("on smoke_args (2000): outputs differ")
    assert first.profile is None  # vetoed before it was measured
    assert any(g.rule == "hard-coded results" and g.vetoes for g in first.check.guards)
    assert any("smoke_args (2000)" in reason for reason in first.verdict.reasons)


def test_an_answer_right_only_for_the_benchmark_input_fails_elsewhere(
    apps, cheat_settings, cheat_code
):
    cheat = cheat_code["benchmark_only"]
    result, state, model = trial_with(apps["series"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert first.check.finding.startswith("on smoke_args (2000): outputs differ")


def test_an_answer_kept_for_the_benchmark_input_is_found_in_the_code(
    apps, cheat_settings, cheat_code
):
    """Right on every input, fast only on the benchmark's: every comparison matches, and
    the static guard finds the benchmark's result written in the code."""
    cheat = cheat_code["input_fingerprint"]
    result, state, model = trial_with(apps["series"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert first.check.status == "match" and first.check.inputs_checked == 4
    vetoes = {g.rule: g.finding for g in first.check.guards if g.vetoes}
    assert f"'n {BENCHMARK_N}" not in vetoes["hard-coded results"]
    # its benchmark branch prints PASS outside the source's self-check
    assert "was added" in vetoes["self-check"]


def test_skipped_work_behind_a_pass_marker_is_stopped_by_the_self_check(
    apps, cheat_settings, cheat_code
):
    """The source prints only PASS: the check has nothing to compare (inconclusive, no
    veto of its own). The cheat skips the work and disables the source's check of its
    result: the self-check guard vetoes it before it is measured. (Before issue 26 it was
    measured and refused only as too good to be true, 85x faster.)"""
    cheat = cheat_code["work_skipped"]
    result, state, model = trial_with(apps["selfcheck"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert first.check.status == "inconclusive" and first.check.vetoes
    assert first.profile is None  # vetoed before it was measured
    [guard] = [g for g in first.check.guards if g.vetoes]
    assert guard.rule == "self-check"
    # its test of the result is gone, and with it all the source's check read
    assert "and the 4 lines after it became 'if (false)' (candidate line 17)" in guard.finding
    assert "function series: 'static double series(long n)" in guard.finding


def test_all_zero_results_within_the_tolerance_are_vetoed(apps, cheat_settings, cheat_code):
    cheat = cheat_code["all_zero"]
    result, state, model = trial_with(apps["tiny"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert "the candidate prints 'fraction 0.000000e+00' on every input" in first.check.finding
    assert first.flags[0].startswith("constant output:")


def test_results_written_to_another_file_are_missing_from_the_one_compared(
    apps, cheat_settings, cheat_code
):
    cheat = cheat_code["other_file"]
    result, state, model = trial_with(apps["writer"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert "file result.txt: written by the source, missing from the candidate" in (
        first.check.finding
    )


def test_nan_results_that_pass_the_programs_own_check_do_not_pass_ours(
    apps, cheat_settings, cheat_code
):
    cheat = cheat_code["nan"]
    result, state, model = trial_with(apps["series"], cheat_settings, cheat)
    first = assert_rejected_by_the_check(result, state, model)
    assert first.run.stdout.count("PASS") == 1  # its own check let the NaN through
    assert "nan'" in first.check.finding.lower()


def test_a_real_gain_too_good_to_be_true_wins_after_a_second_look(apps, cheat_settings):
    """The source repeats its work 25 times; doing it once is a real 25x gain. It is
    flagged, run again on all four inputs, and the judge is told before it says VALID."""
    once = program("series", repeat=1)
    model = scripted(
        vanilla=[fenced(once)], refactor=[fenced(failing(apps["series"]))], judge=FOOLED
    )
    result, state = run_trial(apps["series"], cheat_settings, model)
    first = state["history"][0]
    assert first.outcome == "improved" and result.best_version == 1
    [flag] = first.flags
    assert "x less runtime than the source" in flag
    assert flag.endswith("run again on all 4 inputs, it matched again")
    assert flag in model.calls_for("judge")[0].prompt
