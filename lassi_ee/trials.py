"""Stored trials: the one door to the checkpoint database.

Only this module opens the checkpointer (graph/checkpoint.py knows how, for SQLite and
PostgreSQL), compiles the trial graph on it, reads threads, snapshots and results, and
re-pins a cut-off trial to the device it resumes on. The API drives its trials through
``open_trials``; the CLI, the reports and the campaigns read theirs through the functions
below, so that none of them needs to know what a checkpoint is.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NamedTuple, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import StateSnapshot
from pydantic import BaseModel

from lassi_ee.devices import Device
from lassi_ee.errors import LassiError, TrialInterrupted, UsageError
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.checkpoint import (
    checkpoints_exist,
    is_postgres,
    open_checkpointer,
    redacted,
    trial_lock,
)
from lassi_ee.nodes.finalize import write_archive
from lassi_ee.result import TrialResult, result_from_state, resume_hint
from lassi_ee.settings import Settings
from lassi_ee.state import TrialState
from lassi_ee.thread_ids import check_thread_id

log = logging.getLogger(__name__)

__all__ = [
    "StoredTrial",
    "TrialRow",
    "TrialStore",
    "database_exists",
    "database_failure",
    "is_postgres",
    "list_trials",
    "open_trials",
    "read_trial",
    "show_trial",
    "unknown_trial",
]


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


class StoredTrial(NamedTuple):
    """One trial as its latest checkpoint has it."""

    state: TrialState
    next_steps: tuple[str, ...]
    """The steps that run next when it resumes; none once it has finished."""
    result: TrialResult

    @property
    def finished(self) -> bool:
        """Whether the trial ran to its end."""
        return not self.next_steps


class TrialStore:
    """The trials of one open checkpoint database, with the trial graph compiled on it."""

    def __init__(self, saver: BaseCheckpointSaver, url: str) -> None:
        self.saver = saver
        self.url = url
        self.graph = compile_graph(saver)

    def thread_ids(self) -> list[str]:
        """Every trial in the database, in order."""
        return sorted({c.config["configurable"]["thread_id"] for c in self.saver.list(None)})

    def started(self, thread_id: str) -> bool:
        """Whether the trial has a checkpoint: a cheap look, for many trials at once."""
        return self.saver.get_tuple(_config(thread_id)) is not None

    def read(self, thread_id: str) -> StoredTrial | None:
        """The trial as its latest checkpoint has it; None when there is no such trial."""
        snapshot = self.graph.get_state(_config(thread_id))
        if not snapshot.values:
            return None
        state = cast(TrialState, snapshot.values)
        return StoredTrial(state, tuple(snapshot.next), _result_of(thread_id, snapshot))

    def result(self, thread_id: str) -> TrialResult:
        """The trial's result as its latest checkpoint has it, whatever it holds so far."""
        return _result_of(thread_id, self.graph.get_state(_config(thread_id)))

    def history(self, thread_id: str) -> list[StateSnapshot]:
        """Every checkpoint of the trial, the newest first."""
        return list(self.graph.get_state_history(_config(thread_id)))

    def update(self, thread_id: str, values: dict[str, Any], as_node: str | None = None) -> None:
        """A new checkpoint of the trial with ``values`` written in, as if ``as_node`` ran."""
        self.graph.update_state(_config(thread_id), values, as_node=as_node)

    def repin_device(self, thread_id: str, device: Device) -> None:
        """Point a cut-off trial at the device it resumes on, when that is another one of the
        same model (a Ray retry on another GPU or node): its programs then run and are
        measured where this process may run them. Stage 0's figures are kept, and replaced
        by the source's on the new board before the next screen (nodes/boards.py); another
        model is an error.
        """
        pinned: Device | None = self.graph.get_state(_config(thread_id)).values.get("device_info")
        if pinned is None or device == pinned:  # before Stage 0's end it resolves it itself
            return
        if (device.kind, device.name, device.arch) != (pinned.kind, pinned.name, pinned.arch):
            raise LassiError(
                f"trial {thread_id} started on {pinned.facts()} and cannot resume on "
                f"{device.facts()}: give its campaign one GPU model per device (for Ray, an "
                "accelerator_type resource; see docs/SCALEOUT.md)"
            )
        log.warning(
            "trial %s resumes on %s (board %s), not %s (board %s), where it started; it "
            "re-measures the source and its best version there before it screens against them",
            thread_id,
            device.spec,
            device.board or device.visible_id,
            pinned.spec,
            pinned.board or pinned.visible_id or "unrecorded",
        )
        self.update(thread_id, {"device_info": device})

    def driven_here(self, thread_id: str) -> AbstractContextManager[None]:
        """This process as the trial's one driver while the block runs (see trial_lock)."""
        return trial_lock(self.url, thread_id)


@contextmanager
def open_trials(
    settings: Settings,
    *,
    create: bool = True,
    checkpointer: BaseCheckpointSaver | None = None,
) -> Iterator[TrialStore]:
    """The trials of the settings' checkpoint database, open while the block runs.

    Opening a new database creates it (a SQLite file in WAL mode, so that the workers of
    several devices write at once). ``create=False`` is for commands that read trials: a
    SQLite file that is not there is a UsageError and none is made. ``checkpointer`` (a
    caller's own, or one a campaign worker holds open) serves instead of opening one.
    """
    if checkpointer is not None:
        yield TrialStore(checkpointer, settings.checkpoint_url)
        return
    url = settings.checkpoint_url
    with open_checkpointer(url, settings.checkpoint_lock_timeout_s, create=create) as saver:
        yield TrialStore(saver, url)


def _result_of(thread_id: str, snapshot: StateSnapshot) -> TrialResult:
    """The result of a trial as a checkpoint has it (finished or not).

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


def database_failure(error: BaseException, settings: Settings) -> str | None:
    """What failed, when ``error`` is the checkpoint database failing (locked, damaged, full
    or unreachable; not a mistake in a query); None for any other error."""
    if not _is_database_failure(error):
        return None
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"checkpoint database {redacted(settings.checkpoint_url)} failed ({detail}): wait "
        "for the process that holds it, or free space on its disk"
    )


def _is_database_failure(error: BaseException) -> bool:
    if isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError:
        return True
    try:
        from psycopg import OperationalError
    except ImportError:
        return False
    return isinstance(error, OperationalError)


def database_exists(settings: Settings) -> bool:
    """Whether there is a checkpoint database to read (a Postgres one is assumed to be)."""
    return checkpoints_exist(settings.checkpoint_url)


def unknown_trial(thread_id: str, settings: Settings) -> UsageError:
    """The error for a thread id the checkpoint database does not hold, and where to look."""
    missing = "" if database_exists(settings) else " (there is no such file)"
    return UsageError(
        f"no trial {thread_id} in {settings.checkpoint_url}{missing}: see `lassi-ee trials`"
    )


def read_trial(thread_id: str, settings: Settings) -> StoredTrial:
    """One trial of the checkpoint database; an unknown one is a UsageError (and no empty
    database is left behind)."""
    if not database_exists(settings):
        raise unknown_trial(thread_id, settings)
    with open_trials(settings, create=False) as trials:
        stored = trials.read(thread_id)
    if stored is None:
        raise unknown_trial(thread_id, settings)
    return stored


class TrialRow(BaseModel):
    thread_id: str
    status: str
    app: str | None
    summary: str


def _summary(result: TrialResult) -> str:
    if result.error:
        return result.error.splitlines()[0]
    if result.status == "interrupted" and result.stop_reason:
        return result.stop_reason.removeprefix("interrupted: ")
    if result.reduction is not None:
        return f"best v{result.best_version}: {result.objective} {-result.reduction:+.1%} vs source"
    return f"{result.versions} versions so far" if result.status == "unfinished" else "no gain"


def list_trials(settings: Settings) -> list[TrialRow]:
    """Every trial in the checkpoint database; none when there is no database (and none is
    made: a mistyped path must not leave an empty one behind)."""
    if not database_exists(settings):
        return []
    with open_trials(settings, create=False) as trials:
        results = [trials.result(thread) for thread in trials.thread_ids()]
    return [
        TrialRow(thread_id=r.thread_id, status=r.status, app=r.app, summary=_summary(r))
        for r in results
    ]


def show_trial(thread_id: str, settings: Settings, rewrite_archive: bool = False) -> TrialResult:
    """One trial's result; ``rewrite_archive`` writes its archive again from the checkpoint
    (after a full disk, say) and records that it is now complete."""
    check_thread_id(thread_id)
    if not rewrite_archive:
        return read_trial(thread_id, settings).result
    if not database_exists(settings):
        raise unknown_trial(thread_id, settings)
    with open_trials(settings, create=False) as trials:
        stored = trials.read(thread_id)
        if stored is None:
            raise unknown_trial(thread_id, settings)
        root = Path(settings.runs_dir) / thread_id
        try:
            write_archive(stored.state, root)
        except OSError as error:
            raise LassiError(f"cannot rewrite the archive in {root}: {error}") from None
        if stored.state.get("archive_error") and stored.finished:
            repaired = {"archive_path": str(root), "archive_error": None}
            trials.update(thread_id, repaired, as_node="finalize")
            return trials.result(thread_id)
    return stored.result
