"""The nodes that ask an LLM for code: Stage 1, Stage 3 and the self-corrections.

Vanilla, refactor, fix_compile and fix_runtime each return the new candidate as a state
update.

A reply that is an earlier version again (comments and layout aside) is not
built, run or measured: it is recorded as ``unchanged`` (tools/program_text.py).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.llm.errors import LLMError, NoUsableReply
from lassi_ee.nodes.common import TrialContext, best_code, context_of, llm_failure, prompt_vars
from lassi_ee.nodes.evaluate import classify
from lassi_ee.state import Candidate, Stage, TrialState
from lassi_ee.tools.program_text import normalized


def earlier_version(state: TrialState, code: str) -> str | None:
    """Which earlier version (or the source) this program text already is, if any."""
    text = normalized(code)
    if text == normalized(state["source_code"]):
        return "the source"
    versions = [*state.get("history", [])]
    for known in (state.get("best"), state.get("candidate")):
        if known is not None:
            versions.append(known)
    for version in versions:
        if version.code and normalized(version.code) == text:
            return f"v{version.version}"
    return None


def _new_candidate(state: TrialState, candidate: Candidate) -> Candidate:
    """The candidate as written, or recorded as unchanged when it is an earlier version."""
    same_as = earlier_version(state, candidate.code)
    if same_as is None:
        return candidate
    note = f"the same program as {same_as} (comments and whitespace aside): not built or measured"
    return candidate.model_copy(update={"outcome": "unchanged", "note": note})


def _no_usable_code(
    state: TrialState, error: NoUsableReply, stage: Stage, iteration: int = 0
) -> dict[str, Any]:
    """The model gave no complete program even when asked again.

    This attempt is lost (recorded as invalid); the trial goes on.
    """
    lost = Candidate(
        version=state["next_version"],
        stage=stage,
        iteration=iteration,
        code="",
        outcome="invalid",
        note=str(error),
    )
    return {"candidate": lost, "next_version": lost.version + 1, "usage": error.usage}


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
        return _no_usable_code(state, error, "vanilla")
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
    """What became of the previous attempt under the current plan, for the next one."""
    if not state["history"]:
        return "none"
    last = state["history"][-1]
    if last.stage != "refactor" or last.outcome == "improved":
        return "none"
    if last.outcome == "not_lower":
        return (
            f"{last.label} was correct but did not use less energy than the current best "
            f"({last.profile.summary() if last.profile else 'no figures'}); try a different "
            "way to apply the plan"
        )
    reasons = "; ".join(last.verdict.reasons) if last.verdict else last.note or last.outcome
    return f"{last.label} was rejected ({last.outcome}): {reasons}"


def refactor(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Stage 3: apply the current plan to the current best program."""
    ctx = context_of(runtime)
    iteration = state["iteration"] + 1
    try:
        reply = ctx.llm().code(
            "refactor",
            prompt_vars(
                state, best_code=best_code(state), plan=state["plan"], feedback=_feedback(state)
            ),
            temperature=state["temperature"],
            usage=state["usage"],
        )
    except NoUsableReply as error:
        return {**_no_usable_code(state, error, "refactor", iteration), "iteration": iteration}
    except LLMError as error:
        return {**llm_failure(error), "iteration": iteration}
    candidate = Candidate(
        version=state["next_version"],
        stage="refactor",
        iteration=iteration,
        code=reply.code,
        temperature=reply.temperature_used,
    )
    candidate = _new_candidate(state, candidate)
    return {
        "candidate": candidate,
        "next_version": candidate.version + 1,
        "iteration": iteration,
        "usage": reply.usage,
        "temperature_applies": reply.temperature_used is not None,
    }


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
