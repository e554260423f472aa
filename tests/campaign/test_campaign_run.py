"""Running campaigns on the cpu device with scripted models: one trial cut off and resumed,
the local engine's error handling and lock, and a whole campaign killed with SIGKILL,
resumed, and its tables checked against figures computed here from the raw rows (that
campaign runs once per session: tests/helpers/killed_campaign.py)."""

from __future__ import annotations

import csv
import fcntl
import itertools
import math
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.campaign.runner import (
    TrialEvent,
    campaign_records,
    campaign_status,
    run_campaign_trial,
    run_local,
    trial_states,
)
from lassi_ee.campaign.spec import load_campaign
from lassi_ee.campaign.store import ResultsStore
from lassi_ee.campaign.tables import build_tables
from lassi_ee.cli import main
from lassi_ee.errors import LassiError
from tests.helpers import campaign_models
from tests.helpers.campaign_models import CRASH_JUDGE, HOLD_JUDGE, UNREACHABLE_JUDGE
from tests.helpers.killed_campaign import (
    KilledCampaign,
    alive,
    children,
    cli_env,
    store_rows,
    wait_for,
)


@pytest.mark.trial
def test_a_cut_off_trial_resumes_without_repeating_its_steps(
    write_campaign: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = load_campaign(write_campaign(apps=["apps/spin.cpp"], trials=1, ks=[1]))
    store = ResultsStore(campaign.store_path)
    built: list[Any] = []
    original = campaign_models.build

    def recording_build(trial: Any) -> Any:
        built.append(original(trial))
        return built[-1]

    monkeypatch.setattr(campaign_models, "build", recording_build)
    monkeypatch.setenv(CRASH_JUDGE, "1")
    with pytest.raises(RuntimeError, match="judge crashed"):
        run_campaign_trial(campaign, "spin", "cpu", 0)
    assert [list(states.values()) for states in [trial_states(campaign, store)]] == [["cut_off"]]
    [task] = campaign_status(campaign, store)
    assert (task.finished, task.cut_off, task.pending) == (0, 1, 0)
    assert len(built[0].calls_for("vanilla")) == 1

    monkeypatch.delenv(CRASH_JUDGE)
    record = run_campaign_trial(campaign, "spin", "cpu", 0)
    assert built[1].calls_for("vanilla") == []  # Stage 1 is not asked again
    assert built[1].calls_for("judge")  # the cut-off judgement is made now
    assert record.vanilla_outcome == "improved"  # 40 ms instead of the source's 150 ms
    assert record.thread_id == "smoke-spin-cpu-000"
    assert record.status == "improved" and record.objective == "runtime"


@pytest.mark.trial
def test_the_local_engine_reports_failing_trials_and_resumes_them_later(
    write_campaign: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = load_campaign(write_campaign(apps=["apps/spin.cpp"], trials=2, ks=[1]))
    events: list[TrialEvent] = []
    monkeypatch.setenv(CRASH_JUDGE, "1")  # the workers inherit it
    summary = run_local(campaign, events.append)
    assert (summary.finished, summary.errors, summary.skipped) == (0, 2, 0)
    errors = [event for event in events if event.kind == "error"]
    assert [event.trial.index for event in errors] == [0, 1]  # the queue went on
    assert all("RuntimeError: judge crashed (test)" in event.message for event in errors)
    assert (campaign.directory / "errors" / "smoke-spin-cpu-000.txt").is_file()
    assert ResultsStore(campaign.store_path).records("smoke") == []

    monkeypatch.delenv(CRASH_JUDGE)
    events.clear()
    summary = run_local(campaign, events.append)
    assert (summary.finished, summary.errors, summary.skipped) == (2, 0, 0)
    assert [(e.kind, e.trial.index, e.resumed) for e in events if e.kind == "started"] == [
        ("started", 0, True),
        ("started", 1, True),
    ]
    store = ResultsStore(campaign.store_path)
    assert len(store.records("smoke")) == 2
    assert run_local(campaign, events.append).skipped == 2  # nothing left to do

    smaller = load_campaign(write_campaign(apps=["apps/spin.cpp"], trials=1, ks=[1]))
    assert [record.trial for record in campaign_records(smaller, store)] == [0]
    [task] = campaign_status(smaller, store)
    assert (task.trials, task.finished, task.pending) == (1, 1, 0)


def test_the_status_of_a_campaign_that_never_ran_creates_nothing(
    write_campaign: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = load_campaign(write_campaign(apps=["apps/spin.cpp"], trials=3, ks=[1]))
    assert main(["campaign", "status", str(campaign.file)]) == 0
    assert "0 of 3 trials finished" in capsys.readouterr().out
    assert not campaign.directory.exists()  # no folder, no database


@pytest.mark.trial
def test_an_interrupted_trial_stays_out_of_the_tables_and_the_next_run_finishes_it(
    write_campaign: Callable[..., Path],
    fast_settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An outage is no result: the trial it cut off is pending, not a trial without a
    gain that would lower pass@k and energy-reduction@k."""
    settings = {**fast_settings, "llm_max_attempts": 1, "max_iterations": 1}
    path = write_campaign(apps=["apps/spin.cpp"], trials=2, ks=[1], settings=settings)
    campaign = load_campaign(path)
    events: list[TrialEvent] = []
    monkeypatch.setenv(UNREACHABLE_JUDGE, "spin:1")  # the workers inherit it
    summary = run_local(campaign, events.append)
    assert (summary.finished, summary.errors) == (1, 1)
    [error] = [event for event in events if event.kind == "error"]
    assert error.trial.index == 1 and "interrupted: the LLM server" in error.message
    assert "connection refused (test)" in error.message
    assert "the next campaign run resumes it" in error.message
    store = ResultsStore(campaign.store_path)
    assert [record.trial for record in campaign_records(campaign, store)] == [0]
    assert build_tables(campaign_records(campaign, store), [1])  # made of trial 0 alone
    [task] = campaign_status(campaign, store)
    assert (task.finished, task.cut_off) == (1, 1)

    monkeypatch.delenv(UNREACHABLE_JUDGE)
    events.clear()
    summary = run_local(campaign, events.append)
    assert (summary.skipped, summary.finished, summary.errors) == (1, 1, 0)
    assert [(e.trial.index, e.resumed) for e in events if e.kind == "started"] == [(1, True)]
    assert [record.trial for record in campaign_records(campaign, store)] == [0, 1]


def test_a_campaign_that_is_already_running_is_not_started_twice(
    write_campaign: Callable[..., Path],
) -> None:
    campaign = load_campaign(write_campaign())
    campaign.directory.mkdir(parents=True)
    with (campaign.directory / "campaign.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LassiError, match="campaign smoke is already running"):
            run_local(campaign)


# --- the whole campaign ---------------------------------------------------------------------


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _close(actual: str, expected: float | None) -> bool:
    if expected is None:
        return actual == ""
    return math.isclose(float(actual), expected, rel_tol=1e-9, abs_tol=1e-12)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _brute_metrics(rows: list[dict[str, Any]], k: int) -> tuple[float, float, float, float]:
    """pass@k and energy-reduction@k of one task, vanilla and full, by enumerating subsets."""
    results = []
    for valid_key, figure_key in (
        ("vanilla_valid", "vanilla_runtime_s"),
        ("final_valid", "final_runtime_s"),
    ):
        trials = [
            max((row["source_runtime_s"] - row[figure_key]) / row["source_runtime_s"], 0.0)
            if row[valid_key] and row[figure_key] is not None
            else None
            for row in rows
        ]
        subsets = list(itertools.combinations(trials, k))
        passed = sum(any(t is not None for t in s) for s in subsets) / len(subsets)
        valid = [t for t in trials if t is not None]
        if not valid:
            best = 0.0
        elif len(valid) <= k:
            best = max(valid)
        else:
            draws = list(itertools.combinations(valid, k))
            best = sum(max(d) for d in draws) / len(draws)
        results.append((passed, passed * best))
    (vanilla_pass, vanilla_er), (full_pass, full_er) = results
    return vanilla_pass, full_pass, vanilla_er, full_er


@pytest.mark.trial
def test_a_whole_campaign_killed_once_resumes_and_its_tables_add_up(
    killed_campaign: KilledCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = killed_campaign.path  # spin and wait x cpu x 4 trials, ks 1, 2, 4
    campaign = load_campaign(path)
    before = killed_campaign.rows_before  # killed while trial spin #2 waited in its judgement
    assert sorted(before) == [("spin", 0), ("spin", 1)]
    status = killed_campaign.status_after_kill
    assert (status["spin"].finished, status["spin"].cut_off, status["spin"].pending) == (2, 1, 1)
    assert (status["wait"].finished, status["wait"].pending) == (0, 4)

    rerun = killed_campaign.rerun
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "[cpu] spin #2 resumed from its checkpoint" in rerun.stdout
    assert "spin #0 started" not in rerun.stdout and "spin #1 started" not in rerun.stdout
    assert "6 trial(s) finished now, 2 already done, 0 with errors" in rerun.stdout

    rows = store_rows(campaign.store_path)
    by_trial = {(row["app"], row["trial"]): row for row in rows}
    assert len(rows) == 8
    for key, row in before.items():  # finished trials were skipped, not run again
        assert by_trial[key]["recorded_unix"] == row["recorded_unix"]

    # what each scripted trial did, as recorded (see campaign_models.SCENARIOS)
    for row in rows:
        assert row["objective"] == "runtime" and row["source_energy_j"] is None
        assert row["status"] != "failed" and row["pipeline_s"] > 0 and row["tokens_in"] > 0
    for app in ("spin", "wait"):
        assert by_trial[(app, 0)]["vanilla_outcome"] == "improved"  # 40 ms against 120-150 ms
        assert by_trial[(app, 1)]["vanilla_outcome"] == "invalid"  # wrong output
        assert by_trial[(app, 2)]["vanilla_outcome"] == "compile_failed"
        assert by_trial[(app, 2)]["self_corrections"] >= 1 and by_trial[(app, 2)]["final_valid"]
    assert by_trial[("spin", 3)]["vanilla_valid"] and by_trial[("spin", 3)]["final_valid"]
    assert not by_trial[("wait", 1)]["final_valid"]  # nothing it wrote was right
    assert not by_trial[("wait", 3)]["final_valid"]  # the judge rejected everything
    assert by_trial[("wait", 3)]["vanilla_outcome"] == "invalid"

    # the report, checked against the rows
    out = tmp_path / "report"
    assert main(["campaign", "report", str(path), "--out", str(out)]) == 0
    assert main(["campaign", "status", str(path)]) == 0
    assert main(["campaign", "export", str(path), "--format", "csv"]) == 0
    printed = capsys.readouterr().out
    assert "objective: RUNTIME, not energy: no energy sensor on cpu" in printed
    assert "8 of 8 trials finished" in printed
    assert len(_csv(campaign.directory / "results.csv")) == 8

    tasks: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: row["trial"]):
        tasks[row["app"]].append(row)
    for trials in tasks.values():  # Stage 0 measured each source once, for all its trials
        assert len({t["source_runtime_s"] for t in trials}) == 1

    table2 = {row["app"]: row for row in _csv(out / "table2.csv")}
    for app, trials in tasks.items():
        reducing = [t for t in trials if t["status"] == "improved"]
        source = _mean([t["source_runtime_s"] for t in reducing])
        lassi = _mean([t["best_runtime_s"] for t in reducing])
        row = table2[app]
        assert int(row["reducing"]) == len(reducing) and int(row["trials"]) == 4
        assert _close(row["source_runtime_s"], source)
        assert _close(row["lassi_runtime_s"], lassi)
        delta = 100 * (lassi - source) / source if source and lassi else None
        assert _close(row["delta_runtime_s_pct"], delta)
        assert row["lassi_energy_j"] == "" and row["lassi_power_w"] == ""

    table3 = {row["app"]: row for row in _csv(out / "table3.csv")}
    for app, trials in tasks.items():
        improved = [t for t in trials if t["status"] == "improved"]
        best = max(improved, key=lambda t: (t["reduction"], -t["trial"]))
        row = table3[app]
        assert int(row["best_trial"]) == best["trial"]
        assert int(row["self_corrections"]) == best["self_corrections"]
        assert int(row["best_iteration"]) == best["best_iteration"]
        assert _close(row["best_reduction"], best["reduction"])
        assert _close(row["mean_pipeline_s"], _mean([t["pipeline_s"] for t in trials]))

    table4 = _csv(out / "table4.csv")
    assert [(row["device"], row["k"]) for row in table4] == [
        ("cpu", "1"), ("cpu", "2"), ("cpu", "4"), ("all", "1"), ("all", "2"), ("all", "4"),
    ]  # fmt: skip
    for row in table4:
        per_app = [_brute_metrics(trials, int(row["k"])) for trials in tasks.values()]
        expected = [sum(values) / len(per_app) for values in zip(*per_app, strict=True)]
        assert _close(row["vanilla_pass_at_k"], expected[0])
        assert _close(row["full_pass_at_k"], expected[1])
        assert _close(row["vanilla_energy_reduction_at_k"], expected[2])
        assert _close(row["full_energy_reduction_at_k"], expected[3])
        assert _close(row["delta_pass_at_k"], expected[1] - expected[0])
        assert _close(row["delta_energy_reduction_at_k"], expected[3] - expected[2])
        assert row["objective"] == "runtime" and row["trials"] == "8"


@pytest.mark.trial
def test_ctrl_c_stops_the_workers_and_says_how_to_continue(
    write_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_campaign(apps=["apps/spin.cpp"], trials=1, ks=[1])
    marker = tmp_path / "holding"
    env = cli_env(**{HOLD_JUDGE: f"spin:0:{marker}"})
    process = subprocess.Popen(
        [sys.executable, "-m", "lassi_ee.cli", "campaign", "run", str(path)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: marker.exists() or process.poll() is not None, 60, "trial spin #0")
        workers = children(process.pid)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        output, _ = process.communicate(timeout=30)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output
    assert "interrupted: finished trials are stored" in output
    assert "Traceback" not in output
    assert workers
    wait_for(lambda: not any(alive(pid) for pid in workers), 15, "the workers to exit")
