"""Where trials are checkpointed: SQLite by default, Postgres by URL (for clusters)."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from lassi_ee.apps import App, AppManifest, BuildSpec
from lassi_ee.devices import Device
from lassi_ee.energy.base import EnergyMeasurement, EnergyProfile, Stats
from lassi_ee.energy.decide import Decision, DecisionRule
from lassi_ee.energy.paired import Confirmation, PairedMeasurement
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.llm.replies import CategorizedOptimization
from lassi_ee.llm.usage import RoleUsage, Usage
from lassi_ee.state import (
    Candidate,
    CompileSummary,
    FinalCheck,
    Limits,
    ReferenceRun,
    RunSummary,
    Verdict,
)
from lassi_ee.tools.check import CheckResult, GuardFinding
from lassi_ee.tools.equivalence import InputSet, RecordedOutput

STATE_TYPES = (
    App, AppManifest, BuildSpec, Device, EnergyMeasurement, EnergyProfile, Stats, RoleUsage,
    Usage, Candidate, CategorizedOptimization, CompileSummary, Limits, ReferenceRun,
    RunSummary, Verdict, CheckResult, GuardFinding, InputSet, RecordedOutput, Decision,
    DecisionRule, Confirmation, PairedMeasurement, FinalCheck,
)  # fmt: skip


def serializer() -> JsonPlusSerializer:
    """The default serializer, told that our state's pydantic types are safe to load."""
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_TYPES))


_SETUP_LOCK = 0x1A551EE  # the advisory lock id held while creating the checkpoint tables


def is_postgres(url: str) -> bool:
    """Whether a checkpoint URL names a PostgreSQL database rather than a SQLite file."""
    return url.startswith(("postgres://", "postgresql://"))


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


@contextmanager
def _setup_lock(connection: Any) -> Iterator[None]:
    """One process at a time creates the checkpoint tables.

    Trials that start together on a cluster would otherwise race on CREATE TABLE. Waiters
    poll rather than block: the migrations' CREATE INDEX CONCURRENTLY waits for every open
    statement, a blocked pg_advisory_lock included, which would deadlock.
    """
    query = "SELECT pg_try_advisory_lock(%s) AS taken"  # rows are dicts (from_conn_string)
    while not connection.execute(query, (_SETUP_LOCK,)).fetchone()["taken"]:
        time.sleep(0.05)
    try:
        yield
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))


def sqlite_path(url: str) -> Path:
    """The SQLite file a checkpoint URL names."""
    return Path(url.removeprefix("sqlite:///"))


def checkpoints_exist(url: str) -> bool:
    """Whether there is a checkpoint database to read (a Postgres one is assumed to be)."""
    return is_postgres(url) or sqlite_path(url).is_file()


@contextmanager
def open_checkpointer(
    url: str, lock_timeout_s: float = 30.0, *, create: bool = True
) -> Iterator[BaseCheckpointSaver]:
    """A ready checkpointer for a SQLite path (default) or a postgres:// URL.

    A SQLite write waits up to ``lock_timeout_s`` for another process's lock, then fails.
    ``create=False`` is for commands that read trials (and resume): a SQLite file that
    is not there is a UsageError, nothing is created, and a file that is no checkpoint
    database (damaged, or another program's) is one line naming it.
    """
    if is_postgres(url):
        with _postgres_checkpointer(url) as postgres:
            yield postgres
        return
    path = sqlite_path(url)
    if not create and not path.is_file():
        raise UsageError(
            f"no checkpoint database {path}: no trial has run with it (check --checkpoints "
            "or LASSI_CHECKPOINT_URL)"
        )
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=lock_timeout_s)
    try:
        saver = SqliteSaver(connection, serde=serializer())
        if create:
            try:
                with _sqlite_setup_lock(path):
                    saver.setup()
            except sqlite3.DatabaseError as error:
                raise LassiError(_unusable(path, error)) from None
            yield saver
            return
        saver.is_setup = True  # reading: its tables must be there already
        try:
            yield saver
        except sqlite3.DatabaseError as error:
            raise LassiError(_unusable(path, error)) from None
    finally:
        connection.close()


@contextmanager
def _sqlite_setup_lock(path: Path) -> Iterator[None]:
    """One process at a time sets a SQLite checkpoint database up.

    Setting up turns a new file to WAL journaling, and SQLite answers a second process
    doing the same at that moment with "database is locked" at once, without waiting
    for its busy timeout: trials started together on one database would fail so.
    """
    lock = path.with_name(path.name + ".setup-lock")
    try:
        handle = lock.open("a")
    except OSError as error:
        raise LassiError(
            f"checkpoint database {path} cannot be used: {lock} cannot be created "
            f"({error.strerror}); make its folder writable or point LASSI_CHECKPOINT_URL "
            "elsewhere"
        ) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
        yield


def _unusable(path: Path, error: sqlite3.DatabaseError) -> str:
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        return (
            f"checkpoint database {path} cannot be used ({error}): another process holds "
            "it locked; wait for it or point LASSI_CHECKPOINT_URL elsewhere"
        )
    return (
        f"checkpoint database {path} cannot be used ({error}): it is damaged or not a "
        "lassi-ee checkpoint database; move it away or point LASSI_CHECKPOINT_URL elsewhere"
    )


@contextmanager
def _postgres_checkpointer(url: str) -> Iterator[BaseCheckpointSaver]:
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection, OperationalError
    except ImportError:
        raise LassiError(
            "a postgres:// checkpoint URL needs the postgres extra: "
            "pip install 'lassi-ee[postgres]'"
        ) from None
    with ExitStack() as stack:
        try:
            postgres = stack.enter_context(PostgresSaver.from_conn_string(url))
        except OperationalError as error:
            raise LassiError(
                f"checkpoint database {redacted(url)} cannot be reached "
                f"({str(error).strip().splitlines()[0]}): check the URL and that the "
                "server runs"
            ) from None
        postgres.serde = serializer()
        with _setup_lock(cast(Connection, postgres.conn)):  # from_conn_string: one
            postgres.setup()
        yield postgres


_TRIAL_LOCKS = 0x1A551EF  # the advisory lock class of trial locks in a Postgres database


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _already_driven(thread_id: str, holder: str) -> LassiError:
    return LassiError(
        f"trial {thread_id} is being run by {holder}: wait for it to end or stop it (a "
        "second process would repeat its steps and break the first)"
    )


@contextmanager
def trial_lock(url: str, thread_id: str) -> Iterator[None]:
    """One process at a time drives a trial.

    The lock is the kernel's (a file lock beside a SQLite database) or the server's (an
    advisory lock in Postgres), so it goes with the process that held it: a killed driver
    leaves nothing to clean up, and the next `resume` takes over. A trial already driven is
    one LassiError naming its driver.
    """
    if is_postgres(url):
        with _postgres_trial_lock(url, thread_id):
            yield
        return
    folder = sqlite_path(url).with_name(sqlite_path(url).name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{thread_id}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise _already_driven(thread_id, handle.read().strip() or "another process") from None
        handle.truncate(0)
        handle.write(_holder())
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


@contextmanager
def _postgres_trial_lock(url: str, thread_id: str) -> Iterator[None]:
    """The advisory lock lives as long as this connection.

    The holder is named by the connection's application_name, which the server shows every
    other client.
    """
    from psycopg import connect

    with connect(url, autocommit=True, application_name=f"lassi-ee {_holder()}") as connection:
        key = (_TRIAL_LOCKS, thread_id)
        taken = connection.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key).fetchone()
        if not (taken and taken[0]):
            row = connection.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid::int4 = %s AND l.objid::int4 = hashtext(%s) AND l.objsubid = 2",
                key,
            ).fetchone()
            holder = str(row[0]).removeprefix("lassi-ee ") if row else "another process"
            raise _already_driven(thread_id, holder)
        yield
