"""Tables 2, 3 and 4 from hand-made records, against values worked out by hand."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.campaign.store import TrialRecord
from lassi_ee.campaign.tables import build_tables, table4, write_tables


def _record(device: str, trial: int, status: str, **values: Any) -> TrialRecord:
    return TrialRecord.model_validate(
        {
            "campaign": "c",
            "app": "a",
            "device": device,
            "trial": trial,
            "thread_id": f"c-a-{device}-{trial}",
            "status": status,
            "objective": "energy" if device == "cuda:0" else "runtime",
            **values,
        }
    )


GPU_SOURCE = {"source_energy_j": 10.0, "source_power_w": 100.0, "source_runtime_s": 0.1}
RECORDS = [
    # cuda:0 measures energy
    _record(
        "cuda:0", 0, "improved", **GPU_SOURCE,
        vanilla_valid=True, vanilla_energy_j=9.0,
        final_valid=True, final_energy_j=5.8,
        best_energy_j=6.0, best_power_w=90.0, best_runtime_s=0.07,
        reduction=0.4, self_corrections=2, best_iteration=3, pipeline_s=100.0,
    ),
    _record(
        "cuda:0", 1, "improved", **GPU_SOURCE,
        final_valid=True, final_energy_j=8.0,
        best_energy_j=8.0, best_power_w=95.0, best_runtime_s=0.09,
        reduction=0.2, self_corrections=0, best_iteration=1, pipeline_s=50.0,
    ),
    _record("cuda:0", 2, "no_improvement", **GPU_SOURCE, pipeline_s=30.0),
    # cpu has no energy sensor: runtime is the objective
    _record(
        "cpu", 0, "improved", source_runtime_s=0.2,
        vanilla_valid=True, vanilla_runtime_s=0.15,
        final_valid=True, final_runtime_s=0.1, best_runtime_s=0.1,
        reduction=0.5, self_corrections=1, best_iteration=0, pipeline_s=10.0,
    ),
    _record("cpu", 1, "failed", error="the source cannot be used", pipeline_s=1.0),
    _record(
        "cpu", 2, "no_improvement", source_runtime_s=0.2,
        vanilla_valid=True, vanilla_runtime_s=0.19,
        final_valid=True, final_runtime_s=0.21, pipeline_s=20.0,
    ),
]  # fmt: skip


def _rows(table_csv: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(table_csv)))


def _num(text: str) -> float | None:
    return float(text) if text else None


def test_table2_averages_the_trials_that_beat_the_source() -> None:
    table2, _, _ = build_tables(RECORDS, [1, 2])
    rows = {row["device"]: row for row in _rows(table2.csv())}
    gpu, cpu = rows["cuda:0"], rows["cpu"]
    assert (gpu["trials"], gpu["reducing"], cpu["trials"], cpu["reducing"]) == ("3", "2", "2", "1")
    assert _num(gpu["source_energy_j"]) == pytest.approx(10.0)
    assert _num(gpu["lassi_energy_j"]) == pytest.approx(7.0)
    assert _num(gpu["delta_energy_j_pct"]) == pytest.approx(-30.0)
    assert _num(gpu["lassi_power_w"]) == pytest.approx(92.5)
    assert _num(gpu["delta_power_w_pct"]) == pytest.approx(-7.5)
    assert _num(gpu["delta_runtime_s_pct"]) == pytest.approx(-20.0)
    assert cpu["objective"] == "runtime"
    assert cpu["source_energy_j"] == cpu["lassi_energy_j"] == ""
    assert _num(cpu["delta_runtime_s_pct"]) == pytest.approx(-50.0)
    assert "RUNTIME on cpu" in table2.title
    assert any("1 trial(s) whose source could not be" in note for note in table2.notes)
    markdown = table2.markdown()
    assert "| cuda:0 | a | energy | 3 | 2 | 10 | 7 | -30.0% |" in markdown
    assert "| cpu | a | runtime | 2 | 1 | - | - | - |" in markdown


def test_table3_reports_the_best_trial_and_the_mean_pipeline_time() -> None:
    _, table3, _ = build_tables(RECORDS, [1, 2])
    rows = {row["device"]: row for row in _rows(table3.csv())}
    assert rows["cuda:0"]["best_trial"] == "0"
    assert (rows["cuda:0"]["self_corrections"], rows["cuda:0"]["best_iteration"]) == ("2", "3")
    assert _num(rows["cuda:0"]["best_reduction"]) == pytest.approx(0.4)
    assert _num(rows["cuda:0"]["mean_pipeline_s"]) == pytest.approx(60.0)
    assert (rows["cpu"]["best_trial"], rows["cpu"]["best_iteration"]) == ("0", "0")
    assert _num(rows["cpu"]["mean_pipeline_s"]) == pytest.approx(15.0)  # the failed one is out


# Worked by hand from RECORDS (see the comments there): (device, k) -> vanilla pass@k,
# full pass@k, vanilla ER@k, full ER@k.
TABLE4 = {
    ("cuda:0", 1): (1 / 3, 2 / 3, 0.1 / 3, 2 / 3 * (0.42 + 0.2) / 2),
    ("cuda:0", 2): (2 / 3, 1.0, 2 / 3 * 0.1, 0.42),
    ("cpu", 1): (1.0, 1.0, (0.25 + 0.05) / 2, (0.5 + 0.0) / 2),
    ("cpu", 2): (1.0, 1.0, 0.25, 0.5),
}
TABLE4[("all", 1)] = tuple(  # type: ignore[assignment]
    (TABLE4[("cuda:0", 1)][i] + TABLE4[("cpu", 1)][i]) / 2 for i in range(4)
)
TABLE4[("all", 2)] = tuple(  # type: ignore[assignment]
    (TABLE4[("cuda:0", 2)][i] + TABLE4[("cpu", 2)][i]) / 2 for i in range(4)
)


def test_table4_compares_vanilla_and_the_full_pipeline_per_device_and_overall() -> None:
    table = table4(RECORDS, [1, 2, 3])
    rows = _rows(table.csv())
    assert [(row["device"], row["k"]) for row in rows] == [
        ("cpu", "1"), ("cpu", "2"), ("cuda:0", "1"), ("cuda:0", "2"), ("all", "1"), ("all", "2"),
    ]  # fmt: skip
    for row in rows:
        expected = TABLE4[(row["device"], int(row["k"]))]
        got = (
            _num(row["vanilla_pass_at_k"]),
            _num(row["full_pass_at_k"]),
            _num(row["vanilla_energy_reduction_at_k"]),
            _num(row["full_energy_reduction_at_k"]),
        )
        assert got == pytest.approx(expected), row
        assert _num(row["delta_pass_at_k"]) == pytest.approx(expected[1] - expected[0])
        assert _num(row["delta_energy_reduction_at_k"]) == pytest.approx(expected[3] - expected[2])
    assert {row["device"]: row["objective"] for row in rows} == {
        "cpu": "runtime",
        "cuda:0": "energy",
        "all": "energy/runtime",
    }
    assert any("k = 3 left out" in note for note in table.notes)  # cpu has 2 usable trials
    assert "RUNTIME on cpu" in table.title


def test_a_campaign_without_energy_says_so_in_every_title() -> None:
    cpu_only = [r for r in RECORDS if r.device == "cpu"]
    for table in build_tables(cpu_only, [1]):
        assert "objective: RUNTIME, not energy: no energy sensor on cpu" in table.title


def test_an_energy_campaign_does_not_mention_runtime_as_objective() -> None:
    gpu_only = [r for r in RECORDS if r.device == "cuda:0"]
    for table in build_tables(gpu_only, [1]):
        assert table.title.endswith("(objective: energy)")


def test_tables_are_written_as_markdown_and_csv(tmp_path: Path) -> None:
    tables = build_tables(RECORDS, [1, 2])
    written = write_tables(tables, tmp_path / "report", "Campaign c")
    names = sorted(path.name for path in written)
    assert names == [
        "table2.csv", "table2.md", "table3.csv", "table3.md", "table4.csv", "table4.md",
        "tables.md",
    ]  # fmt: skip
    combined = (tmp_path / "report" / "tables.md").read_text()
    assert combined.startswith("# Campaign c")
    assert all(table.title in combined for table in tables)
    assert (tmp_path / "report" / "table4.csv").read_text() == tables[2].csv()
