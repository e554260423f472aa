"""Several candidates per Stage-3 step, node by node and route by route (no whole trial):
the n requests of one refactor step, the queue, the pick, and when the step is over."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from lassi_ee.devices import cpu_device
from lassi_ee.energy.base import EnergyMeasurement, EnergyProfile, Stats
from lassi_ee.graph import routes
from lassi_ee.llm.errors import LLMUnavailable
from lassi_ee.llm.fake import FakeCall, FakeReply, RoleScriptedChatModel
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes import evaluate, generate, siblings
from lassi_ee.nodes.common import TrialContext
from lassi_ee.report.steps import step_words
from lassi_ee.state import Candidate, CompileSummary, Limits, RunSummary, Verdict
from tests.helpers.trial_programs import FASTER, SOURCE, fenced, variant

LIMITS = Limits(
    max_iterations=10,
    max_self_corrections=2,
    max_temperature=0.8,
    max_fruitless_without_temperature=3,
)
VALID = Verdict(verdict="VALID")


def runtime_profile(seconds: float) -> EnergyProfile:
    """A time-only measurement of three equal windows."""
    window = EnergyMeasurement(
        method="time-only", runs_in_window=1, runtime_s=seconds, window_s=seconds
    )
    return EnergyProfile(
        objective="runtime",
        method="time-only",
        backend="test",
        measurements=[window] * 3,
        runs_per_window=1,
        warmup_runtime_s=seconds,
        runtime_s=Stats.of([seconds] * 3),
        wall_s=1.0,
        program_s=3 * seconds,
        overhead_s=1.0 - 3 * seconds,
    )


def sibling(number: int, **fields: Any) -> Candidate:
    """Sibling ``number`` of a step of 3 in iteration 1 (versions 2, 3 and 4)."""
    base = {
        "version": number + 1,
        "stage": "refactor",
        "iteration": 1,
        "code": f"code {number}",
        "sibling": number,
        "step_candidates": 3,
    }
    return Candidate(**{**base, **fields})


def screened(number: int, seconds: float) -> Candidate:
    """A sibling the screen found lower and the judge called VALID."""
    return sibling(
        number,
        compile=CompileSummary(ok=True, binary="/x"),
        run=RunSummary(ok=True),
        profile=runtime_profile(seconds),
        screened_lower=True,
        verdict=VALID,
    )


def state(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "phase": "refactor",
        "limits": LIMITS,
        "history": [],
        "best": None,
        "iteration": 1,
        "temperature": 0.2,
        "temperature_applies": True,
        "fruitless": 0,
    }
    return {**base, **fields}


def test_a_sibling_screened_lower_waits_for_its_siblings_and_only_the_lowest_is_confirmed():
    lower = screened(1, 0.05)
    queued = [sibling(2), sibling(3)]
    assert routes.after_judge(state(candidate=lower, queued_siblings=queued)) == "next_sibling"
    last = screened(3, 0.05)
    assert routes.after_judge(state(candidate=last, queued_siblings=[])) == "pick_sibling"
    single = lower.model_copy(update={"sibling": 0, "step_candidates": 1})
    assert routes.after_judge(state(candidate=single)) == "confirm_candidate"
    # what is not worth confirming, or a trial that stops, is assessed as before
    not_lower = lower.model_copy(update={"screened_lower": False})
    assert routes.after_judge(state(candidate=not_lower, queued_siblings=queued)) == "assess"
    stopping = state(candidate=lower, queued_siblings=queued, stop_reason="budget")
    assert routes.after_judge(stopping) == "assess"


def test_after_a_sibling_is_assessed_the_queue_comes_first_then_the_pick_then_the_next_step():
    failed = sibling(1, outcome="compile_failed")
    held = [screened(2, 0.05)]
    assert routes.after_assess(state(history=[failed], queued_siblings=[sibling(3)])) == (
        "next_sibling"
    )
    assert routes.after_assess(
        state(history=[failed], queued_siblings=[], screened_siblings=held)
    ) == ("pick_sibling")
    assert routes.after_assess(state(history=[failed], queued_siblings=[])) == "refactor"
    improved = screened(2, 0.05).model_copy(update={"outcome": "improved"})
    assert routes.after_assess(state(history=[improved], best=improved)) == "analyze_code"
    stopped = state(history=[failed], queued_siblings=[sibling(3)], stop_reason="budget")
    assert routes.after_assess(stopped) == "finalize"


def test_next_sibling_holds_the_screened_one_and_puts_the_next_in_flight():
    lower, second, third = screened(1, 0.05), sibling(2), sibling(3)
    update = siblings.next_sibling(state(candidate=lower, queued_siblings=[second, third]))
    assert update == {
        "candidate": second,
        "queued_siblings": [third],
        "screened_siblings": [lower],
    }
    # after a sibling that assess recorded, nothing is in flight and nothing is held
    update = siblings.next_sibling(state(candidate=None, queued_siblings=[third]))
    assert update["candidate"] == third and update["screened_siblings"] == []


def test_pick_sibling_confirms_the_lowest_screen_and_records_the_others_naming_it():
    slow, fastest, fast = screened(1, 0.09), screened(2, 0.03), screened(3, 0.05)
    update = siblings.pick_sibling(state(candidate=fast, screened_siblings=[slow, fastest]))
    assert update["candidate"] == fastest and update["screened_siblings"] == []
    passed_over = update["history"]
    assert [(v.version, v.outcome) for v in passed_over] == [(2, "not_lower"), (4, "not_lower")]
    assert all("v3 (iteration 1, sibling 2 of 3, attempt 0) screened lower still" in v.note
               for v in passed_over)  # fmt: skip
    line = step_words("pick_sibling", update).line
    assert line is not None and "passed over: v2, v4" in line


def assess(settings, **fields: Any) -> dict[str, Any]:
    runtime = SimpleNamespace(context=TrialContext(settings=settings))
    return evaluate.assess(state(**fields), runtime)  # type: ignore[arg-type]


def test_the_temperature_waits_for_the_end_of_the_step_and_rises_if_a_sibling_was_correct(
    settings,
):
    not_lower = screened(1, 0.2).model_copy(update={"screened_lower": False})
    mid_step = assess(settings, candidate=not_lower, queued_siblings=[sibling(2)])
    assert [v.outcome for v in mid_step["history"]] == ["not_lower"]
    assert "temperature" not in mid_step and "stop_reason" not in mid_step
    # the step's last sibling failed to build, but an earlier one was correct: fruitless
    failed = sibling(3, compile=CompileSummary(ok=False, diagnostics="error"))
    recorded = mid_step["history"]
    end = assess(settings, candidate=failed, history=recorded, queued_siblings=[])
    assert end["temperature"] == pytest.approx(0.4) and end["fruitless"] == 1
    # a step whose siblings all failed is not fruitless: the temperature stays
    all_failed = assess(settings, candidate=failed, history=[sibling(1, outcome="invalid")])
    assert all_failed["temperature"] == pytest.approx(0.2) and all_failed["fruitless"] == 0


def test_a_trial_that_stops_mid_step_records_every_sibling_it_never_confirmed(settings):
    stopped = sibling(2, note="the budget is spent")  # the judge call hit the budget
    queued = [sibling(3), sibling(1, version=5, outcome="unchanged")]
    update = assess(
        settings,
        candidate=stopped,
        queued_siblings=queued,
        screened_siblings=[screened(1, 0.05)],
        stop_reason="the budget is spent",
    )
    outcomes = [(v.version, v.outcome) for v in update["history"]]
    assert outcomes == [(2, "not_lower"), (3, "abandoned"), (4, "abandoned"), (5, "unchanged")]
    assert update["queued_siblings"] == [] and update["screened_siblings"] == []
    assert "stopped before its step chose one" in update["history"][0].note


def refactor_state(**fields: Any) -> dict[str, Any]:
    return state(
        device_info=cpu_device(),
        source_code=SOURCE,
        plan="1. Shorten the spin loop.",
        iteration=0,
        next_version=2,
        usage=Usage(),
        **fields,
    )


def test_a_refactor_step_asks_its_candidates_at_once_and_queues_all_but_the_first(settings):
    """The three requests are in flight together (each waits for the other two), at the
    step's temperature, each numbered; a reply equal to a sibling's is unchanged."""
    arrived = threading.Barrier(3, timeout=10)
    replies = {1: fenced(FASTER), 2: fenced(variant(FASTER, 1)), 3: fenced(FASTER)}

    def refactor_reply(call: FakeCall) -> str:
        arrived.wait()  # raises BrokenBarrierError unless all three are asked at once
        return replies[call.sibling]

    model = RoleScriptedChatModel(scripts={"refactor": refactor_reply})
    step_settings = settings.model_copy(update={"candidates_per_step": 3})
    runtime = SimpleNamespace(context=TrialContext(settings=step_settings, models=model))
    update = generate.refactor(refactor_state(), runtime)  # type: ignore[arg-type]
    calls = model.calls_for("refactor")
    assert sorted(call.sibling for call in calls) == [1, 2, 3]
    assert [call.temperature for call in calls] == [0.2, 0.2, 0.2]
    written = [update["candidate"], *update["queued_siblings"]]
    assert [(v.version, v.sibling, v.step_candidates, v.outcome) for v in written] == [
        (2, 1, 3, "pending"), (3, 2, 3, "pending"), (4, 3, 3, "unchanged"),
    ]  # fmt: skip
    assert [v.code for v in written[:2]] == [FASTER, variant(FASTER, 1)]
    assert written[2].label == "v4 (iteration 1, sibling 3 of 3, attempt 0)"
    assert "the same program as v2" in written[2].note
    assert update["next_version"] == 5 and update["iteration"] == 1
    assert update["usage"].calls == 3
    line = step_words("refactor", update).line
    assert line == "refactor: wrote v2-v4, 3 candidates of one step"


def test_one_candidate_per_step_writes_no_sibling(settings):
    model = RoleScriptedChatModel(scripts={"refactor": [fenced(FASTER)]})
    runtime = SimpleNamespace(context=TrialContext(settings=settings, models=model))
    update = generate.refactor(refactor_state(), runtime)  # type: ignore[arg-type]
    candidate = update["candidate"]
    assert (candidate.sibling, candidate.step_candidates, update["queued_siblings"]) == (0, 1, [])
    assert candidate.label == "v2 (iteration 1, attempt 0)"


def test_a_step_asked_one_at_a_time_stops_at_the_budget_with_one_reply_over_at_most(settings):
    """``llm_max_concurrent`` 1 (a server that writes one reply at a time): each sibling is
    asked once the one before has its reply, so its budget check counts that reply. Two
    replies of 10,000 tokens fill a budget of 20,000, and the third is never sent; asked
    all at once, the three checks had seen nothing spent and all three were sent."""
    in_flight = threading.Semaphore(1)

    def refactor_reply(call: FakeCall) -> FakeReply:
        assert in_flight.acquire(blocking=False), "two siblings were asked at once"
        try:
            time.sleep(0.3)  # a reply takes time: siblings asked at once would check meanwhile
            return FakeReply(content=fenced(variant(FASTER, call.sibling)), tokens_out=10_000)
        finally:
            in_flight.release()

    model = RoleScriptedChatModel(scripts={"refactor": refactor_reply})
    step_settings = settings.model_copy(
        update={"candidates_per_step": 3, "llm_max_concurrent": 1, "budget_tokens": 20_000}
    )
    runtime = SimpleNamespace(context=TrialContext(settings=step_settings, models=model))
    update = generate.refactor(refactor_state(), runtime)  # type: ignore[arg-type]
    assert [call.sibling for call in model.calls_for("refactor")] == [1, 2]
    assert "budget is spent" in update["stop_reason"]
    written = [update["candidate"], *update["queued_siblings"]]
    assert [v.sibling for v in written] == [1, 2]


def test_once_one_request_finds_the_server_gone_the_siblings_not_yet_asked_are_not_sent(
    settings,
):
    step_settings = settings.model_copy(
        update={
            "candidates_per_step": 3,
            "llm_max_concurrent": 1,
            "llm_max_attempts": 1,
            "llm_backoff_initial_s": 0.01,
        }
    )
    model = RoleScriptedChatModel(
        scripts={"refactor": [fenced(FASTER), httpx.ConnectError("connection refused")]}
    )
    runtime = SimpleNamespace(context=TrialContext(settings=step_settings, models=model))
    with pytest.raises(LLMUnavailable, match="connection refused"):
        generate.refactor(refactor_state(), runtime)  # type: ignore[arg-type]
    assert [call.sibling for call in model.calls_for("refactor")] == [1, 2]
