"""Routing functions on hand-made states: each branch, and the stopping rule (which
assess applies, in nodes/evaluate.py)."""

from __future__ import annotations

from typing import Any

import pytest

from lassi_ee.graph import routes
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.names import NODE_NAMES, STAGE_OF
from lassi_ee.nodes.evaluate import stopping_reason
from lassi_ee.report.steps import STEP_WORDS
from lassi_ee.state import Candidate, CompileSummary, FinalCheck, Limits, RunSummary, Verdict
from lassi_ee.tools.check import CheckResult

LIMITS = Limits(
    max_iterations=10,
    max_self_corrections=2,
    max_temperature=0.8,
    max_fruitless_without_temperature=3,
)


def candidate(**fields: Any) -> Candidate:
    return Candidate(**{"version": 1, "stage": "refactor", "iteration": 1, "code": "x", **fields})


def state(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"phase": "refactor", "limits": LIMITS, "history": [], "best": None}
    base.update(fields)
    return base


FAILED_BUILD = CompileSummary(ok=False, diagnostics="error")
BUILT = CompileSummary(ok=True, binary="/x")
MATCH = CheckResult(status="match", finding="outputs match")
MISMATCH = CheckResult(status="mismatch", finding="outputs differ")


def test_stage0_failure_goes_straight_to_finalize():
    assert routes.after_profile_source(state(error="does not build")) == "finalize"
    assert routes.after_profile_source(state()) == "vanilla"


def test_generation_builds_unless_stopping_or_already_decided():
    assert routes.after_generation(state(candidate=candidate())) == "compile_candidate"
    assert routes.after_generation(state(candidate=candidate(), stop_reason="429")) == "assess"
    assert routes.after_generation(state(candidate=None, stop_reason="budget")) == "assess"
    lost = candidate(outcome="invalid", code="")
    assert routes.after_generation(state(candidate=lost)) == "assess"


def test_compile_failure_self_corrects_until_the_cap_in_stage3_only():
    assert routes.after_compile(state(candidate=candidate(compile=BUILT))) == "run_candidate"
    failing = candidate(compile=FAILED_BUILD, attempt=0)
    assert routes.after_compile(state(candidate=failing)) == "fix_compile"
    capped = candidate(compile=FAILED_BUILD, attempt=2)
    assert routes.after_compile(state(candidate=capped)) == "assess"
    assert routes.after_compile(state(candidate=failing, phase="vanilla")) == "assess"


def test_run_failure_self_corrects_and_a_check_veto_skips_measurement():
    crashed = candidate(compile=BUILT, run=RunSummary(ok=False, failure="SIGSEGV"))
    assert routes.after_run(state(candidate=crashed)) == "fix_runtime"
    assert routes.after_run(state(candidate=crashed, phase="vanilla")) == "assess"
    ran = RunSummary(ok=True)
    assert routes.after_run(state(candidate=candidate(compile=BUILT, run=ran, check=MATCH))) == (
        "measure_candidate"
    )
    vetoed = candidate(compile=BUILT, run=ran, check=MISMATCH)
    assert routes.after_run(state(candidate=vetoed)) == "assess"


def test_judge_only_what_was_measured():
    assert routes.after_measure(state(candidate=candidate())) == "assess"


@pytest.mark.parametrize(
    ("iteration", "temperature", "applies", "fruitless", "expected"),
    [
        (3, 0.8, True, 0, None),  # 0.8 is not above the ceiling
        (3, 1.0, True, 0, "temperature 1.0 exceeded 0.8"),
        (10, 0.2, True, 0, "iteration cap reached (10)"),
        (3, 0.2, False, 2, None),
        (3, 0.2, False, 3, "3 tries without improvement (the model takes no temperature)"),
        (3, 5.0, False, 0, None),  # temperature means nothing to such a model
    ],
)
def test_stopping_rule(iteration, temperature, applies, fruitless, expected):
    assert stopping_reason(LIMITS, iteration, temperature, applies, fruitless) == expected


def test_after_assess_chooses_next_stage():
    improved = candidate(outcome="improved")
    rejected = candidate(outcome="invalid")
    assert routes.after_assess(state(phase="vanilla", history=[rejected])) == "summarize_docs"
    assert routes.after_assess(state(history=[improved], best=improved)) == "analyze_code"
    assert routes.after_assess(state(history=[rejected])) == "refactor"
    assert routes.after_assess(state(history=[rejected], stop_reason="cap")) == "finalize"
    stop_with_best = state(history=[improved], best=improved, stop_reason="cap")
    assert routes.after_assess(stop_with_best) == "confirm_final"


def test_stage4_compares_only_what_the_final_re_measurement_confirmed():
    improved = candidate(outcome="improved")
    stopped = state(history=[improved], best=improved, stop_reason="cap")
    assert routes.to_stage4(stopped) == "confirm_final"
    held = FinalCheck(confirmed=True)
    assert routes.to_stage4({**stopped, "final_check": held}) == "compare"
    faded = FinalCheck(confirmed=False, note="interval reaches 0")
    assert routes.to_stage4({**stopped, "final_check": faded}) == "finalize"
    done = {**stopped, "final_check": held, "comparison": "report"}
    assert routes.to_stage4(done) == "finalize"
    assert routes.to_stage4(state(history=[candidate(outcome="not_lower")])) == "finalize"


def test_only_a_valid_candidate_the_screen_found_lower_is_confirmed():
    valid, invalid = Verdict(verdict="VALID"), Verdict(verdict="INVALID")
    screened = candidate(verdict=valid, screened_lower=True)
    assert routes.after_judge(state(candidate=screened)) == "confirm_candidate"
    assert routes.after_judge(state(candidate=candidate(verdict=valid, screened_lower=False))) == (
        "assess"
    )
    assert routes.after_judge(state(candidate=candidate(verdict=invalid, screened_lower=True))) == (
        "assess"
    )
    assert routes.after_judge(state(candidate=screened, stop_reason="budget")) == "assess"


def test_the_graph_the_stages_and_the_step_words_know_every_node_by_one_name():
    drawn = compile_graph().get_graph()
    assert set(drawn.nodes) - {"__start__", "__end__"} == set(NODE_NAMES)
    targets = {edge.target for edge in drawn.edges} - {"__end__"}
    assert targets <= set(NODE_NAMES)  # every branch a route can take is a named node
    assert set(STAGE_OF) == set(STEP_WORDS) == set(NODE_NAMES)
