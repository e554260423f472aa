"""Checkpoints in a real PostgreSQL server: a campaign trial whose worker is SIGKILLed
mid-trial resumes from them, repeating no completed step, and ends as the same trial
run straight through with SQLite checkpoints does; `lassi-ee trials` reads them."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

import lassi_ee
from lassi_ee.campaign.runner import campaign_status, run_campaign_trial
from lassi_ee.campaign.spec import load_campaign
from lassi_ee.campaign.store import ResultsStore
from lassi_ee.cli import main
from lassi_ee.errors import LassiError
from lassi_ee.graph.checkpoint import open_checkpointer, trial_lock
from tests.helpers import scaleout_models

pytestmark = pytest.mark.server
REPO_ROOT = Path(lassi_ee.__file__).resolve().parents[1]

KILLED = "pg-spin-cpu-000"


def _wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, "the campaign ended before the trial was held"
        assert time.monotonic() < deadline, f"timed out waiting for {path}"
        time.sleep(0.1)


@pytest.mark.trial
def test_a_trial_killed_mid_way_resumes_from_postgres_checkpoints(
    postgres_url: str,
    write_campaign: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one_trial = {"apps": ["apps/spin.cpp"], "trials": 1, "ks": [1]}
    straight = load_campaign(write_campaign(name="straight", **one_trial))
    expected = run_campaign_trial(straight, "spin", "cpu", 0)  # SQLite, never interrupted

    path = write_campaign(name="pg", settings={"checkpoint_url": postgres_url}, **one_trial)
    campaign = load_campaign(path)
    assert campaign.settings().checkpoint_url == postgres_url
    control = scaleout_models.control_dir("pg")
    (control / f"hold-{KILLED}").touch()
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "lassi_ee.cli", "campaign", "run", str(path)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(control / f"held-{KILLED}", process, 120)
        os.kill(int((control / f"held-{KILLED}").read_text()), signal.SIGKILL)  # the worker
        output, _ = process.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 1, output
    assert "the worker of cpu died" in output

    [task] = campaign_status(campaign, ResultsStore(campaign.store_path))
    assert (task.finished, task.cut_off) == (0, 1)  # read from Postgres
    assert main(["--checkpoints", postgres_url, "trials"]) == 0
    listed = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert listed[KILLED] == "unfinished"

    rerun = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "[cpu] spin #0 resumed from its checkpoint" in rerun.stdout

    [record] = ResultsStore(campaign.store_path).records("pg")
    same = ("status", "vanilla_outcome", "final_valid", "best_iteration", "versions", "iterations")
    assert {key: getattr(record, key) for key in same} == {
        key: getattr(expected, key) for key in same
    }
    assert record.status == "improved" and record.llm_calls == expected.llm_calls
    made = collections.Counter(role for thread, role in scaleout_models.calls("pg"))
    straight_made = collections.Counter(role for thread, role in scaleout_models.calls("straight"))
    assert made - straight_made == collections.Counter({"judge": 1})  # only the killed call
    assert straight_made - made == collections.Counter()

    assert main(["--checkpoints", postgres_url, "trials"]) == 0
    listed = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert listed[KILLED] == "improved"


@pytest.mark.trial
def test_trials_started_together_share_one_postgres_schema(postgres_url: str) -> None:
    """Processes that open the checkpointer at once (a cluster's first trials) all get in."""
    code = (
        "import sys; from lassi_ee.graph.checkpoint import open_checkpointer\n"
        "with open_checkpointer(sys.argv[1]) as saver: print(saver.get_tuple("
        "{'configurable': {'thread_id': 'nobody'}}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    database = postgres_url.rsplit("/", 1)[0] + "/fresh"
    subprocess.run(
        [sys.executable, "-c", f"import psycopg; psycopg.connect({postgres_url!r}, autocommit=True)"
         f".execute('CREATE DATABASE fresh')"], check=True, env=env,
    )  # fmt: skip
    children = [
        subprocess.Popen([sys.executable, "-c", code, database], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(4)
    ]  # fmt: skip
    outputs = [child.communicate(timeout=60)[0] for child in children]
    assert [child.returncode for child in children] == [0] * 4, outputs
    assert all(output.strip() == "None" for output in outputs)
    with open_checkpointer(database) as saver:
        assert list(saver.list(None)) == []


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    with (
        pytest.raises(
            LassiError, match=r"postgresql://lassi:\*\*\*@127.0.0.1:1/x cannot be reached"
        ),
        open_checkpointer("postgresql://lassi:secret@127.0.0.1:1/x"),
    ):
        pass


def test_one_process_drives_a_trial_and_a_dead_drivers_lock_is_released(
    postgres_url: str,
) -> None:
    """With shared checkpoints, two nodes could drive one trial: the second is refused,
    naming the first; the server drops a killed driver's lock with its connection."""
    script = (
        "import sys, time\nfrom lassi_ee.graph.checkpoint import trial_lock\n"
        "with trial_lock(sys.argv[1], 'pg-held'):\n"
        "    print('held', flush=True)\n    time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    driver = subprocess.Popen(
        [sys.executable, "-c", script, postgres_url], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "held"
        with (
            pytest.raises(LassiError, match=f"trial pg-held is being run by pid {driver.pid} on "),
            trial_lock(postgres_url, "pg-held"),
        ):
            pass
        with trial_lock(postgres_url, "pg-other"):  # other trials are not held up
            pass
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 10
    while True:  # the server notices the closed connection within moments
        try:
            with trial_lock(postgres_url, "pg-held"):
                break
        except LassiError:
            assert time.monotonic() < deadline, "the dead driver's lock was never released"
            time.sleep(0.1)
