"""The Python API: run a trial, resume one; ``TrialResult`` says what it came to.

A trial is driven through the one door to stored trials (trials.py), which also reads
trials that already ran (``lassi-ee trials``, ``show``, the reports).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from lassi_ee.apps import load_app
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import LassiError, TrialInterrupted, UsageError, disk_failure
from lassi_ee.graph.names import NodeName
from lassi_ee.llm.gate import RequestGate
from lassi_ee.nodes.common import TrialContext, trial_files
from lassi_ee.result import TrialResult, resume_hint
from lassi_ee.settings import Settings, load_settings
from lassi_ee.thread_ids import check_thread_id, thread_name
from lassi_ee.tools.compile import require_device_for
from lassi_ee.trials import (
    TrialStore,
    database_exists,
    database_failure,
    open_trials,
    unknown_trial,
)

__all__ = ["OnStart", "OnUpdate", "TrialResult", "new_thread_id", "resume_graph", "run_graph"]

log = logging.getLogger(__name__)
OnUpdate = Callable[[NodeName, dict[str, Any]], None]
OnStart = Callable[[str], object]


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
    return database_failure(error, settings)


@contextmanager
def _driving(
    thread_id: str, settings: Settings, checkpointer: BaseCheckpointSaver | None
) -> Iterator[TrialStore]:
    """The trial's checkpoints and graph, with this process as the trial's one driver.

    An outage while the checkpoints are opened or read is one LassiError.
    """
    with (
        _stopped_in_one_line(thread_id, settings),
        open_trials(settings, checkpointer=checkpointer) as trials,
        trials.driven_here(thread_id),
    ):
        yield trials


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
    trials: TrialStore,
    graph_input: Any,
    thread_id: str,
    context: TrialContext,
    on_update: OnUpdate | None,
) -> TrialResult:
    """Run the trial's steps to the end, or until an outage interrupts it.

    An interrupted trial is not finalized: its result says what failed and how to resume.
    """
    try:
        _stream(trials.graph, graph_input, thread_id, context, on_update)
    except Exception as error:
        what = outage(error, context.settings)
        if what is None:
            raise
        log.warning("trial %s interrupted: %s", thread_id, what)
        reason = f"interrupted: {what}; {resume_hint(thread_id)}"
        try:
            so_far = trials.result(thread_id)
        except Exception:  # the checkpoint database itself is what failed
            so_far = TrialResult(thread_id=thread_id, status="interrupted")
        return so_far.model_copy(update={"status": "interrupted", "stop_reason": reason})
    return trials.result(thread_id)


def _stream(
    graph: Any,
    graph_input: Any,
    thread_id: str,
    context: TrialContext,
    on_update: OnUpdate | None,
) -> None:
    # durability="sync": each step's checkpoint is on disk before the next step starts,
    # so a trial killed at any moment repeats no completed step when resumed. Each
    # checkpoint's metadata carries the settings its step ran with.
    record = json.dumps(context.settings.trial_record(), sort_keys=True)
    config = {"configurable": {"thread_id": thread_id}, "metadata": {"lassi_settings": record}}
    chunks = graph.stream(
        graph_input, config, context=context, stream_mode="updates", durability="sync"
    )
    for chunk in chunks:
        for node, update in chunk.items():
            if on_update is not None and isinstance(update, dict):
                on_update(node, update)


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
    with _driving(thread_id, settings, checkpointer) as trials:
        if trials.read(thread_id) is not None:
            raise UsageError(
                f"trial {thread_id} already exists: `lassi-ee resume {thread_id}` continues it"
            )
        trial_input = {"source": str(source), "device": device, "args": args}
        if on_start is not None:
            on_start(thread_id)
        return _run_steps(trials, trial_input, thread_id, context, on_update)


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
    device: str | None = None,
) -> TrialResult:
    """Continue a trial from its last completed step; a finished trial is just read.

    The trial goes on with the settings it started with (recorded at Stage 0), taking
    from ``settings`` only what belongs to this machine (the API key, paths, locks), and on
    its device as this machine resolves it: resumed on another board of the same model,
    it re-measures its baselines there before the next screen (nodes/boards.py).
    ``overrides`` (setting name -> value, e.g. the CLI's --base-url) replace recorded
    ones explicitly and become the trial's own: each change is logged and kept in the
    trial ("resumed with base_url X instead of Y"); what the trial's figures depend on
    (repeats, thresholds, limits) cannot change. ``on_start(thread_id)`` is called when
    the trial really continues. ``device`` is the spec to resume on where an engine
    assigned one (a Ray retry's ``cuda:0``); default the spec the trial started on.
    """
    check_thread_id(thread_id)
    settings = settings or load_settings()
    if checkpointer is None and not database_exists(settings):
        raise unknown_trial(thread_id, settings)  # and no empty database is left behind
    with _driving(thread_id, settings, checkpointer) as trials:
        stored = trials.read(thread_id)
        if stored is None:
            raise unknown_trial(thread_id, settings)
        if stored.finished:
            return stored.result
        pinned = stored.state.get("device_info")
        if pinned is not None:  # its device here may be another board (another host's)
            trials.repin_device(thread_id, resolve_device(device or pinned.spec))
        settings, changes = _settings_to_resume_with(
            thread_id, stored.state.get("trial_settings"), settings, dict(overrides or {})
        )
        context = TrialContext(settings=settings, models=models, request_gate=request_gate)
        context.llm()
        if changes:  # from now on the trial's own settings, with the change noted
            record = settings.trial_record()
            trials.update(thread_id, {"trial_settings": record, "resumed_with": changes})
        if on_start is not None:
            on_start(thread_id)
        return _run_steps(trials, None, thread_id, context, on_update)


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
