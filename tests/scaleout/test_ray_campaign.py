"""A campaign on a local Ray instance: cpu trials with scripted models, each task holding
one GPU-like "fake_gpu" resource. One worker is SIGKILLed mid-trial: Ray reruns its task,
the trial resumes from its checkpoint, and every trial is recorded once. A trial that fails
is reported once and resumed by the next run."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed")
import lassi_ee
from lassi_ee.campaign.ray_engine import RaySummary, run_ray
from lassi_ee.campaign.runner import TrialEvent
from lassi_ee.campaign.spec import load_campaign
from lassi_ee.campaign.store import ResultsStore
from lassi_ee.cli import main
from lassi_ee.errors import LassiError
from tests.helpers import scaleout_models

REPO_ROOT = Path(lassi_ee.__file__).resolve().parents[1]

pytestmark = [pytest.mark.usefixtures("ray_instance"), pytest.mark.server]
ON_FAKE_GPUS = {"resources": {"cpu": {"fake_gpu": 1}}, "max_retries": 2}


def _wait_for(path: Path, runner: threading.Thread, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert runner.is_alive(), "the campaign ended before the trial was held"
        assert time.monotonic() < deadline, f"timed out waiting for {path}"
        time.sleep(0.1)


@pytest.mark.trial
def test_a_killed_worker_s_trial_resumes_and_every_trial_is_recorded_once(
    write_campaign: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_campaign(name="ray", ray=ON_FAKE_GPUS)  # spin, wait x cpu x 2
    campaign = load_campaign(path)
    killed = "ray-spin-cpu-000"
    control = scaleout_models.control_dir("ray")
    (control / f"hold-{killed}").touch()
    events: list[TrialEvent] = []
    summaries: list[RaySummary] = []
    runner = threading.Thread(
        target=lambda: summaries.append(run_ray(campaign, None, events.append))
    )
    runner.start()
    try:
        _wait_for(control / f"held-{killed}", runner, 120)
        killed_pid = int((control / f"held-{killed}").read_text())
        os.kill(killed_pid, signal.SIGKILL)  # the Ray worker running the trial
    finally:
        runner.join(timeout=300)
    assert not runner.is_alive() and summaries, "the campaign did not end"
    [summary] = summaries
    assert (summary.finished, summary.errors, summary.skipped) == (4, 0, 0)
    assert summary.workers_lost == []

    finished = collections.Counter(e.trial.thread_id for e in events if e.kind == "finished")
    assert finished == collections.Counter(
        {"ray-spin-cpu-000": 1, "ray-spin-cpu-001": 1, "ray-wait-cpu-000": 1, "ray-wait-cpu-001": 1}
    )
    starts = [e for e in events if e.kind == "started" and e.trial.thread_id == killed]
    assert [e.resumed for e in starts] == [False, True]  # Ray reran it; it resumed
    assert starts[0].where.endswith(f"pid {killed_pid}")
    assert not starts[1].where.endswith(f"pid {killed_pid}")

    records = {
        record.thread_id: record for record in ResultsStore(campaign.store_path).records("ray")
    }
    assert sorted(records) == sorted(finished)
    assert sorted(t.thread_id for t in summary.timings) == sorted(finished)
    assert records[killed].status == "improved" and records[killed].vanilla_outcome == "improved"
    calls = collections.Counter(scaleout_models.calls("ray"))
    for thread, record in records.items():
        made = sum(count for (t, _), count in calls.items() if t == thread)
        if thread == killed:  # the judgement cut off by the kill is the one call made again
            assert made == record.llm_calls + 1
            assert calls[(thread, "vanilla")] == 1
        else:
            assert made == record.llm_calls

    assert main(["campaign", "run", str(path), "--engine", "ray"]) == 0  # nothing left to do
    assert "0 trial(s) finished now, 4 already done, 0 with errors" in capsys.readouterr().out


@pytest.mark.trial
def test_a_failing_trial_is_reported_once_and_the_next_run_resumes_it(
    write_campaign: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_campaign(
        name="ray-errors", apps=["apps/spin.cpp"], trials=1, ks=[1], ray=ON_FAKE_GPUS
    )
    campaign = load_campaign(path)
    thread = "ray-errors-spin-cpu-000"
    crash = scaleout_models.control_dir("ray-errors") / f"crash-{thread}"
    crash.touch()
    assert main(["campaign", "run", str(path), "--engine", "ray"]) == 1
    out = capsys.readouterr().out
    assert out.count("spin #0 started on ") == 1  # not retried
    assert "spin #0 ERROR: RuntimeError: judge crashed (test) (see " in out
    assert (campaign.directory / "errors" / f"{thread}.txt").is_file()  # written by the driver
    assert ResultsStore(campaign.store_path).records("ray-errors") == []

    crash.unlink()
    assert main(["campaign", "run", str(path), "--engine", "ray"]) == 0
    out = capsys.readouterr().out
    assert "spin #0 resumed from its checkpoint on " in out
    assert "1 trial(s) finished now, 0 already done, 0 with errors" in out


def test_a_resource_no_node_offers_is_refused_before_anything_waits(
    write_campaign: Callable[..., Path],
) -> None:
    path = write_campaign(name="ray-tpu", trials=1, ks=[1], ray={"resources": {"cpu": {"tpu": 1}}})
    with pytest.raises(
        LassiError, match=r"no node of the Ray cluster offers tpu for the cpu trials"
    ):
        run_ray(load_campaign(path))


@pytest.mark.trial
def test_ctrl_c_stops_a_ray_campaign_and_the_next_run_resumes_its_trial(
    write_campaign: Callable[..., Path], tmp_path: Path
) -> None:
    """The CLI with a Ray instance of its own (--address local), as on one machine; that
    instance has the machine's resources, no fake_gpu, so the trials ask for a CPU."""
    on_cpus = {"resources": {"cpu": {"CPU": 1}}}
    path = write_campaign(name="ray-cli", apps=["apps/spin.cpp"], trials=1, ks=[1], ray=on_cpus)
    thread = "ray-cli-spin-cpu-000"
    control = scaleout_models.control_dir("ray-cli")
    (control / f"hold-{thread}").touch()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "lassi_ee.cli", "campaign", "run", str(path)]
    command += ["--engine", "ray", "--address", "local"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (control / f"held-{thread}").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the trial was not held"
            time.sleep(0.1)
        worker = int((control / f"held-{thread}").read_text())
        os.kill(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        output, _ = process.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output
    assert "interrupted: finished trials are stored" in output
    assert "Traceback" not in output
    deadline = time.monotonic() + 30
    while Path(f"/proc/{worker}").exists():  # the trial's worker went with its Ray instance
        assert time.monotonic() < deadline, "the trial's worker outlived the campaign"
        time.sleep(0.2)

    rerun = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "[cpu] spin #0 resumed from its checkpoint on " in rerun.stdout
    assert "1 trial(s) finished now, 0 already done, 0 with errors" in rerun.stdout
