"""Each finished step of a trial in words: a line for the log, a few for the live panel.

A step is a node of the trial graph that has just finished, with the state
update it returned. ``STEP_WORDS`` holds one function per node; each says, in
one place, both what the plain log prints (``line``, None when the step is not
worth a line) and what the live panel's "last step" column shows (``brief``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from lassi_ee.graph.names import NodeName, StageNumber

if TYPE_CHECKING:
    from lassi_ee.state import Candidate


class StepWords(NamedTuple):
    """What one finished step did, for the log and for the live panel."""

    line: str | None  # "  compile ok (1.2 s)"; None: no line in the log
    brief: str  # "v5 compile ok"


STAGE_WORDS: dict[StageNumber, str] = {
    0: "0: measure the source",
    1: "1: vanilla refactoring",
    2: "2: context and plan",
    3: "3: refactor, check, measure",
    4: "4: compare and archive",
}


def step_words(node: NodeName, update: dict[str, Any]) -> StepWords:
    """The words for ``node`` having returned ``update``."""
    return STEP_WORDS[node](node, update)


def _plain(node: str, candidate: Candidate | None) -> str:
    """The node's name, after the version it worked on when there is one."""
    words = node.replace("_", " ")
    return words if candidate is None else f"v{candidate.version}: {words}"


def _profile_source(node: str, update: dict[str, Any]) -> StepWords:
    if update.get("error"):
        line = f"stage 0: {update['error'].splitlines()[0]}"
    else:
        reference = update["reference"]
        cached = " (cached)" if reference.from_cache else ""
        line = f"stage 0: source {reference.profile.summary()}{cached}"
    return StepWords(line, _plain(node, update.get("candidate")))


def _wrote(node: str, update: dict[str, Any]) -> StepWords:
    """A new version, and in a step of several candidates its siblings, queued behind it."""
    candidate = update.get("candidate")
    if candidate is None:
        return StepWords(None, _plain(node, None))
    queued = update.get("queued_siblings") or []
    if not queued:
        return StepWords(f"{node}: wrote {candidate.label}", f"wrote v{candidate.version}")
    written = f"v{candidate.version}-v{queued[-1].version}"
    line = f"{node}: wrote {written}, {candidate.step_candidates} candidates of one step"
    return StepWords(line, f"wrote {written}")


def _sibling_in_flight(node: str, update: dict[str, Any]) -> StepWords:
    """The step's next sibling is evaluated now (the one before it may wait for the pick)."""
    candidate = update["candidate"]
    held = update.get("screened_siblings") or []
    waiting = f"; {len(held)} screened lower, waiting for the pick" if held else ""
    line = f"next sibling: {candidate.label}{waiting}"
    return StepWords(line, f"v{candidate.version}: sibling {candidate.sibling}")


def _sibling_picked(node: str, update: dict[str, Any]) -> StepWords:
    """The lowest screened sibling goes on to confirmation; the others are not lower."""
    chosen = update["candidate"]
    passed_over = ", ".join(f"v{sibling.version}" for sibling in update.get("history", []))
    others = f"; passed over: {passed_over}" if passed_over else ""
    line = f"  picked {chosen.label} to confirm: the lowest screen of its step{others}"
    return StepWords(line, f"v{chosen.version} picked to confirm")


def _fixed(node: str, update: dict[str, Any]) -> StepWords:
    """A fix written (the failed version goes to the history), or none to build: the
    reply had no program, or was an earlier version again, and the failure stands."""
    candidate = update.get("candidate")
    if candidate is None:
        return StepWords(None, _plain(node, None))
    if not update.get("history"):
        return StepWords(f"{node}: {candidate.note}", f"v{candidate.version} not fixed")
    brief = f"wrote v{candidate.version}, a fix of v{update['history'][-1].version}"
    return StepWords(f"{node}: wrote {candidate.label}", brief)


def _compiled(node: str, update: dict[str, Any]) -> StepWords:
    candidate = update.get("candidate")
    if candidate is None or candidate.compile is None:
        return StepWords(None, _plain(node, candidate))
    status = "ok" if candidate.compile.ok else "FAILED"
    line = f"  compile {status} ({candidate.compile.duration_s:.1f} s)"
    return StepWords(line, f"v{candidate.version} compile {status}")


def _ran(node: str, update: dict[str, Any]) -> StepWords:
    candidate = update.get("candidate")
    if candidate is None or candidate.run is None:
        return StepWords(None, _plain(node, candidate))
    v, run, check = f"v{candidate.version}", candidate.run, candidate.check
    if not run.ok:
        return StepWords(f"  run FAILED: {run.failure}", f"{v} run FAILED")
    if check is None:
        return StepWords("  run ok; check: -", f"{v} run ok")
    vetoing = "; ".join(guard.text for guard in check.guards if guard.vetoes)
    line = f"  run ok; check: {check.finding}" + (f"; static guard {vetoing}" if vetoing else "")
    brief = f"{v} run ok, vetoed by the output check" if check.vetoes else f"{v} run ok"
    return StepWords(line, brief)


def _measured(node: str, update: dict[str, Any]) -> StepWords:
    if update.get("board_moves"):  # the trial moved: a baseline re-measured on its board
        return StepWords(f"  {update['board_moves'][-1]}", "re-measured on the new board")
    candidate = update.get("candidate")
    if candidate is None:
        stop = update.get("stop_reason")
        return StepWords(f"  {stop}" if stop else None, _plain(node, None))
    v = f"v{candidate.version}"
    if candidate.profile is None:
        return StepWords(f"  measured: {candidate.note}", f"{v} not measured")
    screen = "; screen: lower, to be confirmed" if candidate.screened_lower else ""
    return StepWords(f"  measured: {candidate.profile.summary()}{screen}", f"{v} measured")


def _judged(node: str, update: dict[str, Any]) -> StepWords:
    candidate = update.get("candidate")
    if candidate is None or candidate.verdict is None:
        return StepWords(None, _plain(node, candidate))
    verdict = candidate.verdict.verdict
    return StepWords(f"  judge: {verdict}", f"v{candidate.version} judged {verdict}")


def _confirmed(node: str, update: dict[str, Any]) -> StepWords:
    candidate = update.get("candidate")
    if candidate is None:
        return StepWords(None, _plain(node, None))
    confirmation = candidate.confirmation
    if confirmation is None:
        line = f"  confirmation: {candidate.note or 'none'}"
    else:
        line = f"  confirmation: {confirmation.summary()}"
    claimed = confirmation is not None and confirmation.decision.claimed
    lower = "confirmed lower" if claimed else "not confirmed lower"
    return StepWords(line, f"v{candidate.version} {lower}")


def _assessed(node: str, update: dict[str, Any]) -> StepWords:
    if not update.get("history"):
        return StepWords(None, _plain(node, update.get("candidate")))
    done = update["history"][-1]
    stopping = f"; stopping: {update['stop_reason']}" if update.get("stop_reason") else ""
    temperature = f", temperature {update['temperature']:.1f}" if "temperature" in update else ""
    line = f"  -> {done.label}: {done.outcome}{temperature}{stopping}"
    return StepWords(line, f"v{done.version}: {done.outcome}")


def _asked(node: str, update: dict[str, Any]) -> StepWords:
    """A context step (docs summary, analysis, plan, comparison): done, or why not."""
    line = f"{node}: {update['stop_reason']}" if update.get("stop_reason") else f"{node}: done"
    return StepWords(line, _plain(node, update.get("candidate")))


def _confirmed_final(node: str, update: dict[str, Any]) -> StepWords:
    final = update.get("final_check")
    if final is None:
        return StepWords(None, _plain(node, update.get("candidate")))
    held = final.confirmation.summary() if final.confirmation else ""
    gain = "gain confirmed" if final.confirmed else "no gain"
    line = f"stage 4: {final.note or held}"
    if final.confirmation:
        line += f"\n  {final.confirmation.evidence()}"
    return StepWords(line, f"final re-measurement: {gain}")


def _categorized(node: str, update: dict[str, Any]) -> StepWords:
    return StepWords(None, _plain(node, update.get("candidate")))


def _finalized(node: str, update: dict[str, Any]) -> StepWords:
    line = f"finalize: archive in {update.get('archive_path')}"
    return StepWords(line, _plain(node, update.get("candidate")))


STEP_WORDS: dict[NodeName, Callable[[str, dict[str, Any]], StepWords]] = {
    "profile_source": _profile_source,
    "vanilla": _wrote,
    "compile_candidate": _compiled,
    "fix_compile": _fixed,
    "run_candidate": _ran,
    "fix_runtime": _fixed,
    "measure_candidate": _measured,
    "judge_candidate": _judged,
    "next_sibling": _sibling_in_flight,
    "pick_sibling": _sibling_picked,
    "confirm_candidate": _confirmed,
    "assess": _assessed,
    "summarize_docs": _asked,
    "analyze_code": _asked,
    "plan": _asked,
    "refactor": _wrote,
    "confirm_final": _confirmed_final,
    "compare": _asked,
    "categorize": _categorized,
    "finalize": _finalized,
}
