"""The trial graph: nodes and edges only.

What each node does lives in nodes/, how each branch is chosen in routes.py (see
docs/DESIGN.md, "The trial graph").
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, Self, get_args

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from lassi_ee.errors import disk_failure
from lassi_ee.graph import routes
from lassi_ee.graph.names import NodeName
from lassi_ee.nodes import (
    boards,
    confirm,
    context,
    evaluate,
    finalize,
    generate,
    profile_source,
    siblings,
)
from lassi_ee.nodes.common import TrialContext, context_of, trial_files
from lassi_ee.state import TrialInput, TrialState

STAGE4: list[NodeName] = list(get_args(routes.Stage4))


def _unless_stopped(next_node: NodeName) -> Callable[[TrialState], str]:
    """Go on to ``next_node``, or to Stage 4 when an LLM failure stopped the trial."""

    def route(state: TrialState) -> str:
        return routes.to_stage4(state) if state.get("stop_reason") else next_node

    route.__name__ = f"to_{next_node}_unless_stopped"
    return route


def _step(node: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``node`` as a step of a trial, timed and guarded against a failing disk.

    It adds the seconds it ran to ``running_s``, and a disk that fails under it interrupts
    the trial (the step is not committed).
    """

    @functools.wraps(node)  # LangGraph reads the node's own signature (state, runtime)
    def step(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.monotonic()
        try:
            update = node(*args, **kwargs)
        except OSError as error:
            runtime = kwargs.get("runtime", args[1] if len(args) > 1 else None)
            interruption = disk_failure(error, trial_files(context_of(runtime).settings))
            if interruption is None:
                raise
            raise interruption from error
        return {**update, "running_s": time.monotonic() - started}

    return step


class _TrialGraph(StateGraph[TrialState, TrialContext, TrialInput, TrialState]):
    """A StateGraph whose every node is a ``_step``.

    So the trial's running time leaves out the hours a killed trial lay dead before a
    resume.
    """

    def add_node(self, node: Any, action: Any = None, **options: Any) -> Self:
        return super().add_node(node, _step(action), **options)


# Every node of the trial graph and what it runs, in the order of the method.
NODES: dict[NodeName, Callable[..., dict[str, Any]]] = {
    # Stage 0 and Stage 1
    "profile_source": profile_source.profile_source,
    "vanilla": generate.vanilla,
    # evaluation of any candidate, with self-correction
    "compile_candidate": evaluate.compile_candidate,
    "fix_compile": generate.fix_compile,
    "run_candidate": evaluate.run_candidate,
    "fix_runtime": generate.fix_runtime,
    "measure_candidate": boards.measure_candidate,
    "judge_candidate": evaluate.judge_candidate,
    # a Stage-3 step of several candidates: the next one, and the one to confirm
    "next_sibling": siblings.next_sibling,
    "pick_sibling": siblings.pick_sibling,
    "confirm_candidate": confirm.confirm_candidate,
    "assess": evaluate.assess,
    # Stage 2 and Stage 3
    "summarize_docs": context.summarize_docs,
    "analyze_code": context.analyze_code,
    "plan": context.plan,
    "refactor": generate.refactor,
    # Stage 4
    "confirm_final": confirm.confirm_final,
    "compare": finalize.compare,
    "categorize": finalize.categorize,
    "finalize": finalize.finalize,
}


def build_graph() -> StateGraph[TrialState, TrialContext, TrialInput, TrialState]:
    """The trial graph, uncompiled: every node of NODES and the edges between them."""
    graph = _TrialGraph(TrialState, context_schema=TrialContext, input_schema=TrialInput)
    for name, action in NODES.items():
        graph.add_node(name, action)

    graph.add_edge(START, "profile_source")
    graph.add_conditional_edges("profile_source", routes.after_profile_source)
    for writer in ("vanilla", "fix_compile", "fix_runtime", "refactor", "next_sibling"):
        graph.add_conditional_edges(writer, routes.after_generation)
    graph.add_conditional_edges("compile_candidate", routes.after_compile)
    graph.add_conditional_edges("run_candidate", routes.after_run)
    graph.add_conditional_edges("measure_candidate", routes.after_measure)
    graph.add_conditional_edges("judge_candidate", routes.after_judge)
    graph.add_edge("pick_sibling", "confirm_candidate")
    graph.add_edge("confirm_candidate", "assess")
    graph.add_conditional_edges("assess", routes.after_assess)
    graph.add_conditional_edges(
        "summarize_docs", _unless_stopped("analyze_code"), ["analyze_code", *STAGE4]
    )
    graph.add_conditional_edges("analyze_code", _unless_stopped("plan"), ["plan", *STAGE4])
    graph.add_conditional_edges("plan", _unless_stopped("refactor"), ["refactor", *STAGE4])
    graph.add_conditional_edges("confirm_final", routes.to_stage4, ["compare", "finalize"])
    graph.add_edge("compare", "categorize")
    graph.add_edge("categorize", "finalize")
    graph.add_edge("finalize", END)
    return graph


def compile_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[TrialState, TrialContext, TrialInput, TrialState]:
    """The trial graph compiled with ``checkpointer`` (None: the server brings its own)."""
    return build_graph().compile(checkpointer=checkpointer, name="lassi-ee trial")


# The entry LangGraph Studio / `langgraph dev` serves (langgraph.json); the server
# brings its own checkpointer.
graph = compile_graph()
