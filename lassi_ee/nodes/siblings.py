"""Several candidates per Stage-3 step (``candidates_per_step`` n > 1): the queue and the pick.

``refactor`` asks for n candidates from the same context and writes them all: the first
goes in flight, the others wait in ``queued_siblings``. Each is then compiled,
self-corrected, run, checked, measured (the screen) and judged by the usual nodes, one at
a time, so that every step of every sibling is checkpointed and a resumed trial repeats
none that finished. A sibling that the screen found lower and the judge called VALID is
not confirmed at once: ``next_sibling`` holds it (``screened_siblings``) while the queue
still has siblings, and once every sibling is screened ``pick_sibling`` sends the one whose
screen was lowest to ``confirm_candidate``; the others are recorded as not lower, naming
the sibling that went on.

So a step makes one confirmation at most, whatever n. The trial's level
(``DecisionRule.for_trial``: ``false_claim_rate`` split over the looks of
``max_iterations`` + 1 confirmations) holds as it is, and the confirmation measures the
chosen sibling afresh, interleaved with the best: choosing the lowest of n screens picks
what to confirm, but cannot bias the pairs the claim rests on
(benchmarks/decisions.py ``siblings`` simulates it).
"""

from __future__ import annotations

from typing import Any

from lassi_ee.state import Candidate, TrialState


def next_sibling(state: TrialState) -> dict[str, Any]:
    """The step's next queued sibling goes in flight.

    The sibling in flight, if any, is one the screen found lower and the judge VALID: it is
    held for the pick (any other was recorded by ``assess`` first).
    """
    queued = state.get("queued_siblings") or []
    assert queued, "next_sibling ran with no sibling queued"
    held = list(state.get("screened_siblings") or [])
    in_flight = state.get("candidate")
    if in_flight is not None:
        held.append(in_flight)
    return {"candidate": queued[0], "queued_siblings": queued[1:], "screened_siblings": held}


def screened_value(candidate: Candidate) -> float:
    """What the screen measured of a sibling: its objective per run (energy, or runtime)."""
    assert candidate.profile is not None, f"{candidate.label} was held unmeasured"
    return candidate.profile.objective_stats.mean


def pick_sibling(state: TrialState) -> dict[str, Any]:
    """Every sibling is screened: the lowest of those held goes on to confirmation.

    The others are done: valid, and lower than the best by their own screen, but not
    confirmed, since only one candidate of a step is.
    """
    held = list(state.get("screened_siblings") or [])
    in_flight = state.get("candidate")
    if in_flight is not None:
        held.append(in_flight)
    assert held, "pick_sibling ran with no sibling screened lower"
    chosen = min(held, key=screened_value)
    passed_over = [
        sibling.model_copy(
            update={
                "outcome": "not_lower",
                "note": f"screened lower than the best, but {chosen.label} screened lower "
                "still and went on to confirmation (one per step)",
            }
        )
        for sibling in held
        if sibling is not chosen
    ]
    return {"candidate": chosen, "screened_siblings": [], "history": passed_over}
