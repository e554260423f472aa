"""Whole trials on the cpu device: real compiles, real sandboxed runs, real (time-only)
measurements; only the LLM is scripted, answering by role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lassi_ee.api import TrialResult, resume_graph, run_graph
from lassi_ee.llm.fake import RoleScriptedChatModel
from lassi_ee.report.files import report_trial
from lassi_ee.trials import list_trials, read_trial, show_trial
from tests.helpers.trial_programs import (
    CRASHES,
    DOES_NOT_COMPILE,
    FASTER,
    FASTER_MS,
    FASTEST,
    FASTEST_MS,
    INVALID,
    SAME,
    SOURCE,
    VALID,
    WRONG_RESULT,
    fenced,
    scripted,
    spin_text,
    variants,
)

pytestmark = pytest.mark.trial


def run(source_file, settings, model, thread_id="t1") -> tuple[TrialResult, dict[str, Any]]:
    result = run_graph(source_file, "cpu", thread_id=thread_id, settings=settings, models=model)
    return result, dict(read_trial(thread_id, settings).state)


def outcomes(state: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    return [(c.stage, c.iteration, c.attempt, c.outcome) for c in state["history"]]


def forever(item: Any) -> list[Any]:
    return [item] * 30


def test_vanilla_wins_and_nothing_later_beats_it(source_file, trial_settings):
    model = scripted(
        vanilla=[fenced(FASTER)], refactor=forever(fenced(FASTER)), judge=forever(VALID)
    )
    result, state = run(source_file, trial_settings, model)
    assert result.status == "improved"
    assert state["best"].stage == "vanilla" and result.best_version == 1
    assert result.vanilla_outcome == "improved"
    assert result.reduction is not None and result.reduction > 0.5  # 150 ms -> 40 ms
    # later versions are the vanilla program again: never built or measured, and fruitless,
    # so the temperature climbs
    later = state["history"][1:]
    assert [c.outcome for c in later] == ["unchanged"] * 4
    assert all(c.compile is None and c.profile is None for c in later)
    assert "the same program as v1" in later[0].note
    assert result.stop_reason == "temperature 1.0 exceeded 0.8"
    assert "fewer" in state["docs_summary"].lower()
    assert len(model.calls_for("compare")) == 1
    assert [(c.category, c.optimization) for c in result.categories] == [
        ("ACE", "shorter spin loop")
    ]


def test_vanilla_that_does_not_compile_gets_no_self_correction(source_file, trial_settings):
    model = scripted(
        vanilla=[fenced(DOES_NOT_COMPILE)],
        refactor=forever(fenced(SAME)),
        judge=forever(VALID),
        fix_compile=[],
    )
    result, state = run(source_file, trial_settings, model)
    assert outcomes(state)[0] == ("vanilla", 0, 0, "compile_failed")
    assert model.calls_for("fix_compile") == []
    assert result.vanilla_outcome == "compile_failed"
    assert len(model.calls_for("plan")) == 1  # Stage 2 still ran
    assert result.status == "no_improvement" and len(model.calls_for("compare")) == 0
    assert model.calls_for("categorize") == [] and result.categories == []


def test_compile_error_is_fixed_by_self_correction(source_file, trial_settings):
    model = scripted(
        vanilla=[fenced(SAME)],
        refactor=[fenced(DOES_NOT_COMPILE), *forever(fenced(FASTER))],
        fix_compile=[fenced(FASTER)],
        judge=forever(VALID),
    )
    result, state = run(source_file, trial_settings, model)
    history = outcomes(state)
    assert history[1] == ("refactor", 1, 0, "compile_failed")
    assert history[2] == ("refactor", 1, 1, "improved")
    fix_prompt = model.calls_for("fix_compile")[0].prompt
    assert "undeclared" in fix_prompt  # the compiler's diagnostics went back to the model
    assert result.self_corrections == 1 and result.best_iteration == 1


def test_runtime_crash_is_fixed_by_self_correction(source_file, trial_settings):
    model = scripted(
        vanilla=[fenced(SAME)],
        refactor=[fenced(CRASHES), *forever(fenced(FASTER))],
        fix_runtime=[fenced(FASTER)],
        judge=forever(VALID),
    )
    _, state = run(source_file, trial_settings, model)
    history = outcomes(state)
    assert history[1] == ("refactor", 1, 0, "run_failed")
    assert history[2] == ("refactor", 1, 1, "improved")
    assert "SIGSEGV" in model.calls_for("fix_runtime")[0].prompt


def test_self_correction_stops_at_its_cap(source_file, trial_settings):
    settings = trial_settings.model_copy(update={"max_self_corrections": 2, "max_iterations": 1})
    model = scripted(
        vanilla=[fenced(SAME)],
        refactor=[fenced(DOES_NOT_COMPILE)],
        fix_compile=variants(DOES_NOT_COMPILE),
        judge=forever(VALID),
    )
    result, state = run(source_file, settings, model)
    assert len(model.calls_for("fix_compile")) == 2
    assert outcomes(state)[1:] == [
        ("refactor", 1, 0, "compile_failed"),
        ("refactor", 1, 1, "compile_failed"),
        ("refactor", 1, 2, "compile_failed"),
    ]
    assert result.stop_reason == "iteration cap reached (1)"


def test_invalid_candidate_is_retried_under_the_same_plan(source_file, trial_settings):
    model = scripted(
        vanilla=[fenced(SAME)],
        refactor=[fenced(FASTER), fenced(WRONG_RESULT), *variants(FASTER)],
        judge=[INVALID, *forever(VALID)],
    )
    _, state = run(source_file, trial_settings, model)
    history = outcomes(state)
    assert history[1] == ("refactor", 1, 0, "invalid")  # the judge said INVALID
    assert history[2] == ("refactor", 2, 0, "invalid")  # the output check vetoed (43 != 42)
    assert state["history"][2].verdict.by == "check"
    assert history[3] == ("refactor", 3, 0, "improved")
    assert len(model.calls_for("plan")) == 2  # one plan for the first three tries, one after
    retry_prompt = model.calls_for("refactor")[1].prompt
    assert "rejected (invalid)" in retry_prompt and "loop bound changed" in retry_prompt
    # iterations 1 and 3, then 4 not-lower tries; the vanilla version (the source again) and
    # the vetoed one skipped the judge
    assert history[0] == ("vanilla", 0, 0, "unchanged")
    assert len(model.calls_for("judge")) == 1 + 1 + 4


def test_improvement_leads_to_a_new_analysis_and_plan_of_the_new_best(source_file, trial_settings):
    model = scripted(
        vanilla=[fenced(SAME)],
        refactor=[fenced(FASTER), fenced(FASTEST), *forever(fenced(FASTEST))],
        judge=forever(VALID),
    )
    result, state = run(source_file, trial_settings, model)
    assert [c.outcome for c in state["history"][1:3]] == ["improved", "improved"]
    assert len(model.calls_for("plan")) == 3 and len(state["plans"]) == 3
    analysed = model.calls_for("analyze_code")[1].prompt
    assert spin_text(FASTER_MS) in analysed  # the new best, not the source
    # no profiler off an NVIDIA GPU: Stage 2 is told so in one line, and nothing else changes
    no_counters = "no profiler counters: Nsight Compute profiles NVIDIA GPUs only"
    for call in (*model.calls_for("analyze_code"), *model.calls_for("plan")):
        assert f"What profiling the source found:\n{no_counters}\n" in call.prompt
    assert state["reference"].hotspots.counters is None
    assert spin_text(FASTEST_MS) in model.calls_for("refactor")[2].prompt
    assert state["best"].version == 3 and result.best_iteration == 2


def test_temperature_escalates_until_it_passes_the_ceiling(source_file, trial_settings):
    model = scripted(vanilla=[fenced(SAME)], refactor=forever(fenced(SAME)), judge=forever(VALID))
    result, _ = run(source_file, trial_settings, model)
    temperatures = [call.temperature for call in model.calls_for("refactor")]
    assert temperatures == [0.2, 0.4, 0.6, 0.8]
    assert result.stop_reason == "temperature 1.0 exceeded 0.8"
    assert result.status == "no_improvement"


def test_model_without_temperature_stops_after_fruitless_tries(source_file, trial_settings):
    roles = scripted(vanilla=[fenced(SAME)], refactor=forever(fenced(SAME)), judge=forever(VALID))
    model = RoleScriptedChatModel(scripts=roles.scripts, model_name="o3-mini")
    result, state = run(source_file, trial_settings, model)
    assert all(call.temperature is None for call in model.calls)
    assert state["temperature_applies"] is False
    assert len(model.calls_for("refactor")) == 3
    assert result.stop_reason == "3 tries without improvement (the model takes no temperature)"


def test_iteration_cap_ends_the_trial(source_file, trial_settings):
    settings = trial_settings.model_copy(update={"max_iterations": 3})
    model = scripted(vanilla=[fenced(SAME)], refactor=variants(FASTER), judge=forever(INVALID))
    result, state = run(source_file, settings, model)
    assert len(model.calls_for("refactor")) == 3
    assert result.iterations == 3 and result.stop_reason == "iteration cap reached (3)"
    assert [c.outcome for c in state["history"][1:]] == ["invalid"] * 3


def test_an_llm_outage_mid_trial_interrupts_it_and_a_resume_finishes_it(
    source_file, trial_settings
):
    """An outage is no outcome: nothing is finalized, `trials` and `show` say interrupted
    and how to go on, and the resume asks again only what the outage cut off."""
    settings = trial_settings.model_copy(
        update={
            "llm_max_attempts": 2,
            "llm_backoff_initial_s": 0.01,
            "llm_backoff_max_s": 0.02,
            "max_iterations": 1,
        }
    )
    outage = httpx.ConnectError("connection refused")
    model = scripted(
        vanilla=[fenced(FASTER)],
        judge=forever(VALID),
        plan=[outage, outage, "1. Spin less."],
        refactor=[fenced(WRONG_RESULT)],
    )
    result, state = run(source_file, settings, model)
    assert result.status == "interrupted" and result.best_version == 1
    assert "connection refused" in result.stop_reason and "kept failing" in result.stop_reason
    assert "`lassi-ee resume t1` continues from the last completed step" in result.stop_reason
    assert len(model.calls_for("plan")) == 2  # retried once, then interrupted
    assert "archive_path" not in state and "finished_unix" not in state  # not finalized
    assert state.get("stop_reason") is None
    shown = show_trial("t1", settings)
    assert shown.status == "interrupted" and shown.stop_reason == result.stop_reason
    (row,) = list_trials(settings)
    assert row.status == "interrupted" and "connection refused" in row.summary
    report = report_trial("t1", settings, settings.runs_dir / "report").markdown.read_text()
    assert "status **interrupted**" in report and "stopped: interrupted: the LLM server" in report

    resumed = resume_graph("t1", settings=settings, models=model)
    assert resumed.status == "improved" and resumed.stop_reason == "iteration cap reached (1)"
    assert len(model.calls_for("vanilla")) == 1 and len(model.calls_for("plan")) == 3
    assert len(model.calls_for("refactor")) == 1


def test_a_refusal_or_a_spent_budget_mid_trial_still_finalizes_with_the_best_so_far(
    source_file, trial_settings
):
    """What the model or the budget decides is final, as before: only outages interrupt."""
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    refusal = httpx.HTTPStatusError(
        "400 content policy", request=request, response=httpx.Response(400, request=request)
    )
    model = scripted(vanilla=[fenced(FASTER)], judge=forever(VALID), plan=[refusal])
    result, state = run(source_file, trial_settings, model)
    assert result.status == "improved" and state["best"].stage == "vanilla"
    assert "rejected the 'plan' request" in (result.stop_reason or "")
    assert model.calls_for("refactor") == []
    assert (Path(state["archive_path"]) / "manifest.json").is_file()


def test_source_that_fails_at_baseline_stops_at_stage0(tmp_path, trial_settings):
    broken = tmp_path / "broken.cpp"
    broken.write_text(SOURCE.replace('std::printf("PASS\\n");', 'std::printf("FAIL\\n");'))
    model = scripted()
    result, state = run(broken, trial_settings, model)
    assert result.status == "failed"
    assert "failure marker" in (result.error or "")
    assert model.calls == []  # no LLM call for a source that cannot be used
    assert "history" not in state or state["history"] == []
