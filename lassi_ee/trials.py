"""Trials already in the checkpoint database: list them, show one, rewrite its archive."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from lassi_ee.api import TrialResult, result_of, unknown_trial
from lassi_ee.errors import LassiError
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.checkpoint import checkpoints_exist, open_checkpointer
from lassi_ee.nodes.finalize import write_archive
from lassi_ee.settings import Settings
from lassi_ee.state import TrialState
from lassi_ee.thread_ids import check_thread_id


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
    if not checkpoints_exist(settings.checkpoint_url):
        return []
    with open_checkpointer(
        settings.checkpoint_url, settings.checkpoint_lock_timeout_s, create=False
    ) as saver:
        graph = compile_graph(saver)
        threads = sorted({c.config["configurable"]["thread_id"] for c in saver.list(None)})
        rows = []
        for thread in threads:
            snapshot = graph.get_state({"configurable": {"thread_id": thread}})
            result = result_of(thread, snapshot)
            rows.append(
                TrialRow(
                    thread_id=thread, status=result.status, app=result.app, summary=_summary(result)
                )
            )
        return rows


def show_trial(thread_id: str, settings: Settings, rewrite_archive: bool = False) -> TrialResult:
    """One trial's result; ``rewrite_archive`` writes its archive again from the checkpoint
    (after a full disk, say) and records that it is now complete."""
    check_thread_id(thread_id)
    if not checkpoints_exist(settings.checkpoint_url):
        raise unknown_trial(thread_id, settings)
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with open_checkpointer(
        settings.checkpoint_url, settings.checkpoint_lock_timeout_s, create=False
    ) as saver:
        graph = compile_graph(saver)
        snapshot = graph.get_state(config)
        if not snapshot.values:
            raise unknown_trial(thread_id, settings)
        if rewrite_archive:
            root = Path(settings.runs_dir) / thread_id
            try:
                write_archive(cast(TrialState, snapshot.values), root)
            except OSError as error:
                raise LassiError(f"cannot rewrite the archive in {root}: {error}") from None
            if snapshot.values.get("archive_error") and not snapshot.next:
                repaired = {"archive_path": str(root), "archive_error": None}
                graph.update_state(config, repaired, as_node="finalize")
                snapshot = graph.get_state(config)
    return result_of(thread_id, snapshot)
