"""The Python API: run a trial, resume one, read its result."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import StateSnapshot
from pydantic import BaseModel, Field

from lassi_ee.apps import load_app
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import LassiError, TrialInterrupted, UsageError, disk_failure
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.checkpoint import (
    checkpoints_exist,
    open_checkpointer,
    redacted,
    trial_lock,
)
from lassi_ee.graph.names import NodeName
from lassi_ee.llm.gate import RequestGate
from lassi_ee.llm.replies import CategorizedOptimization
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.common import TrialContext, trial_files
from lassi_ee.settings import Settings, load_settings
from lassi_ee.state import Candidate, TrialState, Verdict
from lassi_ee.thread_ids import check_thread_id, thread_name
from lassi_ee.tools.compile import require_device_for

log = logging.getLogger(__name__)
OnUpdate = Callable[[NodeName, dict[str, Any]], None]
OnStart = Callable[[str], object]
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
        key = "energy_j" if objective == "energy" else "runtime_s"
        before, after = getattr(source, key), getattr(result.best, key)
        if before and after is not None:
            result.screen_reduction = (before - after) / before
    if confirmed and final_check is not None and final_check.confirmation is not None:
        decision = final_check.confirmation.decision
        result.reduction = decision.reduction
        result.reduction_ci95 = decision.reduction_ci95
    return result


@contextmanager
def _checkpointer(
    given: BaseCheckpointSaver | None, settings: Settings
) -> Iterator[BaseCheckpointSaver]:
    if given is not None:
        yield given
    else:
        with open_checkpointer(
            settings.checkpoint_url, settings.checkpoint_lock_timeout_s
        ) as saver:
            yield saver


def outage(error: BaseException, settings: Settings) -> str | None:
    """What failed, when ``error`` is an outage that interrupts a trial rather than ending it.

    An outage is the LLM server, the disk or the checkpoint database failing; None for any
    other error.
    """
    if isinstance(error, TrialInterrupted):
        return str(error)
    disk = disk_failure(error, trial_files(settings))
    if disk is not None:
        return str(disk)
    if _is_database_failure(error):
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (
            f"checkpoint database {redacted(settings.checkpoint_url)} failed ({detail}): wait "
            "for the process that holds it, or free space on its disk"
        )
    return None


def _is_database_failure(error: BaseException) -> bool:
    """Locked, damaged, full or unreachable; not a mistake in a query."""
    if isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError:
        return True
    try:
        from psycopg import OperationalError
    except ImportError:
        return False
    return isinstance(error, OperationalError)


@contextmanager
def _driving(
    thread_id: str, settings: Settings, checkpointer: BaseCheckpointSaver | None
) -> Iterator[Any]:
    """The trial graph on its checkpoints, with this process as the trial's one driver.

    An outage while the checkpoints are opened or read is one LassiError.
    """
    with (
        _stopped_in_one_line(thread_id, settings),
        _checkpointer(checkpointer, settings) as saver,
        trial_lock(settings.checkpoint_url, thread_id),  # one driver per trial
    ):
        yield compile_graph(saver)


def resume_hint(thread_id: str) -> str:
    """The one sentence that tells a user how to go on with an interrupted trial."""
    return f"`lassi-ee resume {thread_id}` continues from the last completed step"


@contextmanager
def _stopped_in_one_line(thread_id: str, settings: Settings) -> Iterator[None]:
    """An outage outside the trial's steps becomes one LassiError that says how to go on.

    Such an outage hits while the checkpoints are opened or read.
    """
    try:
        yield
    except Exception as error:
        what = outage(error, settings)
        if what is None:
            raise
        raise LassiError(f"{what}; then {resume_hint(thread_id)}") from None


def _run_steps(
    graph: Any,
    graph_input: Any,
    config: RunnableConfig,
    context: TrialContext,
    on_update: OnUpdate | None,
) -> TrialResult:
    """Run the trial's steps to the end, or until an outage interrupts it.

    An interrupted trial is not finalized: its result says what failed and how to resume.
    """
    thread_id = config["configurable"]["thread_id"]
    try:
        _stream(graph, graph_input, config, context, on_update)
    except Exception as error:
        what = outage(error, context.settings)
        if what is None:
            raise
        log.warning("trial %s interrupted: %s", thread_id, what)
        reason = f"interrupted: {what}; {resume_hint(thread_id)}"
        try:
            so_far = result_of(thread_id, graph.get_state(config))
        except Exception:  # the checkpoint database itself is what failed
            so_far = TrialResult(thread_id=thread_id, status="interrupted")
        return so_far.model_copy(update={"status": "interrupted", "stop_reason": reason})
    return result_of(thread_id, graph.get_state(config))


def _stream(
    graph: Any,
    graph_input: Any,
    config: RunnableConfig,
    context: TrialContext,
    on_update: OnUpdate | None,
) -> None:
    # durability="sync": each step's checkpoint is on disk before the next step starts,
    # so a trial killed at any moment repeats no completed step when resumed. Each
    # checkpoint's metadata carries the settings its step ran with.
    record = json.dumps(context.settings.trial_record(), sort_keys=True)
    config = {**config, "metadata": {**config.get("metadata", {}), "lassi_settings": record}}
    chunks = graph.stream(
        graph_input, config, context=context, stream_mode="updates", durability="sync"
    )
    for chunk in chunks:
        for node, update in chunk.items():
            if on_update is not None and isinstance(update, dict):
                on_update(node, update)


def result_of(thread_id: str, snapshot: StateSnapshot) -> TrialResult:
    """The result of a trial as its latest checkpoint has it (finished or not).

    A step that failed there (LangGraph keeps its error) means the trial was interrupted.
    """
    result = result_from_state(thread_id, cast(TrialState, snapshot.values), not snapshot.next)
    failed = [task for task in snapshot.tasks if task.error] if snapshot.next else []
    if failed and result.status == "unfinished":
        error = str(failed[0].error)
        what = error.removeprefix(TrialInterrupted.MARK)
        if what == error:  # not one of ours: a step that crashed
            what = f"step {failed[0].name} failed: {error}"
        result.status = "interrupted"
        result.stop_reason = f"interrupted: {what}; {resume_hint(thread_id)}"
    return result


def unknown_trial(thread_id: str, settings: Settings) -> UsageError:
    """The error for a thread id the checkpoint database does not hold, and where to look."""
    missing = "" if checkpoints_exist(settings.checkpoint_url) else " (there is no such file)"
    return UsageError(
        f"no trial {thread_id} in {settings.checkpoint_url}{missing}: see `lassi-ee trials`"
    )


def new_thread_id(source: str | Path) -> str:
    """A fresh id named after the source: ``heat2d-1a2b3c4d``."""
    return f"{thread_name(Path(source).stem)[:100]}-{uuid.uuid4().hex[:8]}"


def run_graph(
    source: str | Path,
    device: str = "auto",
    *,
    thread_id: str | None = None,
    settings: Settings | None = None,
    models: Any | Mapping[str, Any] | None = None,
    checkpointer: BaseCheckpointSaver | None = None,
    args: list[str] | None = None,
    on_update: OnUpdate | None = None,
    request_gate: RequestGate | None = None,
    on_start: OnStart | None = None,
) -> TrialResult:
    """Run one LASSI-EE trial of ``source`` on ``device`` and return its result.

    Bad input (a missing source, an unknown device, a model setting that cannot
    work) raises a UsageError/LassiError before anything starts. ``models`` is one
    LangChain chat model or a mapping role/group -> model; None uses settings.
    ``request_gate`` limits concurrent LLM requests (see lassi_ee.llm.gate).
    ``on_start(thread_id)`` is called once every check has passed and the trial starts.
    """
    settings = settings or load_settings()
    if thread_id is not None:
        check_thread_id(thread_id)
    require_device_for(load_app(source, args), resolve_device(device))
    context = TrialContext(settings=settings, models=models, request_gate=request_gate)
    context.llm()  # a model that cannot be built fails here, in one line
    thread_id = thread_id or new_thread_id(source)
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with _driving(thread_id, settings, checkpointer) as graph:
        if graph.get_state(config).values:
            raise UsageError(
                f"trial {thread_id} already exists: `lassi-ee resume {thread_id}` continues it"
            )
        trial_input = {"source": str(source), "device": device, "args": args}
        if on_start is not None:
            on_start(thread_id)
        return _run_steps(graph, trial_input, config, context, on_update)


def resume_graph(
    thread_id: str,
    *,
    settings: Settings | None = None,
    overrides: Mapping[str, Any] | None = None,
    models: Any | Mapping[str, Any] | None = None,
    checkpointer: BaseCheckpointSaver | None = None,
    on_update: OnUpdate | None = None,
    request_gate: RequestGate | None = None,
    on_start: OnStart | None = None,
) -> TrialResult:
    """Continue a trial from its last completed step; a finished trial is just read.

    The trial goes on with the settings it started with (recorded at Stage 0), taking
    from ``settings`` only what belongs to this machine (the API key, paths, locks).
    ``overrides`` (setting name -> value, e.g. the CLI's --base-url) replace recorded
    ones explicitly and become the trial's own: each change is logged and kept in the
    trial ("resumed with base_url X instead of Y"); what the trial's figures depend on
    (repeats, thresholds, limits) cannot change. ``on_start(thread_id)`` is called when
    the trial really continues.
    """
    check_thread_id(thread_id)
    settings = settings or load_settings()
    if checkpointer is None and not checkpoints_exist(settings.checkpoint_url):
        raise unknown_trial(thread_id, settings)  # and no empty database is left behind
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with _driving(thread_id, settings, checkpointer) as graph:
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise unknown_trial(thread_id, settings)
        if not snapshot.next:
            return result_of(thread_id, snapshot)
        settings, changes = _settings_to_resume_with(
            thread_id, snapshot.values.get("trial_settings"), settings, dict(overrides or {})
        )
        context = TrialContext(settings=settings, models=models, request_gate=request_gate)
        context.llm()
        if changes:  # from now on the trial's own settings, with the change noted
            record = settings.trial_record()
            graph.update_state(config, {"trial_settings": record, "resumed_with": changes})
        if on_start is not None:
            on_start(thread_id)
        return _run_steps(graph, None, config, context, on_update)


def _settings_to_resume_with(
    thread_id: str, record: dict[str, Any] | None, given: Settings, overrides: dict[str, Any]
) -> tuple[Settings, list[str]]:
    """The trial's own settings with this machine's and the overrides; the changes."""
    if record is None:  # cut off before Stage 0 recorded them: nothing to keep yet
        return given.with_overrides(**overrides), []
    settings, changes = given.resumed(record, overrides)
    for change in changes:
        log.warning("trial %s %s", thread_id, change)
    ambient = given.trial_record()
    ignored = sorted(
        name
        for name, value in record.items()
        if name not in overrides and name in ambient and ambient[name] != value
    )
    if ignored:
        log.warning(
            "trial %s keeps the settings it started with: %s here differ and are not used "
            "(a flag such as --base-url or --model overrides one)",
            thread_id,
            ", ".join(ignored),
        )
    return settings, changes
