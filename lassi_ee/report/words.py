"""Words about a trial's result that the console and the report pages share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lassi_ee.result import TrialResult


def stop_words(result: TrialResult) -> str:
    """Why the trial stopped, or that it has not (yet)."""
    if result.status == "unfinished":
        return f"not yet (`lassi-ee resume {result.thread_id}` continues it)"
    return result.stop_reason or "done"


def no_best_words(result: TrialResult) -> str:
    """What stands where a best version would: none was better, or none was made and why."""
    if result.status == "unfinished":
        return "no version beat the source yet"
    if result.versions > 0:
        return "no version beat the source"
    why = result.error or result.stop_reason or "the trial stopped before Stage 1"
    return f"no version was made ({why.splitlines()[0]})"


def iterations_words(result: TrialResult) -> str:
    """Its Stage-3 iterations, and how many candidates each asked for when more than one."""
    each = f" of {result.candidates_per_step} candidates" if result.candidates_per_step > 1 else ""
    return f"{result.iterations} iterations{each}"
