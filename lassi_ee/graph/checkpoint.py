"""Where trials are checkpointed: SQLite by default, Postgres by URL (for clusters)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from lassi_ee.apps import App, AppManifest, BuildSpec
from lassi_ee.devices import Device
from lassi_ee.energy.base import EnergyMeasurement, EnergyProfile, Stats
from lassi_ee.errors import LassiError
from lassi_ee.llm.usage import RoleUsage, Usage
from lassi_ee.state import Candidate, CompileSummary, Limits, ReferenceRun, RunSummary, Verdict
from lassi_ee.tools.check import CheckResult

STATE_TYPES = (
    App, AppManifest, BuildSpec, Device, EnergyMeasurement, EnergyProfile, Stats, RoleUsage,
    Usage, Candidate, CompileSummary, Limits, ReferenceRun, RunSummary, Verdict, CheckResult,
)  # fmt: skip


def serializer() -> JsonPlusSerializer:
    """The default serializer, told that our state's pydantic types are safe to load."""
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_TYPES))


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


@contextmanager
def open_checkpointer(url: str, lock_timeout_s: float = 30.0) -> Iterator[BaseCheckpointSaver]:
    """A ready checkpointer for a SQLite path (default) or a postgres:// URL.

    A SQLite write waits up to ``lock_timeout_s`` for another process's lock, then fails.
    """
    if is_postgres(url):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError:
            raise LassiError(
                "a postgres:// checkpoint URL needs the postgres extra: "
                "pip install 'lassi-ee[postgres]'"
            ) from None
        with PostgresSaver.from_conn_string(url) as postgres:
            postgres.serde = serializer()
            postgres.setup()
            yield postgres
        return
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=lock_timeout_s)
    try:
        saver = SqliteSaver(connection, serde=serializer())
        try:
            saver.setup()
        except sqlite3.OperationalError as error:
            raise LassiError(
                f"checkpoint database {path} cannot be used ({error}): another process may "
                "hold it locked; wait for it or point LASSI_CHECKPOINT_URL elsewhere"
            ) from None
        yield saver
    finally:
        connection.close()
