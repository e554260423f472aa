"""The results store: records in and out of SQLite, finished trials, CSV and Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import sys
from pathlib import Path

import pytest

from lassi_ee.campaign.spec import CampaignTrial
from lassi_ee.campaign.store import (
    COLUMNS,
    ResultsStore,
    TrialRecord,
    export_csv,
    export_parquet,
)
from lassi_ee.errors import LassiError
from lassi_ee.llm.usage import RoleUsage, Usage
from lassi_ee.result import Figures, TrialResult


def _trial(app: str = "spin", index: int = 0, campaign: str = "c") -> CampaignTrial:
    return CampaignTrial(
        campaign=campaign,
        app=app,
        device="cuda:0",
        index=index,
        thread_id=f"{campaign}-{app}-cuda0-{index:03d}",
    )


def _result(**changes: object) -> TrialResult:
    values: dict[str, object] = {
        "thread_id": "c-spin-cuda0-000",
        "status": "improved",
        "objective": "energy",
        "source": Figures(energy_j=10.0, power_w=200.0, runtime_s=0.05),
        "vanilla_outcome": "invalid",
        "vanilla": None,
        "final_valid": True,
        "final": Figures(energy_j=6.0, power_w=150.0, runtime_s=0.04),
        "best": Figures(energy_j=6.5, power_w=160.0, runtime_s=0.041),
        "reduction": 0.35,
        "best_iteration": 2,
        "iterations": 4,
        "versions": 7,
        "self_corrections": 3,
        "pipeline_s": 81.5,
        "candidates_per_step": 4,
        "archive_path": "/runs/c-spin-cuda0-000",
        "stop_reason": "iteration cap reached (4)",
        "usage": Usage(
            by_role={
                "refactor": RoleUsage(calls=4, tokens_in=4000, tokens_out=2000, cost_usd=0.05),
                "judge": RoleUsage(calls=3, tokens_in=3000, tokens_out=300, cost_usd=0.01),
            }
        ),
    }
    values.update(changes)
    return TrialResult.model_validate(values)


def test_a_record_pairs_the_vanilla_and_the_final_result_of_a_trial() -> None:
    record = TrialRecord.from_result(_trial(), _result())
    assert (record.campaign, record.app, record.device, record.trial) == ("c", "spin", "cuda:0", 0)
    assert record.status == "improved"
    assert (record.source_energy_j, record.source_power_w, record.source_runtime_s) == (
        10.0,
        200.0,
        0.05,
    )
    assert record.vanilla_outcome == "invalid" and not record.vanilla_valid
    assert record.vanilla_energy_j is None
    assert record.final_valid and record.final_energy_j == 6.0 and record.final_power_w == 150.0
    assert record.best_energy_j == 6.5 and record.best_runtime_s == 0.041
    assert (record.self_corrections, record.best_iteration, record.iterations) == (3, 2, 4)
    assert record.pipeline_s == 81.5
    assert record.candidates_per_step == 4
    assert (record.llm_calls, record.tokens_in, record.tokens_out) == (7, 7000, 2300)
    assert record.cost_usd == pytest.approx(0.06)
    assert record.figure("final") == 6.0  # the objective's quantity
    assert record.figure("source", "runtime_s") == 0.05


def test_a_valid_vanilla_and_a_runtime_objective_are_recorded_as_such() -> None:
    result = _result(
        objective="runtime",
        vanilla_outcome="not_lower",
        vanilla=Figures(runtime_s=0.049),
        source=Figures(runtime_s=0.05),
    )
    record = TrialRecord.from_result(_trial(), result)
    assert record.vanilla_valid and record.vanilla_runtime_s == 0.049
    assert record.figure("vanilla") == 0.049 and record.figure("source") == 0.05
    assert record.source_energy_j is None


def test_an_unfinished_trial_cannot_be_recorded() -> None:
    with pytest.raises(ValueError, match="unfinished"):
        TrialRecord.from_result(_trial(), _result(status="unfinished"))


def test_records_survive_the_store_and_a_rewrite_replaces_its_row(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "db" / "results.sqlite")
    first = TrialRecord.from_result(_trial(index=0), _result())
    second = TrialRecord.from_result(
        _trial(app="wait", index=1), _result(status="no_improvement", best=None, reduction=None)
    )
    elsewhere = TrialRecord.from_result(_trial(campaign="other"), _result())
    for record in (first, second, elsewhere):
        store.record(record)
    reopened = ResultsStore(tmp_path / "db" / "results.sqlite")
    assert reopened.records("c") == [first, second]
    assert reopened.finished("c") == {("spin", "cuda:0", 0), ("wait", "cuda:0", 1)}
    assert reopened.records("other") == [elsewhere]

    rewritten = first.model_copy(update={"status": "failed", "error": "source broke"})
    reopened.record(rewritten)
    assert reopened.records("c") == [rewritten, second]
    with sqlite3.connect(tmp_path / "db" / "results.sqlite") as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM trials").fetchone()
    assert count == 3


def test_a_record_keeps_when_and_on_what_stage4_measured() -> None:
    measured_at = dt.datetime(2026, 12, 3, 7, 15, 27, tzinfo=dt.UTC)
    sensor = "NVIDIA H200 (driver 580.159.04, power limit 700 W): NVML energy counter"
    record = TrialRecord.from_result(
        _trial(), _result(final_measured_at=measured_at, final_sensor=sensor)
    )
    assert dt.datetime.fromisoformat(record.final_measured_at or "") == measured_at
    assert record.final_sensor == sensor


def test_a_store_from_before_a_column_that_may_be_empty_keeps_its_rows(tmp_path: Path) -> None:
    """Upgrading lassi-ee mid-campaign must not strand the finished trials."""
    path = tmp_path / "results.sqlite"
    store = ResultsStore(path)
    old = TrialRecord.from_result(_trial(index=0), _result())
    store.record(old)
    with sqlite3.connect(path) as connection:  # the store as the version before wrote it
        for name in ("final_measured_at", "final_sensor", "candidates_per_step"):
            connection.execute(f"ALTER TABLE trials DROP COLUMN {name}")
    reopened = ResultsStore(path)
    # its row kept; the new columns empty for it
    assert reopened.records("c") == [old.model_copy(update={"candidates_per_step": None})]
    new = TrialRecord.from_result(
        _trial(index=1), _result(final_measured_at=dt.datetime.now(dt.UTC), final_sensor="s")
    )
    reopened.record(new)
    assert reopened.records("c")[1].final_sensor == "s"


def test_a_store_of_another_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE trials (campaign TEXT, app TEXT)")
    with pytest.raises(LassiError, match="written by another version"):
        ResultsStore(path)


def test_csv_export_has_every_column_and_value(tmp_path: Path) -> None:
    records = [
        TrialRecord.from_result(_trial(index=0), _result()),
        TrialRecord.from_result(_trial(index=1), _result(best=None, reduction=None)),
    ]
    path = export_csv(records, tmp_path / "out" / "results.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == COLUMNS
    assert [row["trial"] for row in rows] == ["0", "1"]
    assert float(rows[0]["final_energy_j"]) == 6.0
    assert rows[0]["vanilla_valid"] == "False" and rows[0]["final_valid"] == "True"
    assert rows[1]["best_energy_j"] == "" and rows[1]["reduction"] == ""


def test_parquet_export_keeps_the_column_types(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = [
        TrialRecord.from_result(_trial(index=0), _result()),
        TrialRecord.from_result(_trial(index=1), _result(best=None, reduction=None)),
    ]
    table = pq.read_table(export_parquet(records, tmp_path / "results.parquet"))
    assert table.column_names == COLUMNS
    assert str(table.schema.field("final_valid").type) == "bool"
    assert str(table.schema.field("trial").type) == "int64"
    assert str(table.schema.field("final_energy_j").type) == "double"
    rows = table.to_pylist()
    assert [TrialRecord.model_validate(row) for row in rows] == records


def test_parquet_export_without_pyarrow_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    with pytest.raises(LassiError, match=r"pip install 'lassi-ee\[parquet\]'"):
        export_parquet([], tmp_path / "results.parquet")
    assert not (tmp_path / "results.parquet").exists()
