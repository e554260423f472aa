"""What a trial came to: its status, figures, claim and cost, read from its state.

``TrialResult`` is what the API returns and what the CLI, the reports and the campaign
store read; ``result_from_state`` makes one from a trial's state, finished or not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from lassi_ee.llm.replies import CategorizedOptimization
from lassi_ee.llm.usage import Usage
from lassi_ee.state import Candidate, TrialState, Verdict

VALID_OUTCOMES = ("improved", "not_lower")


class Figures(BaseModel):
    """Energy per run (J), average power (W) and runtime (s) of one version."""

    energy_j: float | None = None
    power_w: float | None = None
    runtime_s: float | None = None


class TrialResult(BaseModel):
    """What a trial came to: its status, figures, claim and cost, for callers and reports."""

    thread_id: str
    status: Literal["improved", "no_improvement", "failed", "unfinished", "interrupted"] = Field(
        description="interrupted: an outage (LLM server, disk, database) stopped it; resume it"
    )
    app: str | None = None
    device: str | None = None
    objective: Literal["energy", "runtime"] | None = None
    source: Figures = Field(default_factory=Figures)
    best: Figures | None = Field(
        None, description="the best version's own measurement (a screen), when the gain held"
    )
    reduction: float | None = Field(
        None,
        description="1 - best/source of the objective, from Stage 4's interleaved "
        "re-measurement of the best against the source (the paired estimate)",
    )
    reduction_ci95: tuple[float, float] | None = Field(
        None, description="95 % confidence interval of the reduction (low, high)"
    )
    screen_reduction: float | None = Field(
        None,
        description="(source - best) / source from their separate measurements: the paper's "
        "figure, kept for comparison with it; not a claim",
    )
    confirmation: str | None = Field(
        None, description="the final re-measurement in one line, or why no gain is claimed"
    )
    evidence: str | None = Field(
        None,
        description="when and on what the final re-measurement ran, its pairs, runs per "
        "window and spread: what a reviewer weighs the reduction by",
    )
    final_measured_at: dt.datetime | None = Field(
        None, description="when Stage 4's re-measurement began (UTC)"
    )
    final_sensor: str | None = Field(
        None, description="the sensor of Stage 4's re-measurement, with driver and power limit"
    )
    vanilla_confirmed_reduction: float | None = Field(
        None, description="the vanilla version's confirmed reduction against the source, if any"
    )
    best_code: str | None = None
    best_version: int | None = None
    best_iteration: int | None = None
    best_sibling: int | None = Field(
        None, description="which of its step's candidates the best version was, when several"
    )
    vanilla_outcome: str | None = None
    vanilla: Figures | None = None
    final_valid: bool = Field(False, description="some version was VALID (improved or not)")
    final: Figures | None = Field(None, description="the lowest valid version's figures")
    pipeline_s: float | None = Field(
        None, description="running time from Stage 0 to the end (not the time it lay killed)"
    )
    verdicts: dict[int, Verdict] = Field(default_factory=dict)
    versions: int = 0
    iterations: int = 0
    candidates_per_step: int = Field(
        1, description="the most candidates one of its Stage-3 steps asked for"
    )
    self_corrections: int = 0
    categories: list[CategorizedOptimization] = Field(
        default_factory=list, description="the best version's optimizations, MHO/ACE/DST/PTM"
    )
    stop_reason: str | None = None
    board_moves: list[str] = Field(
        default_factory=list,
        description="the trial resumed on another board of its device's model: what was "
        "re-measured there before a screen, with both boards' figures",
    )
    error: str | None = None
    archive_path: str | None = None
    archive_error: str | None = Field(
        None, description="why the archive is incomplete; `lassi-ee show --rewrite-archive`"
    )
    usage: Usage = Field(default_factory=Usage)


def figures_of(candidate_profile: Any) -> Figures:
    """The per-run figures of a measured profile (all None when it was not measured)."""
    if candidate_profile is None:
        return Figures()
    energy = candidate_profile.net_energy_j
    power = candidate_profile.avg_power_w
    return Figures(
        energy_j=energy.mean if energy else None,
        power_w=power.mean if power else None,
        runtime_s=candidate_profile.runtime_s.mean,
    )


def result_from_state(thread_id: str, state: TrialState, finished: bool) -> TrialResult:
    """Summarize a trial's state (finished or not) for callers and reports."""
    history: list[Candidate] = state.get("history", [])
    best = state.get("best")
    reference = state.get("reference")
    objective = state.get("objective")
    source = figures_of(reference.profile) if reference else Figures()
    vanilla = next((c for c in history if c.stage == "vanilla"), None)
    measured_valid = [
        (c.profile.stats_for(objective or "runtime").mean, c.version, c.profile)
        for c in history
        if c.outcome in VALID_OUTCOMES and c.profile is not None
    ]
    lowest = min(measured_valid, default=None)
    final_check = state.get("final_check")
    confirmed = best is not None and final_check is not None and final_check.confirmed
    status: Literal["improved", "no_improvement", "failed", "unfinished"]
    if state.get("error"):
        status = "failed"
    elif not finished:
        status = "unfinished"
    else:
        status = "improved" if confirmed else "no_improvement"
    result = TrialResult(
        thread_id=thread_id,
        status=status,
        app=state["app"].name if "app" in state else None,
        device=state["device_info"].spec if "device_info" in state else state.get("device"),
        objective=objective,
        source=source,
        vanilla_outcome=vanilla.outcome if vanilla else None,
        vanilla=figures_of(vanilla.profile) if vanilla and vanilla.profile else None,
        final_valid=lowest is not None,
        final=figures_of(lowest[2]) if lowest is not None else None,
        verdicts={c.version: c.verdict for c in history if c.verdict is not None},
        versions=len(history),
        iterations=state.get("iteration", 0),
        candidates_per_step=max((c.step_candidates for c in history), default=1),
        self_corrections=sum(1 for c in history if c.attempt > 0),
        categories=state.get("categories", []),
        stop_reason=state.get("stop_reason"),
        board_moves=state.get("board_moves", []),
        error=state.get("error"),
        archive_path=state.get("archive_path"),
        archive_error=state.get("archive_error"),
        usage=state.get("usage") or Usage(),
    )
    if "finished_unix" in state:  # the time its steps ran, not the time it lay dead
        result.pipeline_s = state.get("running_s") or state["finished_unix"] - state["started_unix"]
    if vanilla is not None and vanilla.outcome == "improved" and vanilla.confirmation:
        result.vanilla_confirmed_reduction = vanilla.confirmation.decision.reduction
    if final_check is not None:
        final = final_check.confirmation
        result.confirmation = final_check.note or (final.summary() if final else None)
        if final is not None:
            result.evidence = final.evidence()
            result.final_measured_at = final.measurement.started_at
            result.final_sensor = final.measurement.backend
    if best is not None and (confirmed or not finished):
        result.best = figures_of(best.profile)
        result.best_code = best.code
        result.best_version = best.version
        result.best_iteration = best.iteration
        result.best_sibling = best.sibling or None
        key = "energy_j" if objective == "energy" else "runtime_s"
        before, after = getattr(source, key), getattr(result.best, key)
        if before and after is not None:
            result.screen_reduction = (before - after) / before
    if confirmed and final_check is not None and final_check.confirmation is not None:
        decision = final_check.confirmation.decision
        result.reduction = decision.reduction
        result.reduction_ci95 = decision.reduction_ci95
    return result


def resume_hint(thread_id: str) -> str:
    """The one sentence that tells a user how to go on with an interrupted trial."""
    return f"`lassi-ee resume {thread_id}` continues from the last completed step"
