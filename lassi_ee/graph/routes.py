"""Conditional edges of the trial graph: pure functions of the state.

Each returns the name of the next node; the ``Literal`` return types let
``get_graph()`` (and so LangGraph Studio) draw every branch. The limits they
compare against were copied into the state when the trial started, so a
resumed trial decides exactly as the original would have.
"""

from __future__ import annotations

from typing import Literal

from lassi_ee.state import Candidate, TrialState

Stage4 = Literal["confirm_final", "compare", "finalize"]


def to_stage4(state: TrialState) -> Stage4:
    """Stage 4: the final re-measurement, then the comparison report only if it held.

    A best version is re-measured against the source first; the comparison report is written
    only when that final re-measurement confirms the gain.
    """
    if state.get("best") is None:
        return "finalize"
    final = state.get("final_check")
    if final is None:
        return "confirm_final"
    compared = state.get("comparison") or state.get("comparison_error")
    return "compare" if final.confirmed and not compared else "finalize"


def after_profile_source(state: TrialState) -> Literal["vanilla", "finalize"]:
    """A source that does not build, run or pass ends the trial at Stage 0."""
    return "finalize" if state.get("error") else "vanilla"


def after_generation(state: TrialState) -> Literal["compile_candidate", "assess"]:
    """After an LLM wrote code, or a step's next sibling went in flight: build it.

    Unless there is nothing to build: the LLM failed (the trial stops), or gave nothing
    usable, or an earlier version again (the attempt is already decided).
    """
    candidate = state.get("candidate")
    if state.get("stop_reason") or candidate is None or candidate.outcome != "pending":
        return "assess"
    return "compile_candidate"


def _can_self_correct(state: TrialState, candidate: Candidate) -> bool:
    """Stage 1 gets no self-correction; Stage 3 gets a bounded number per candidate."""
    return state["phase"] == "refactor" and candidate.attempt < state["limits"].max_self_corrections


def after_compile(state: TrialState) -> Literal["run_candidate", "fix_compile", "assess"]:
    """A build that failed may be fixed (Stage 3, within the bound); else it is assessed."""
    candidate = state["candidate"]
    assert candidate is not None and candidate.compile is not None
    if candidate.compile.ok:
        return "run_candidate"
    return "fix_compile" if _can_self_correct(state, candidate) else "assess"


def after_run(state: TrialState) -> Literal["measure_candidate", "fix_runtime", "assess"]:
    """A run that failed may be fixed; outputs the check rejects go straight to assessment."""
    candidate = state["candidate"]
    assert candidate is not None and candidate.run is not None
    if candidate.run.ok:
        return (
            "assess"
            if candidate.check is not None and candidate.check.vetoes
            else "measure_candidate"
        )
    return "fix_runtime" if _can_self_correct(state, candidate) else "assess"


def after_measure(state: TrialState) -> Literal["measure_candidate", "judge_candidate", "assess"]:
    """A measured candidate goes to the judge; one left unmeasured is assessed.

    A step that re-measured the source or the best on a board the trial moved to
    (nodes/boards.py) leaves the candidate untouched: the step comes again, for the other
    one or for the candidate. A re-measurement that failed stops the trial.
    """
    candidate = state["candidate"]
    if state.get("stop_reason") or candidate is None:
        return "assess"
    if candidate.profile is not None:
        return "judge_candidate"
    untouched = not candidate.note and (candidate.run is None or candidate.run.ok)
    return "measure_candidate" if untouched and state.get("board_moves") else "assess"


def after_judge(
    state: TrialState,
) -> Literal["confirm_candidate", "next_sibling", "pick_sibling", "assess"]:
    """A valid candidate that the screen found lower is confirmed before it can win.

    In a step of several candidates it waits for its siblings' screens (next_sibling holds
    it), and only the lowest of the step's is confirmed (pick_sibling chooses it).
    """
    candidate = state["candidate"]
    assert candidate is not None
    valid = candidate.verdict is not None and candidate.verdict.verdict == "VALID"
    if state.get("stop_reason") or not valid or not candidate.screened_lower:
        return "assess"
    if candidate.step_candidates == 1:
        return "confirm_candidate"
    return "next_sibling" if state.get("queued_siblings") else "pick_sibling"


def after_assess(
    state: TrialState,
) -> Literal[
    "summarize_docs",
    "analyze_code",
    "refactor",
    "next_sibling",
    "pick_sibling",
    "confirm_final",
    "compare",
    "finalize",
]:
    """After assessment: Stage 2 after Stage 1, then refactorings until the stopping rule.

    In Stage 3 a step's next sibling comes first, then the pick among those the screen
    found lower; once the step is done, a new best gets a new analysis and plan, anything
    else another refactoring under the same plan.
    """
    if state.get("stop_reason"):
        return to_stage4(state)
    if state["phase"] == "vanilla":
        return "summarize_docs"
    if state.get("queued_siblings"):
        return "next_sibling"
    if state.get("screened_siblings"):
        return "pick_sibling"
    if state["history"] and state["history"][-1].outcome == "improved":
        return "analyze_code"
    return "refactor"
