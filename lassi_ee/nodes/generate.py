"""The nodes that ask an LLM for code: Stage 1 (vanilla), Stage 3 (refactor) and
the two self-correction roles. Each returns the new candidate as a state update."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.llm.errors import LLMError, NoUsableReply
from lassi_ee.nodes.common import TrialContext, best_code, context_of, llm_failure, prompt_vars
from lassi_ee.nodes.evaluate import classify
from lassi_ee.state import Candidate, Stage, TrialState


def _no_usable_code(
    state: TrialState, error: NoUsableReply, stage: Stage, iteration: int = 0
) -> dict[str, Any]:
    """The model gave no complete program even when asked again: this attempt is
    lost (recorded as invalid), the trial goes on."""
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
    return {
        "candidate": candidate,
        "next_version": candidate.version + 1,
        "iteration": iteration,
        "usage": reply.usage,
        "temperature_applies": reply.temperature_used is not None,
    }


def _corrected(state: TrialState, code: str, temperature: float | None) -> dict[str, Any]:
    """Archive the failed version and continue with its correction."""
    failed = state["candidate"]
    assert failed is not None
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
