"""A whole scripted campaign run through the command line, killed with SIGKILL in the
middle of a trial and run again to its end.

It takes minutes, so a test session runs it once (the ``killed_campaign`` fixture of
tests/conftest.py): the campaign tests assert on how it was killed and resumed and on
its tables, the campaign report tests on the report made of it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import lassi_ee
from lassi_ee.campaign.runner import TaskStatus, campaign_status
from lassi_ee.campaign.spec import load_campaign
from lassi_ee.campaign.store import ResultsStore
from tests.helpers.campaign_models import FACTORY_REF, HOLD_JUDGE
from tests.helpers.campaign_programs import APPS, variants

REPO_ROOT = Path(lassi_ee.__file__).resolve().parents[1]


def write_campaign(folder: Path, work_root: Path, **keys: Any) -> Path:
    """A YAML campaign of the two tiny apps on the cpu device with the scripted models and
    short measurements (spin and wait x cpu x 4 trials, ks 1, 2, 4); ``keys`` replace keys."""
    apps = folder / "apps"
    apps.mkdir(exist_ok=True)
    for app in APPS:
        (apps / f"{app}.cpp").write_text(variants(app)["source"])
    spec: dict[str, Any] = {
        "name": "smoke",
        "apps": ["apps/*.cpp"],
        "devices": ["cpu"],
        "trials": 4,
        "ks": [1, 2, 4],
        "models_factory": FACTORY_REF,
        "settings": {
            "work_root": str(work_root),
            "lock_dir": str(folder / "locks"),
            "run_timeout_s": 60,
            "compile_timeout_s": 120,
            "repeats": 2,
            "min_window_s": 0.1,
            "max_iterations": 2,
        },
    }
    spec.update(keys)
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def store_rows(store: Path) -> list[dict[str, Any]]:
    """The results store's rows read with plain SQL: the tests' own path to the data."""
    with sqlite3.connect(store) as connection:
        connection.row_factory = sqlite3.Row
        return [dict(row) for row in connection.execute("SELECT * FROM trials")]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `lassi-ee` child: this checkout, none of the machine's LASSI_*
    settings or keys, no config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LASSI_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    return {**env, "LASSI_CONFIG": os.devnull, **extra}


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class KilledCampaign:
    path: Path  # the campaign file
    rows_before: dict[tuple[str, int], dict[str, Any]]  # the store's rows after the kill
    status_after_kill: dict[str, TaskStatus]  # per app
    rerun: subprocess.CompletedProcess[str]  # the run that finished it


def run_killed_campaign(folder: Path, work_root: Path) -> KilledCampaign:
    """Run the campaign through the CLI, kill its process (SIGKILL, the campaign process
    alone) while trial spin #2 waits in its first judgement, then run it again."""
    path = write_campaign(folder, work_root)
    campaign = load_campaign(path)
    marker = folder / "holding"
    env = cli_env(**{HOLD_JUDGE: f"spin:2:{marker}"})  # trial spin #2 waits in its judgement
    command = [sys.executable, "-m", "lassi_ee.cli", "campaign", "run", str(path)]
    first_log = folder / "first.log"
    with first_log.open("w") as log:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: marker.exists() or process.poll() is not None, 150, "trial spin #2")
        assert process.poll() is None, first_log.read_text()
        workers = children(process.pid)
        assert workers, "the device worker is a child of the campaign process"
        os.kill(process.pid, signal.SIGKILL)  # the campaign process only, not its group
        process.wait()
        wait_for(lambda: not any(alive(pid) for pid in workers), 15, "the workers to die")
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    rows_before = {(row["app"], row["trial"]): row for row in store_rows(campaign.store_path)}
    status = campaign_status(campaign, ResultsStore(campaign.store_path))
    env.pop(HOLD_JUDGE)
    rerun = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=400
    )
    return KilledCampaign(
        path=path,
        rows_before=rows_before,
        status_after_kill={task.app: task for task in status},
        rerun=rerun,
    )
