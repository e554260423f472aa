"""A trial SIGKILLed at several points and resumed ends as an uninterrupted one, and
repeats no completed step: no LLM call re-issued, only the killed measurement and the
killed confirmation redone (a confirmation is one session: its pairs are never mixed
with another session's)."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lassi_ee
from lassi_ee.api import resume_graph
from lassi_ee.report.console import print_result
from lassi_ee.trials import read_trial, show_trial
from tests.helpers.trial_programs import answer_by_best_code

pytestmark = pytest.mark.trial

ROOT = Path(lassi_ee.__file__).resolve().parents[1]


def child(mode: str, source: Path, thread: str, settings, log: Path, kill: str) -> int:
    command = [sys.executable, "-m", "tests.helpers.trial_child", mode, str(source), thread]
    command += [settings.model_dump_json(), str(log), kill]
    return subprocess.run(
        command, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=240
    ).returncode


def summary(settings, thread: str):
    return resume_graph(thread, settings=settings, models=answer_by_best_code())


def wall_s(settings, thread: str) -> float:
    """From Stage 0's start to the archive, dead time included."""
    state = read_trial(thread, settings).state
    return state["finished_unix"] - state["started_unix"]


def test_killed_at_several_points_then_resumed_matches_an_uninterrupted_trial(
    source_file, trial_settings, tmp_path, capsys
):
    trial_settings = trial_settings.model_copy(update={"max_iterations": 4})
    straight_log, killed_log = tmp_path / "straight.log", tmp_path / "killed.log"
    assert child("run", source_file, "straight", trial_settings, straight_log, "none") == 0

    killed = -signal.SIGKILL
    assert (
        child("run", source_file, "killed", trial_settings, killed_log, "after:vanilla") == killed
    )
    cut_off = show_trial("killed", trial_settings)
    print_result(cut_off)
    assert cut_off.status == "unfinished" and cut_off.pipeline_s is None
    shown = " ".join(capsys.readouterr().out.split())
    assert "stopped: not yet (`lassi-ee resume killed` continues it)" in shown
    dead_s = 1.5
    time.sleep(dead_s)  # the trial lies dead for a while before it is resumed
    for kill in ("during:measure", "during:confirm", "after:plan"):
        assert child("resume", source_file, "killed", trial_settings, killed_log, kill) == killed
    assert child("resume", source_file, "killed", trial_settings, killed_log, "none") == 0

    straight, resumed = summary(trial_settings, "straight"), summary(trial_settings, "killed")
    assert resumed.status == straight.status == "improved"
    assert resumed.best_version == straight.best_version
    assert resumed.stop_reason == straight.stop_reason
    assert resumed.versions == straight.versions and resumed.iterations == straight.iterations
    assert resumed.best_code == straight.best_code

    straight_calls = collections.Counter(straight_log.read_text().split())
    killed_calls = collections.Counter(killed_log.read_text().split())
    measurements = killed_calls.pop("measure") - straight_calls.pop("measure")
    confirmations = killed_calls.pop("confirm") - straight_calls.pop("confirm")
    assert killed_calls == straight_calls  # no LLM call was made twice
    assert measurements == 1  # only the measurement cut off mid-way was redone
    assert confirmations == 1  # and only the confirmation cut off mid-way
    # its running time leaves out the time it lay dead (and the restarts' own start-up)
    assert 0 < straight.pipeline_s <= wall_s(trial_settings, "straight")
    assert 0 < resumed.pipeline_s <= wall_s(trial_settings, "killed") - dead_s
