"""Trials already in the checkpoint database: list them, show one, rewrite its archive."""

from __future__ import annotations

from pathlib import Path

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from lassi_ee.api import TrialResult, result_from_state
from lassi_ee.errors import UsageError
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.checkpoint import open_checkpointer
from lassi_ee.nodes.finalize import write_archive
from lassi_ee.settings import Settings


class TrialRow(BaseModel):
    thread_id: str
    status: str
    app: str | None
    summary: str


def _summary(result: TrialResult) -> str:
    if result.error:
        return result.error.splitlines()[0]
    if result.reduction is not None:
        return f"best v{result.best_version}: {result.reduction:+.1%} {result.objective}"
    return f"{result.versions} versions so far" if result.status == "unfinished" else "no gain"


def list_trials(settings: Settings) -> list[TrialRow]:
    with open_checkpointer(settings.checkpoint_url) as saver:
        graph = compile_graph(saver)
        threads = sorted({c.config["configurable"]["thread_id"] for c in saver.list(None)})
        rows = []
        for thread in threads:
            snapshot = graph.get_state({"configurable": {"thread_id": thread}})
            result = result_from_state(thread, snapshot.values, finished=not snapshot.next)
            rows.append(
                TrialRow(thread_id=thread, status=result.status, app=result.app, summary=_summary(result))
            )
        return rows


def show_trial(thread_id: str, settings: Settings, rewrite_archive: bool = False) -> TrialResult:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with open_checkpointer(settings.checkpoint_url) as saver:
        snapshot = compile_graph(saver).get_state(config)
    if not snapshot.values:
        raise UsageError(f"no trial {thread_id} in {settings.checkpoint_url}: see `lassi-ee trials`")
    if rewrite_archive:
        write_archive(snapshot.values, Path(settings.runs_dir) / thread_id)
    return result_from_state(thread_id, snapshot.values, finished=not snapshot.next)
