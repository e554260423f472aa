"""The nodes that ask an LLM for code: Stage 1, Stage 3 and the self-corrections.

Vanilla, refactor, fix_compile and fix_runtime each return the new candidate as a state
update.

A reply that is an earlier version again (comments and layout aside) is not
built, run or measured: it is recorded as ``unchanged`` (tools/program_text.py).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.errors import TrialInterrupted
from lassi_ee.llm.client import CodeReply, StepSpending
from lassi_ee.llm.errors import LLMError, NoUsableReply
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.common import TrialContext, best_code, context_of, llm_failure, prompt_vars
from lassi_ee.nodes.evaluate import classify
from lassi_ee.nodes.step_replies import StepReplies
from lassi_ee.state import Candidate, TrialState
from lassi_ee.tools.program_text import normalized

log = logging.getLogger(__name__)


def earlier_version(state: TrialState, code: str, siblings: Sequence[Candidate] = ()) -> str | None:
    """Which earlier version (or the source) this program text already is, if any.

    Earlier versions include the siblings of the step in flight, queued or held for the
    pick, and ``siblings``: the ones written just before it in the same step.
    """
    text = normalized(code)
    if text == normalized(state["source_code"]):
        return "the source"
    versions = [
        *state.get("history", []),
        *state.get("queued_siblings", []),
        *state.get("screened_siblings", []),
        *siblings,
    ]
    for known in (state.get("best"), state.get("candidate")):
        if known is not None:
            versions.append(known)
    for version in versions:
        if version.code and normalized(version.code) == text:
            return f"v{version.version}"
    return None


def _new_candidate(
    state: TrialState, candidate: Candidate, siblings: Sequence[Candidate] = ()
) -> Candidate:
    """The candidate as written, or recorded as unchanged when it is an earlier version."""
    same_as = earlier_version(state, candidate.code, siblings)
    if same_as is None:
        return candidate
    note = f"the same program as {same_as} (comments and whitespace aside): not built or measured"
    return candidate.model_copy(update={"outcome": "unchanged", "note": note})


def _no_usable_code(state: TrialState, error: NoUsableReply) -> dict[str, Any]:
    """The model gave no complete program even when asked again.

    This attempt is lost (recorded as invalid); the trial goes on.
    """
    lost = _lost(Candidate(version=state["next_version"], stage="vanilla", code=""), error)
    return {"candidate": lost, "next_version": lost.version + 1, "usage": error.usage}


def _lost(candidate: Candidate, error: NoUsableReply) -> Candidate:
    """A version the model never wrote: recorded as invalid, with why."""
    return candidate.model_copy(update={"outcome": "invalid", "note": str(error)})


def _fix_not_usable(candidate: Candidate, error: NoUsableReply) -> dict[str, Any]:
    """No usable fix: the candidate keeps the failure it had."""
    outcome = classify(candidate, lower=False)
    return {
        "candidate": candidate.model_copy(update={"outcome": outcome, "note": str(error)}),
        "usage": error.usage,
    }


def vanilla(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Stage 1: one zero-shot refactoring of the source; compiled and run once, no fixes."""
    ctx = context_of(runtime)
    temperature = ctx.settings.initial_temperature
    try:
        reply = ctx.llm().code(
            "vanilla",
            prompt_vars(state, source=state["source_code"]),
            temperature=temperature,
            usage=state["usage"],
        )
    except NoUsableReply as error:
        return _no_usable_code(state, error)
    except LLMError as error:
        return llm_failure(error)
    candidate = Candidate(
        version=state["next_version"],
        stage="vanilla",
        code=reply.code,
        temperature=reply.temperature_used,
    )
    candidate = _new_candidate(state, candidate)
    return {"candidate": candidate, "next_version": candidate.version + 1, "usage": reply.usage}


def _feedback(state: TrialState) -> str:
    """What became of the previous Stage-3 step under the current plan, for the next one.

    Of a step of several candidates, what became of each sibling (its last version).
    """
    if not state["history"]:
        return "none"
    last = state["history"][-1]
    if last.stage != "refactor" or last.outcome == "improved":
        return "none"
    if not last.sibling:
        return _what_became_of(last)
    siblings: dict[int, Candidate] = {}
    for version in state["history"]:  # a self-corrected sibling's last version comes last
        if version.stage == "refactor" and version.iteration == last.iteration:
            siblings[version.sibling] = version
    return "; ".join(_what_became_of(siblings[number]) for number in sorted(siblings))


def _what_became_of(version: Candidate) -> str:
    if version.outcome == "not_lower":
        return (
            f"{version.label} was correct but did not use less energy than the current best "
            f"({version.profile.summary() if version.profile else 'no figures'}); try a "
            "different way to apply the plan"
        )
    reasons = (
        "; ".join(version.verdict.reasons) if version.verdict else version.note or version.outcome
    )
    return f"{version.label} was rejected ({version.outcome}): {reasons}"


def refactor(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Stage 3: apply the current plan to the current best program.

    With ``candidates_per_step`` n > 1 the model is asked n times from the same prompt at
    the same temperature, at most ``llm_max_concurrent`` requests at a time (all n at once
    when it is unset). The first reply goes in flight; the others wait in
    ``queued_siblings`` and are evaluated one at a time after it (nodes/siblings.py). Each
    request is checked against the budget with the replies the step's other requests
    have had so far. An outage in any of them interrupts the step; the replies that came
    are kept (nodes/step_replies.py), and the step run again asks only for the others.
    """
    ctx = context_of(runtime)
    iteration = state["iteration"] + 1
    count = ctx.settings.candidates_per_step
    llm = ctx.llm()
    step = StepSpending()
    variables = prompt_vars(
        state, best_code=best_code(state), plan=state["plan"], feedback=_feedback(state)
    )

    asked = {"prompt": variables, "temperature": state["temperature"], "candidates": count}
    replies = StepReplies.of_step(ctx.settings, iteration, asked) if count > 1 else None

    def ask(sibling: int) -> CodeReply:
        return llm.code(
            "refactor",
            variables,
            temperature=state["temperature"],
            usage=state["usage"],
            sibling=sibling,
            step=step,
        )

    update: dict[str, Any] = {"iteration": iteration, "usage": Usage()}
    written: list[Candidate] = []
    numbers = list(range(1, count + 1)) if count > 1 else [0]
    at_once = ctx.settings.llm_max_concurrent or count
    for number, answer in zip(numbers, _answers(ask, numbers, replies, step, at_once), strict=True):
        sibling = Candidate(
            version=state["next_version"] + len(written),
            stage="refactor",
            iteration=iteration,
            code="",
            sibling=number,
            step_candidates=count,
        )
        update["usage"] = update["usage"].add(answer.usage)
        if isinstance(answer, NoUsableReply):
            written.append(_lost(sibling, answer))
        elif isinstance(answer, LLMError):  # the budget, a refusal: the trial stops
            update["stop_reason"] = update.get("stop_reason") or str(answer)
        else:
            sibling = sibling.model_copy(
                update={"code": answer.code, "temperature": answer.temperature_used}
            )
            written.append(_new_candidate(state, sibling, written))
            update["temperature_applies"] = answer.temperature_used is not None
    if replies is not None:
        replies.clear()
    if written:
        update.update(
            candidate=written[0],
            queued_siblings=written[1:],
            next_version=written[-1].version + 1,
        )
    return update


def _answers(
    ask: Callable[[int], CodeReply],
    siblings: list[int],
    replies: StepReplies | None,
    step: StepSpending,
    at_once: int,
) -> list[CodeReply | LLMError]:
    """Each sibling's answer: kept from this step's interrupted run, else asked now.

    What is asked now is kept as it comes. The kept replies count in the step's spending
    before the others are asked, as they would have.
    """
    if replies is None:
        return _asked_together(ask, siblings, at_once)
    kept = replies.kept()
    for answer in kept.values():
        step.add(answer.usage)
    if kept:
        log.info(
            "refactor: %d of %d replies kept from the interrupted step", len(kept), len(siblings)
        )

    def ask_and_keep(sibling: int) -> CodeReply:
        try:
            reply = ask(sibling)
        except NoUsableReply as unusable:
            replies.keep(sibling, unusable)
            raise
        replies.keep(sibling, reply)
        return reply

    missing = [sibling for sibling in siblings if sibling not in kept]
    asked = dict(zip(missing, _asked_together(ask_and_keep, missing, at_once), strict=True))
    return [kept[sibling] if sibling in kept else asked[sibling] for sibling in siblings]


def _asked_together(
    ask: Callable[[int], CodeReply], siblings: list[int], at_once: int
) -> list[CodeReply | LLMError]:
    """``ask``'s answer for each sibling number; a failed one is its LLMError.

    At most ``at_once`` (``llm_max_concurrent``) are asked at a time, and a sibling is
    asked only once an earlier one has its whole answer: so each request's budget check
    counts every reply but those still in flight, and with ``at_once`` 1 the step passes
    its budget by one reply at most. An outage
    (TrialInterrupted) in any of them is raised once all have returned; the siblings not
    yet asked by then are not sent to a server that is gone. Each request runs in a
    copy of this step's context, so that LangGraph's run config (the transcript's trial)
    is known in its thread.
    """
    outage: list[LLMError] = []  # the first outage, once one request found it

    def answer(sibling: int) -> CodeReply | LLMError:
        if outage:
            return outage[0]
        try:
            return ask(sibling)
        except LLMError as error:
            if isinstance(error, TrialInterrupted):
                outage.append(error)
            return error

    workers = min(len(siblings), at_once)
    if workers <= 1:  # one at a time, or none left to ask
        answers = [answer(sibling) for sibling in siblings]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refactor") as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, answer, sibling) for sibling in siblings
            ]
            answers = [future.result() for future in futures]
    for outcome in answers:
        if isinstance(outcome, TrialInterrupted):
            raise outcome
    return answers


def _corrected(state: TrialState, code: str, temperature: float | None) -> dict[str, Any]:
    """Archive the failed version and continue with its correction.

    A "correction" that is an earlier version again would fail again, so the failure stands.
    """
    failed = state["candidate"]
    assert failed is not None
    same_as = earlier_version(state, code)
    if same_as is not None:
        outcome = classify(failed, lower=False)
        note = f"the correction is the same program as {same_as}: not built again"
        return {"candidate": failed.model_copy(update={"outcome": outcome, "note": note})}
    failed = failed.model_copy(update={"outcome": classify(failed, lower=False)})
    fixed = failed.model_copy(
        update={
            "version": state["next_version"],
            "attempt": failed.attempt + 1,
            "code": code,
            "temperature": temperature,
            "compile": None,
            "run": None,
            "check": None,
            "flags": [],
            "outcome": "pending",
            "note": "",
        }
    )
    return {"history": [failed], "candidate": fixed, "next_version": fixed.version + 1}


def fix_compile(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Self-correction: give the compiler's diagnostics back to the LLM."""
    candidate = state["candidate"]
    assert candidate is not None and candidate.compile is not None
    ctx = context_of(runtime)
    try:
        reply = ctx.llm().code(
            "fix_compile",
            prompt_vars(
                state, candidate=candidate.code, compiler_errors=candidate.compile.diagnostics
            ),
            temperature=candidate.temperature,
            usage=state["usage"],
        )
    except NoUsableReply as error:
        return _fix_not_usable(candidate, error)
    except LLMError as error:
        return llm_failure(error, candidate)
    return {**_corrected(state, reply.code, reply.temperature_used), "usage": reply.usage}


def fix_runtime(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Self-correction: give the crash, timeout or failed self-check back to the LLM."""
    candidate = state["candidate"]
    assert candidate is not None and candidate.run is not None
    ctx = context_of(runtime)
    try:
        reply = ctx.llm().code(
            "fix_runtime",
            prompt_vars(
                state,
                candidate=candidate.code,
                run_failure=candidate.run.failure or "failed",
                stdout=candidate.run.stdout[-4000:],
                stderr=candidate.run.stderr[-4000:],
            ),
            temperature=candidate.temperature,
            usage=state["usage"],
        )
    except NoUsableReply as error:
        return _fix_not_usable(candidate, error)
    except LLMError as error:
        return llm_failure(error, candidate)
    return {**_corrected(state, reply.code, reply.temperature_used), "usage": reply.usage}
