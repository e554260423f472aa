"""Stage 2: build context and a refactoring plan.

One LLM call per node, so that a resumed trial never asks twice.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.llm.errors import LLMError
from lassi_ee.nodes.common import (
    TrialContext,
    best_code,
    best_profile,
    context_of,
    figures,
    llm_failure,
    prompt_vars,
)
from lassi_ee.prompts.loader import load_docs
from lassi_ee.state import TrialState


def source_profile(state: TrialState) -> str:
    """What Stage 0's profiler found on the source, in a few lines, or why nothing."""
    hotspots = state["reference"].hotspots
    if hotspots is None:
        return "no profiler counters: this trial's Stage 0 predates them"
    return hotspots.prompt_text(of_source=state.get("best") is None)


def summarize_docs(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Condense the programming-model notes (ours, or the user's documents)."""
    ctx = context_of(runtime)
    docs = load_docs(state["device_info"].programming_model, ctx.settings.docs_paths)
    start_stage3 = {"phase": "refactor"}
    try:
        reply = ctx.llm().text(
            "summarize_docs", prompt_vars(state, docs=docs), usage=state["usage"]
        )
    except LLMError as error:
        return {**llm_failure(error), **start_stage3}
    return {"docs_summary": reply.text, "usage": reply.usage, **start_stage3}


def analyze_code(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Analyse the current best program for energy waste."""
    ctx = context_of(runtime)
    try:
        reply = ctx.llm().text(
            "analyze_code",
            prompt_vars(
                state,
                best_code=best_code(state),
                best_figures=figures(best_profile(state)),
                source_profile=source_profile(state),
                docs_summary=state["docs_summary"],
            ),
            usage=state["usage"],
        )
    except LLMError as error:
        return llm_failure(error)
    return {"analysis": reply.text, "usage": reply.usage}


def plan(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Write the refactoring plan that Stage 3 applies until it stops paying off."""
    ctx = context_of(runtime)
    try:
        reply = ctx.llm().text(
            "plan",
            prompt_vars(
                state,
                best_code=best_code(state),
                best_figures=figures(best_profile(state)),
                source_profile=source_profile(state),
                code_analysis=state["analysis"],
                docs_summary=state["docs_summary"],
            ),
            usage=state["usage"],
        )
    except LLMError as error:
        return llm_failure(error)
    return {"plan": reply.text, "plans": [reply.text], "usage": reply.usage}
