"""Whole trials on the cpu device with several candidates per Stage-3 step: real compiles,
runs and (time-only) measurements; only the LLM is scripted. Which sibling number a reply
gets depends on which of the concurrent requests the script answers first, so the tests
find each sibling by its code."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from lassi_ee.api import resume_graph, run_graph
from lassi_ee.nodes.common import TrialContext
from lassi_ee.report.console import print_result
from lassi_ee.report.files import report_trial
from lassi_ee.state import Candidate
from lassi_ee.trials import open_trials, read_trial, show_trial
from tests.helpers.trial_programs import (
    DOES_NOT_COMPILE,
    FASTER,
    SAME,
    VALID,
    WRONG_RESULT,
    fenced,
    scripted,
    variant,
)

pytestmark = pytest.mark.trial


def by_code(versions: list[Candidate], code: str) -> list[Candidate]:
    return [version for version in versions if version.code == code]


def test_a_step_of_three_confirms_only_the_sibling_that_improves(
    source_file, trial_settings, capsys
):
    """One sibling does not compile (nor does its fix), one prints a wrong result, one is
    faster: each is evaluated as a lone candidate would be, and only the faster one is
    confirmed, becomes the best and is re-measured in Stage 4."""
    settings = trial_settings.model_copy(
        update={"candidates_per_step": 3, "max_iterations": 1, "max_self_corrections": 1}
    )
    model = scripted(
        vanilla=[fenced(SAME)],  # the source again: unchanged, never built
        refactor=[fenced(DOES_NOT_COMPILE), fenced(WRONG_RESULT), fenced(FASTER)],
        fix_compile=[fenced(variant(DOES_NOT_COMPILE, 1))],
        judge=[VALID] * 5,
    )
    result = run_graph(source_file, "cpu", thread_id="three", settings=settings, models=model)
    state = read_trial("three", settings).state
    history = state["history"]
    step = [version for version in history if version.stage == "refactor"]
    assert all(v.iteration == 1 and v.step_candidates == 3 for v in step)
    assert sorted(v.sibling for v in step if v.attempt == 0) == [1, 2, 3]
    [broken] = by_code(step, DOES_NOT_COMPILE)
    [broken_fix] = by_code(step, variant(DOES_NOT_COMPILE, 1))
    [wrong] = by_code(step, WRONG_RESULT)
    [faster] = by_code(step, FASTER)
    assert (broken.outcome, broken_fix.outcome) == ("compile_failed", "compile_failed")
    assert broken_fix.attempt == 1 and broken_fix.sibling == broken.sibling  # self-corrected
    assert wrong.outcome == "invalid" and wrong.verdict.by == "check"
    assert faster.outcome == "improved" and faster.confirmation.decision.claimed
    # only the improving sibling was confirmed, and it is what the trial reports
    assert [v.version for v in history if v.confirmation is not None] == [faster.version]
    assert len(model.calls_for("refactor")) == 3 and len(model.calls_for("judge")) == 1
    transcript = settings.runs_dir / "three" / "llm-transcript.jsonl"
    entries = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert sorted(e["sibling"] for e in entries if e["role"] == "refactor") == [1, 2, 3]
    assert state["queued_siblings"] == [] and state["screened_siblings"] == []
    assert result.status == "improved" and result.best_version == faster.version
    assert result.best_sibling == faster.sibling and result.candidates_per_step == 3
    assert state["final_check"].confirmation.measurement.labels == ("source", f"v{faster.version}")
    assert result.stop_reason == "iteration cap reached (1)"
    label = f"v{faster.version} (iteration 1, sibling {faster.sibling} of 3, attempt 0)"
    report = report_trial("three", settings, settings.runs_dir / "report").markdown.read_text()
    assert label in report and "1 iterations of 3 candidates" in report
    print_result(show_trial("three", settings))  # what `lassi-ee show` prints
    shown = " ".join(capsys.readouterr().out.split())
    assert f"best v{faster.version} (iteration 1, sibling {faster.sibling} of 3)" in shown
    assert "1 iterations of 3 candidates" in shown


def phase(trials, settings, graph_input: Any, model, stop_after: str) -> None:
    """Run the trial on until the first ``stop_after`` step is checkpointed, as if the
    process had been killed right after it."""
    config: Any = {"configurable": {"thread_id": "cut"}}
    context = TrialContext(settings=settings, models=model)
    trials.graph.invoke(graph_input, config, context=context, interrupt_after=[stop_after])


def judged_codes(model) -> list[str]:
    return [call.prompt for call in model.calls_for("judge")]


def test_a_trial_cut_off_between_siblings_repeats_no_finished_siblings_llm_call(
    source_file, trial_settings
):
    """Cut off after the first sibling was done, then after the second: each process (a
    model of its own) asks only what no earlier one finished. The step's three replies
    are asked once, and no sibling is judged twice."""
    settings = trial_settings.model_copy(update={"candidates_per_step": 3, "max_iterations": 1})

    def model() -> Any:
        return scripted(
            vanilla=[fenced(SAME)],
            refactor=[fenced(variant(FASTER, n)) for n in (1, 2, 3)],
            judge=[VALID] * 5,
        )

    first, second = model(), model()
    with open_trials(settings) as trials:
        phase(
            trials, settings, {"source": str(source_file), "device": "cpu"}, first, "next_sibling"
        )
        cut = trials.graph.get_state({"configurable": {"thread_id": "cut"}}).values
        assert cut["candidate"].sibling > 0 and len(cut["queued_siblings"]) == 1
        phase(trials, settings, None, second, "next_sibling")
    third = model()
    result = resume_graph("cut", settings=settings, models=third)

    assert [len(m.calls_for("refactor")) for m in (first, second, third)] == [3, 0, 0]
    assert [len(m.calls_for("judge")) for m in (first, second, third)] == [1, 1, 1]
    judged = [prompt for m in (first, second, third) for prompt in judged_codes(m)]
    for n in (1, 2, 3):  # each sibling's code was put to the judge exactly once
        assert sum(variant(FASTER, n) in prompt for prompt in judged) == 1
    state = read_trial("cut", settings).state
    step = [version for version in state["history"] if version.stage == "refactor"]
    assert sorted(v.sibling for v in step) == [1, 2, 3]
    confirmed = [v for v in step if v.confirmation is not None]
    assert len(confirmed) == 1  # one confirmation for the step, whatever the cut
    assert result.status in ("improved", "no_improvement")


def test_the_null_model_with_four_candidates_per_step_claims_nothing(source_file, trial_settings):
    """Every sibling of every step is the program again, redeclared: all are built, run,
    measured and judged VALID, at most one per step is confirmed, and none is claimed."""
    settings = trial_settings.model_copy(
        update={
            "generate_model": "null",
            "min_energy_gain": 0.02,
            "candidates_per_step": 4,
            "max_iterations": 2,
        }
    )
    result = run_graph(source_file, "cpu", thread_id="null4", settings=settings)
    state = read_trial("null4", settings).state
    versions = state["history"]
    assert len(versions) == 1 + 2 * 4  # vanilla, then two steps of four
    assert len({v.code for v in versions}) == len(versions)  # every sibling new text
    assert all(v.profile is not None and v.verdict.verdict == "VALID" for v in versions)
    assert [v.outcome for v in versions] == ["not_lower"] * len(versions)
    for iteration in (1, 2):
        step = [v for v in versions if v.iteration == iteration]
        assert sorted(v.sibling for v in step) == [1, 2, 3, 4]
        assert sum(v.confirmation is not None for v in step) <= 1
    assert all(v.confirmation is None or not v.confirmation.decision.claimed for v in versions)
    assert result.status == "no_improvement" and result.reduction is None


def test_an_outage_in_one_siblings_request_asks_only_that_sibling_again_on_resume(
    source_file, trial_settings
):
    """Three candidates asked at once, the third's server gone: the step is interrupted
    with the two replies that came kept in the work folder, and the resume asks only the
    third again. The kept replies are counted once in the trial's usage."""
    settings = trial_settings.model_copy(
        update={
            "candidates_per_step": 3,
            "max_iterations": 1,
            "llm_max_attempts": 1,
            "llm_backoff_initial_s": 0.01,
            "llm_backoff_max_s": 0.02,
        }
    )
    outage = httpx.ConnectError("connection refused")

    def model(third: Any) -> Any:
        replies = {1: fenced(variant(FASTER, 1)), 2: fenced(variant(FASTER, 2)), 3: third}
        return scripted(
            vanilla=[fenced(SAME)],
            refactor=lambda call: replies[call.sibling],
            judge=[VALID] * 5,
        )

    first = model(outage)
    cut = run_graph(source_file, "cpu", thread_id="gone", settings=settings, models=first)
    assert cut.status == "interrupted" and "connection refused" in cut.stop_reason
    kept = settings.work_root / "gone" / "step-replies" / "iteration-1"
    assert sorted(path.name for path in kept.glob("*.json")) == ["sibling-1.json", "sibling-2.json"]

    second = model(fenced(variant(FASTER, 3)))
    result = resume_graph("gone", settings=settings, models=second)
    assert sorted(call.sibling for call in first.calls_for("refactor")) == [1, 2, 3]
    assert [call.sibling for call in second.calls_for("refactor")] == [3]
    state = read_trial("gone", settings).state
    step = [version for version in state["history"] if version.stage == "refactor"]
    assert sorted((v.sibling, v.code) for v in step if v.attempt == 0) == [
        (n, variant(FASTER, n)) for n in (1, 2, 3)
    ]
    assert result.usage.by_role["refactor"].calls == 3  # two kept, one asked again
    assert not kept.exists()  # the step is in the state now
