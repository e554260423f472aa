"""The results store: one SQLite row per finished trial, exportable to CSV and Parquet.

A row is written when a trial ends, never before, so the store says exactly
which trials are finished; a trial with checkpoints but no row was cut off and
resumes. Several processes (one per device) write to it at once: SQLite in WAL
mode with a busy timeout serializes them.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field

from lassi_ee.campaign.spec import CampaignTrial
from lassi_ee.errors import LassiError
from lassi_ee.result import VALID_OUTCOMES, Figures, TrialResult

Version = Literal["source", "vanilla", "final", "best"]
TABLE = "trials"
KEY = ("campaign", "app", "device", "trial")


class TrialRecord(BaseModel):
    """One finished trial of a campaign: its vanilla result and its final result, paired.

    ``final_*`` is the trial's lowest valid version (what the paper's metrics pair
    with vanilla); ``best_*`` is the version whose gain Stage 4's interleaved
    re-measurement confirmed, the one the trial hands back (None when none held),
    and ``reduction`` with its interval is that paired estimate.
    Energies are joules per run, powers watts, runtimes seconds per run; energy
    and power are None on a device without an energy sensor, where
    ``objective`` is runtime.
    """

    campaign: str
    app: str
    device: str
    trial: int = Field(ge=0, description="index 0..n-1 within its app and device")
    thread_id: str
    status: Literal["improved", "no_improvement", "failed"]
    objective: Literal["energy", "runtime"] | None
    source_energy_j: float | None = None
    source_power_w: float | None = None
    source_runtime_s: float | None = None
    vanilla_outcome: str | None = None
    vanilla_valid: bool = False
    vanilla_energy_j: float | None = None
    vanilla_power_w: float | None = None
    vanilla_runtime_s: float | None = None
    final_valid: bool = False
    final_energy_j: float | None = None
    final_power_w: float | None = None
    final_runtime_s: float | None = None
    best_energy_j: float | None = None
    best_power_w: float | None = None
    best_runtime_s: float | None = None
    reduction: float | None = Field(
        None, description="1 - best/source from Stage 4's interleaved re-measurement (paired)"
    )
    reduction_ci_low: float | None = Field(None, description="its 95 % interval, low end")
    reduction_ci_high: float | None = Field(None, description="its 95 % interval, high end")
    screen_reduction: float | None = Field(
        None, description="(source - best) / source from separate measurements: not a claim"
    )
    vanilla_confirmed_reduction: float | None = Field(
        None, description="the vanilla version's reduction, when a confirmation claimed it"
    )
    self_corrections: int = 0
    best_iteration: int | None = None
    iterations: int = 0
    versions: int = 0
    pipeline_s: float | None = None
    candidates_per_step: int | None = Field(
        None, description="candidates each Stage-3 step asked for; None in a store from before it"
    )
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    categories: str = Field(
        "", description="the best version's optimizations as category codes, e.g. 'MHO,ACE'"
    )
    stop_reason: str | None = None
    error: str | None = None
    archive_path: str | None = None
    final_measured_at: str | None = Field(
        None, description="when Stage 4's re-measurement began (UTC, ISO 8601)"
    )
    final_sensor: str | None = Field(
        None, description="its sensor, with the driver and power limit where NVML gives them"
    )
    recorded_unix: float = Field(default_factory=time.time)

    @classmethod
    def from_result(cls, trial: CampaignTrial, result: TrialResult) -> TrialRecord:
        if result.status in ("unfinished", "interrupted"):
            raise ValueError(f"trial {result.thread_id} is {result.status}: nothing to record yet")
        figures = {
            **_flat("source", result.source),
            **_flat("vanilla", result.vanilla),
            **_flat("final", result.final),
            **_flat("best", result.best),
        }
        return cls(
            campaign=trial.campaign,
            app=trial.app,
            device=trial.device,
            trial=trial.index,
            thread_id=result.thread_id,
            status=result.status,
            objective=result.objective,
            vanilla_outcome=result.vanilla_outcome,
            vanilla_valid=result.vanilla_outcome in VALID_OUTCOMES,
            final_valid=result.final_valid,
            reduction=result.reduction,
            reduction_ci_low=result.reduction_ci95[0] if result.reduction_ci95 else None,
            reduction_ci_high=result.reduction_ci95[1] if result.reduction_ci95 else None,
            screen_reduction=result.screen_reduction,
            vanilla_confirmed_reduction=result.vanilla_confirmed_reduction,
            categories=",".join(item.category for item in result.categories),
            self_corrections=result.self_corrections,
            best_iteration=result.best_iteration,
            iterations=result.iterations,
            versions=result.versions,
            pipeline_s=result.pipeline_s,
            candidates_per_step=result.candidates_per_step,
            llm_calls=result.usage.calls,
            tokens_in=result.usage.tokens_in,
            tokens_out=result.usage.tokens_out,
            cost_usd=result.usage.cost_usd,
            final_measured_at=(
                result.final_measured_at.isoformat() if result.final_measured_at else None
            ),
            final_sensor=result.final_sensor,
            stop_reason=result.stop_reason,
            error=result.error,
            archive_path=result.archive_path,
            **figures,
        )

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.app, self.device, self.trial)

    def figure(self, version: Version, quantity: str | None = None) -> float | None:
        """``energy_j``, ``power_w`` or ``runtime_s`` (default: the objective's) of a version."""
        quantity = quantity or ("energy_j" if self.objective == "energy" else "runtime_s")
        value = getattr(self, f"{version}_{quantity}")
        return float(value) if value is not None else None


def _flat(version: str, figures: Figures | None) -> dict[str, float | None]:
    figures = figures or Figures()
    return {f"{version}_{name}": value for name, value in figures.model_dump().items()}


def _sql_type(annotation: Any) -> str:
    if get_origin(annotation) in (Union, UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    if annotation is bool:
        return "BOOLEAN"
    if annotation is int:
        return "INTEGER"
    if annotation is float:
        return "REAL"
    return "TEXT"


COLUMNS = list(TrialRecord.model_fields)


def _add_column(connection: sqlite3.Connection, name: str) -> None:
    """Add an empty column; another process opening the same old store may add it first."""
    sql_type = _sql_type(TrialRecord.model_fields[name].annotation)
    try:
        connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {sql_type}")
    except sqlite3.OperationalError as error:
        if "duplicate column" not in str(error):
            raise


class ResultsStore:
    """The campaign's SQLite results; every method opens its own short connection, so a
    store can be shared by threads and processes and survives any of them being killed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = ", ".join(
            f"{name} {_sql_type(field.annotation)}"
            for name, field in TrialRecord.model_fields.items()
        )
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns}, PRIMARY KEY ({', '.join(KEY)}))"
            )
            present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
            # a store from before a column that may be empty keeps its rows: the column
            # is added, empty for them; any other missing column is another schema
            missing = []
            for name in (name for name in COLUMNS if name not in present):
                if TrialRecord.model_fields[name].default is None:
                    _add_column(connection, name)
                else:
                    missing.append(name)
        if missing:
            raise LassiError(
                f"{path}: written by another version of lassi-ee (no column {missing[0]}); "
                "give the campaign a new store, or move this file away"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=60.0)) as connection, connection:
                yield connection
        except sqlite3.DatabaseError as error:
            raise LassiError(f"results store {self.path}: {error}") from None

    def record(self, record: TrialRecord) -> None:
        """Write (or rewrite) one finished trial; committed before this returns."""
        values = record.model_dump(mode="json")
        marks = ", ".join("?" for _ in COLUMNS)
        with self._connect() as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})",
                [values[name] for name in COLUMNS],
            )

    def records(self, campaign: str) -> list[TrialRecord]:
        """Every finished trial of ``campaign``, in device, app, trial order."""
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE campaign = ? "
                "ORDER BY device, app, trial",
                (campaign,),
            ).fetchall()
        return [TrialRecord.model_validate(dict(zip(COLUMNS, row, strict=True))) for row in rows]

    def finished(self, campaign: str) -> set[tuple[str, str, int]]:
        """(app, device, trial) of every finished trial: these are skipped on a rerun."""
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT app, device, trial FROM {TABLE} WHERE campaign = ?", (campaign,)
            ).fetchall()
        return {(str(app), str(device), int(trial)) for app, device, trial in rows}


def export_csv(records: Sequence[TrialRecord], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(record.model_dump(mode="json"))
    return path


def export_parquet(records: Sequence[TrialRecord], path: Path) -> Path:
    """Parquet with typed columns (pyarrow, the ``parquet`` extra)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise LassiError(
            "Parquet export needs pyarrow: pip install 'lassi-ee[parquet]' (or export --format csv)"
        ) from None
    arrow_type = {
        "BOOLEAN": pa.bool_(),
        "INTEGER": pa.int64(),
        "REAL": pa.float64(),
        "TEXT": pa.string(),
    }
    schema = pa.schema(
        [
            (name, arrow_type[_sql_type(field.annotation)])
            for name, field in TrialRecord.model_fields.items()
        ]
    )
    table = pa.Table.from_pylist([r.model_dump(mode="json") for r in records], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
