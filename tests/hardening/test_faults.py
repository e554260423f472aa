"""Faults around a trial: the pipeline SIGKILLed at every step, an LLM server that fails
in every way it can, a sensor that errors mid-measurement, a full disk, two trials on one
device, a checkpoint database another process holds locked."""

from __future__ import annotations

import collections
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pynvml
import pytest
from pydantic import SecretStr

import lassi_ee.tools.profile as profile_tool
from lassi_ee.api import resume_graph, run_graph
from lassi_ee.devices import Device
from lassi_ee.energy.base import Timeline
from lassi_ee.energy.nvidia import NvidiaBackend
from lassi_ee.errors import LassiError
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.checkpoint import open_checkpointer
from lassi_ee.trials import show_trial
from tests.helpers.hardening_trials import outcomes, run_trial, trial_state
from tests.helpers.killed_chain import KILLS, KilledChain, child
from tests.helpers.openai_stub import StubOpenAIServer
from tests.helpers.trial_programs import (
    FASTER,
    SAME,
    VALID,
    WRONG_RESULT,
    answer_by_best_code,
    fenced,
    scripted,
    variant,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IS_ROOT = os.getuid() == 0


def finish(process: subprocess.Popen[bytes], timeout_s: float = 240) -> int:
    return process.wait(timeout=timeout_s)


# --- SIGKILL at every step -------------------------------------------------------------

TRIAL_CHILD = "tests.helpers.trial_child"


def log_lines(log: Path, kind: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.startswith(kind)]


@pytest.mark.trial
def test_killed_after_every_step_and_mid_measurement_then_resumed_matches_a_straight_run(
    killed_chain: KilledChain,
):
    """The session's chain (tests/helpers/killed_chain.py): a trial that visits every node,
    killed after the first step of each, in a measurement and in a confirmation."""
    every_node = set(compile_graph().get_graph().nodes) - {"__start__", "__end__"}
    assert {kill.split(":")[1] for kill in KILLS if kill.startswith("after:")} == every_node

    settings = killed_chain.settings
    straight_log, killed_log = killed_chain.straight_log, killed_chain.killed_log
    assert killed_chain.straight_exit == 0
    assert set(log_lines(straight_log, "node")) == every_node  # the trial visits every node
    for kill, code in killed_chain.kill_exits:
        assert code == -signal.SIGKILL, f"{kill}: exit status {code}"
    assert killed_chain.last_exit == 0

    straight = resume_graph("straight", settings=settings, models=scripted())
    killed = resume_graph("killed", settings=settings, models=scripted())
    assert killed.status == straight.status == "improved"
    for field in ("best_version", "best_code", "stop_reason", "versions", "iterations"):
        assert getattr(killed, field) == getattr(straight, field), field
    assert killed.self_corrections == straight.self_corrections == 2
    killed_state, straight_state = (
        trial_state(settings, "killed"),
        trial_state(settings, "straight"),
    )
    assert outcomes(killed_state) == outcomes(straight_state)
    # resumed 20 times with no flags: the settings it started with, never changed
    assert killed_state["trial_settings"] == straight_state["trial_settings"]
    assert killed_state["trial_settings"] == settings.trial_record()
    assert killed_state.get("resumed_with", []) == []
    manifest = json.loads((Path(killed.archive_path) / "manifest.json").read_text())
    # v2 (sibling 1) and its fixes v4 and v5, v3 (sibling 2) assessed while v5 waited for
    # the pick, then v5 confirmed; the second step's two siblings
    assert [(v["version"], v["outcome"]) for v in manifest["versions"]] == [
        (1, "invalid"), (2, "compile_failed"), (4, "run_failed"), (3, "invalid"),
        (5, "improved"), (6, "invalid"), (7, "invalid"),
    ]  # fmt: skip
    # no completed step ran twice, so no LLM call was made twice; only the measurement
    # and the confirmation cut off part-way were made again
    assert log_lines(killed_log, "llm") == log_lines(straight_log, "llm")
    killed_steps = log_lines(killed_log, "node")
    straight_steps = log_lines(straight_log, "node")
    assert killed_steps == straight_steps
    killed_events = collections.Counter(killed_log.read_text().split("\n"))
    straight_events = collections.Counter(straight_log.read_text().split("\n"))
    assert killed_events["measure"] == straight_events["measure"] + 1
    assert straight_events["confirm"] == 2  # v5 against the source, then Stage 4's
    assert killed_events["confirm"] == straight_events["confirm"] + 1


# --- the LLM server fails in every way ------------------------------------------------

JUDGE_VALID = json.dumps(VALID)


@pytest.mark.trial
def test_rate_limits_server_errors_timeouts_and_malformed_replies_over_http(
    source_file, trial_settings
):
    """429 and 500 are retried, a reply slower than the timeout is asked again, a judge
    reply that says nothing readable makes the version INVALID, a reply with no program
    loses that attempt, an empty report leaves a note; the trial still ends improved."""
    server = StubOpenAIServer().start()
    script = [
        ("fail", 429, "Rate limit reached"), ("fail", 500, "internal error"),
        ("reply", fenced(variant(SAME, 1))),                   # vanilla, third attempt
        ("slow", JUDGE_VALID), ("reply", "Looks fine to me."),  # judge: timeout, then prose
        ("reply", "Avoid busy waiting."), ("reply", "It spins."), ("reply", "1. Spin less."),
        ("reply", "I would shorten the loop."),                 # refactor 1: no program
        ("reply", fenced(FASTER)), ("reply", JUDGE_VALID),      # refactor 2, judged
        ("reply", ""),                                          # compare: empty
    ]  # fmt: skip
    for kind, *what in script:
        if kind == "fail":
            server.fail(*what)
        else:
            server.reply(what[0], delay_s=3.0 if kind == "slow" else 0.0)
    settings = trial_settings.model_copy(
        update={
            "base_url": server.base_url,
            "api_key": SecretStr("sk-test"),
            "max_iterations": 2,
            "max_reasks": 0,
            "request_timeout_s": 1.0,
            "llm_max_attempts": 3,
            "llm_backoff_initial_s": 0.01,
            "llm_backoff_max_s": 0.02,
        }
    )
    try:
        result = run_graph(source_file, "cpu", thread_id="t1", settings=settings)
    finally:
        server.stop()
    state = trial_state(settings, "t1")
    assert len(server.requests) == len(script)
    vanilla, lost, faster = state["history"]
    assert (
        vanilla.outcome == "invalid" and "no verdict from the judge" in vanilla.verdict.reasons[0]
    )
    assert lost.outcome == "invalid" and "no complete program" in lost.note
    assert faster.outcome == "improved" and result.best_version == faster.version
    assert result.status == "improved" and result.stop_reason == "iteration cap reached (2)"
    assert state.get("comparison") is None
    assert "gave only empty replies" in state["comparison_error"]
    assert (Path(result.archive_path) / "manifest.json").is_file()


@pytest.mark.trial
def test_an_unreachable_a_failing_and_a_stalled_llm_server_interrupt_and_resume_finishes(
    source_file, trial_settings
):
    """A closed port, a server that answers 503 and one that stalls past the timeout:
    after the retries each interrupts the trial (no outcome, nothing finalized); against
    a live server the resume finishes it, asking nothing that had been answered."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    closed.close()
    failing, stalled, live = (StubOpenAIServer().start() for _ in range(3))
    for _ in range(2):
        failing.fail(503, "the server is overloaded")
        stalled.reply(fenced(variant(SAME, 1)), delay_s=3.0)
    for reply in (
        fenced(variant(SAME, 1)), JUDGE_VALID, "Avoid busy waiting.", "It spins.", "1. Spin less.",
        fenced(FASTER), JUDGE_VALID, "It spins less.", "ACE | shorter loop | less work",
    ):  # fmt: skip
        live.reply(reply)
    base = trial_settings.model_copy(
        update={
            "api_key": SecretStr("sk-test"),
            "llm_max_attempts": 2,
            "request_timeout_s": 1.0,
            "llm_backoff_initial_s": 0.01,
            "llm_backoff_max_s": 0.02,
        }
    )
    try:
        started = base.model_copy(update={"base_url": closed_url})
        results = [run_graph(source_file, "cpu", thread_id="t1", settings=started)]
        for url in (failing.base_url, stalled.base_url):  # the trial keeps its endpoint
            results.append(resume_graph("t1", settings=base, overrides={"base_url": url}))
        finished = resume_graph("t1", settings=base, overrides={"base_url": live.base_url})
    finally:
        for server in (failing, stalled, live):
            server.stop()
    for result, url, words in zip(
        results,
        (closed_url, failing.base_url, stalled.base_url),
        ("Connection error", "503", "timed out"),
        strict=True,
    ):
        assert result.status == "interrupted", result
        assert f"the LLM server at {url} for 'vanilla'" in result.stop_reason
        assert words in result.stop_reason and "`lassi-ee resume t1`" in result.stop_reason
        assert result.archive_path is None  # nothing was finalized
    assert len(failing.requests) == len(stalled.requests) == 2  # each retried once
    assert finished.status == "improved" and finished.best_version == 2
    assert len(live.requests) == 9  # the whole trial once: nothing answered was asked again
    state = trial_state(base, "t1")
    assert [c.outcome for c in state["history"]] == ["not_lower", "improved"]
    assert state["resumed_with"] == [
        f"resumed with base_url {new} instead of {old}"
        for old, new in pairwise([closed_url, failing.base_url, stalled.base_url, live.base_url])
    ]
    assert state["trial_settings"]["base_url"] == live.base_url  # the override stays
    with open_checkpointer(base.checkpoint_url) as saver:  # each step's own, newest first
        steps = saver.list({"configurable": {"thread_id": "t1"}})
        urls = [
            json.loads(c.metadata["lassi_settings"])["base_url"]
            for c in steps
            if "lassi_settings" in c.metadata
        ]
    assert urls[0] == live.base_url and urls[-1] == closed_url
    assert "api_key" not in state["trial_settings"]


# --- the sensor fails mid-measurement --------------------------------------------------


class FailingNvml:
    """NVML as pynvml offers it, on the real clock: a steady 100 W, the energy counter (mJ)
    updated every 10 ms, and pynvml's own 'GPU is lost' error on the ``fail_at``-th
    counter read, as a driver fault mid-measurement gives."""

    NVMLError = pynvml.NVMLError
    PERIOD_S = 0.01

    def __init__(self, fail_at: int | None) -> None:
        self.fail_at = fail_at
        self.reads = 0

    def nvmlInit(self) -> None:
        return None

    def nvmlShutdown(self) -> None:
        return None

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self.reads += 1
        if self.reads == self.fail_at:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return int(time.perf_counter() / self.PERIOD_S) * 1000  # 100 W = 1 J per 10 ms

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 100_000

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return 700_000


GPU = Device(spec="cuda:0", kind="cuda", name="replayed GPU", arch="sm_90", visible_id="0")


@pytest.mark.parametrize("failing", ["once", "always"])
@pytest.mark.trial
def test_an_nvml_error_mid_measurement_is_retried_once_then_the_trial_goes_on(
    failing, source_file, trial_settings, monkeypatch
):
    """The NVIDIA backend turns NVML's error into a SensorError; the candidate is measured
    again, and when that fails too it is left unmeasured and the trial goes on."""
    sensors: list[FailingNvml] = []

    def backend_for(device):
        # the source's sensor works; a candidate's fails three quarters of the way through
        # the reads a whole measurement makes (as many as the source's took)
        fails = bool(sensors) and (failing == "always" or len(sensors) == 1)
        sensors.append(FailingNvml(fail_at=sensors[0].reads * 3 // 4 if fails else None))
        return NvidiaBackend(GPU, sensors[-1])

    monkeypatch.setattr(profile_tool, "backend_for", backend_for)
    settings = trial_settings.model_copy(
        update={"settle_window_s": 0.05, "settle_tolerance_w": 50.0}
    )
    model = scripted(
        vanilla=[fenced(FASTER)], refactor=[fenced(variant(FASTER, 1))], judge=[VALID] * 5
    )
    result, state = run_trial(source_file, settings, model)
    vanilla = state["history"][0]
    assert sensors[1].reads == sensors[1].fail_at > 50  # it failed part-way through
    if failing == "once":
        # the vanilla version's second sensor worked (what comes after depends on the
        # figures: this board draws its idle power, so nothing is reliably lower)
        assert sensors[2].fail_at is None and sensors[2].reads > 50
        assert vanilla.profile is not None and vanilla.verdict is not None
        assert vanilla.outcome in ("improved", "not_lower")
    else:
        assert len(sensors) == 1 + 2 + 2  # every candidate measured twice, in vain
        assert vanilla.profile is None and vanilla.outcome == "abandoned"
        assert "not measured: NVML energy read failed" in vanilla.note
        assert "GPU is lost" in vanilla.note and "2 attempts" in vanilla.note
        assert outcomes(state)[1] == ("refactor", 1, 0, "abandoned")  # the trial went on
        assert result.status == "no_improvement" and result.stop_reason


# --- a full disk -----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB file system (tmpfs) to fill up; needs root and mount."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; delete the returned file to give them back."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)
    return filler


@pytest.mark.trial
def test_a_full_disk_at_the_archive_keeps_the_result_and_the_archive_can_be_rewritten(
    source_file, trial_settings, small_disk
):
    settings = trial_settings.model_copy(update={"runs_dir": small_disk / "runs"})
    filler: list[Path] = []

    def fill_before_finalize(node: str, update: dict[str, Any]) -> None:
        if node == "compare":
            filler.append(fill(small_disk))

    model = scripted(vanilla=[fenced(FASTER)], refactor=[fenced(WRONG_RESULT)], judge=[VALID])
    result, state = run_trial(source_file, settings, model, on_update=fill_before_finalize)
    assert filler and result.status == "improved" and result.best_version == 1
    assert result.archive_error and "--rewrite-archive" in result.archive_error
    assert "No space left" in result.archive_error
    assert len(state["history"]) == 2  # nothing of the trial was lost
    assert not (settings.runs_dir / "t1" / "manifest.json").exists()

    filler[0].unlink()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LASSI_CONFIG": os.devnull,
        "LASSI_RUNS_DIR": str(settings.runs_dir),
        "LASSI_CHECKPOINT_URL": settings.checkpoint_url,
    }
    command = [sys.executable, "-m", "lassi_ee.cli", "show", "t1"]
    rewrite = subprocess.run([*command, "--rewrite-archive"], env=env, capture_output=True)
    assert rewrite.returncode == 0, rewrite.stderr
    manifest = json.loads((settings.runs_dir / "t1" / "manifest.json").read_text())
    assert [v["outcome"] for v in manifest["versions"]] == ["improved", "invalid"]
    shown = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
    assert json.loads(shown.stdout)["archive_error"] is None


@pytest.mark.trial
def test_a_full_disk_mid_trial_interrupts_it_and_it_resumes_once_there_is_space(
    source_file, trial_settings, small_disk
):
    settings = trial_settings.model_copy(update={"runs_dir": small_disk / "runs"})
    filler: list[Path] = []

    def fill_after_the_plan(node: str, update: dict[str, Any]) -> None:
        if node == "plan":
            filler.append(fill(small_disk))

    model = scripted(vanilla=[fenced(SAME)], refactor=[fenced(FASTER)], judge=[VALID] * 2)
    stopped = run_graph(
        source_file, "cpu", thread_id="t1", settings=settings, models=model,
        on_update=fill_after_the_plan,
    )  # fmt: skip
    message = stopped.stop_reason or ""
    assert stopped.status == "interrupted" and stopped.archive_path is None
    assert "\n" not in message and "No space left" in message and str(small_disk) in message
    assert "lassi-ee resume t1" in message
    assert show_trial("t1", settings).status == "interrupted"  # what `show` reads later
    filler[0].unlink()
    result = resume_graph("t1", settings=settings, models=model)
    assert result.status == "improved" and result.best_version == 2
    assert len(model.calls_for("refactor")) == 1  # the refactoring was not asked for again


# --- two trials on one device at once ---------------------------------------------------


def measurement_windows(settings, thread: str) -> list[tuple[float, float]]:
    """(start, end) in Unix time of each measurement a trial made, from its timelines."""
    windows = []
    for path in (settings.runs_dir / thread).glob("versions/*/*timeline.json"):
        timeline = Timeline.load(path)
        times = [marker.t_s for marker in timeline.markers]
        windows.append((timeline.started_unix, timeline.started_unix + max(times)))
    return windows


@pytest.mark.trial
def test_two_trials_on_one_device_at_once_never_measure_at_the_same_time(
    source_file, trial_settings, tmp_path
):
    """Two processes start trials of the same source on the cpu device together: they
    share the Stage-0 cache (measured once) and their measurements take turns."""
    settings = trial_settings.model_copy(update={"max_iterations": 3})
    processes = [
        child(TRIAL_CHILD, "run", str(source_file), thread, settings.model_dump_json(),
              str(tmp_path / f"{thread}.log"), "none")
        for thread in ("first", "second")
    ]  # fmt: skip
    assert [finish(process) for process in processes] == [0, 0]

    results = {
        t: resume_graph(t, settings=settings, models=scripted()) for t in ("first", "second")
    }
    assert all(r.status == "improved" for r in results.values()), results
    cached = [trial_state(settings, t)["reference"].from_cache for t in ("first", "second")]
    assert sorted(cached) == [False, True]  # the source was measured once
    windows = {t: measurement_windows(settings, t) for t in ("first", "second")}
    assert all(len(w) >= 3 for w in windows.values())
    for (a_start, a_end), (b_start, b_end) in (
        (a, b) for a in windows["first"] for b in windows["second"]
    ):
        assert a_end <= b_start or b_end <= a_start, "two measurements overlapped"


# --- one driver per trial --------------------------------------------------------------


@pytest.mark.trial
def test_a_second_driver_of_a_live_trial_is_refused_and_a_dead_ones_lock_is_taken_over(
    source_file, trial_settings, tmp_path
):
    """A resume of a trial another process is running used to re-measure a finished
    version, ask the LLM again and crash the first process; now it is one line naming
    that process. Once that process is killed, its lock is taken over."""
    log = tmp_path / "calls.log"
    args = ["run", str(source_file), "t1", trial_settings.model_dump_json(), str(log)]
    driver = child(TRIAL_CHILD, *args, "hold:vanilla")
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{log}.held").exists():
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        holder = f"trial t1 is being run by pid {driver.pid} on "
        with pytest.raises(LassiError, match=holder):
            resume_graph("t1", settings=trial_settings, models=answer_by_best_code(log))
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "LASSI_CONFIG": os.devnull,
            "LASSI_CHECKPOINT_URL": trial_settings.checkpoint_url,
            "LASSI_BASE_URL": "http://127.0.0.1:9/v1",
        }  # fmt: skip
        with pytest.raises(LassiError, match=holder):
            run_graph(
                source_file, "cpu", thread_id="t1", settings=trial_settings, models=scripted()
            )
        refused = subprocess.run(
            [sys.executable, "-m", "lassi_ee.cli", "resume", "t1"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 1 and refused.stderr.startswith(f"lassi-ee: {holder}")
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    finally:
        driver.kill()
        driver.wait()
    result = resume_graph("t1", settings=trial_settings, models=answer_by_best_code(log))
    assert result.status == "improved"
    calls = log.read_text().split()
    assert calls.count("vanilla") == 1 and calls.count("refactor") == 1  # nothing asked twice


# --- the checkpoint database locked by another process -------------------------------


@contextlib.contextmanager
def locked(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding an exclusive lock on the SQLite database."""
    locker = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(120)",
            str(database),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        yield locker
    finally:
        locker.kill()
        locker.wait()


def _open_and_write(database: Path, start: Any, failures: Any) -> None:
    """Opens a checkpoint database the moment every sibling is ready, and writes a row."""
    start.wait()
    try:
        with open_checkpointer(str(database)) as saver, saver.cursor() as cursor:
            cursor.execute(
                "INSERT INTO writes (thread_id, checkpoint_id, task_id, idx, channel) "
                "VALUES (?, 'c', 't', 0, 'x')",
                (str(os.getpid()),),
            )
    except LassiError as error:
        failures.put(str(error))


def test_trials_that_open_a_new_checkpoint_database_together_all_get_it(tmp_path):
    """Four processes at once on a new SQLite file, 150 times: unserialized, about one in
    seventy met "database is locked" at once while another turned the file to WAL."""
    forked = multiprocessing.get_context("fork")
    failures = forked.Queue()
    for attempt in range(150):
        start = forked.Barrier(4)
        database = tmp_path / f"{attempt}.sqlite"
        openers = [
            forked.Process(target=_open_and_write, args=(database, start, failures))
            for _ in range(4)
        ]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=60)
        assert [opener.exitcode for opener in openers] == [0, 0, 0, 0]
        assert failures.empty(), failures.get()
        with sqlite3.connect(database) as connection:
            assert connection.execute("SELECT count(*) FROM writes").fetchone() == (4,)


def test_a_checkpoint_database_whose_setup_lock_cannot_be_made_is_one_line(tmp_path):
    database = tmp_path / "checkpoints.sqlite"
    (tmp_path / "checkpoints.sqlite.setup-lock").mkdir()  # in the way of the lock file
    with pytest.raises(LassiError) as refused, open_checkpointer(str(database)):
        pass
    message = str(refused.value)
    assert "checkpoints.sqlite.setup-lock cannot be created" in message and "\n" not in message


def test_a_locked_checkpoint_database_is_one_clear_line(source_file, trial_settings, tmp_path):
    settings = trial_settings.model_copy(update={"checkpoint_lock_timeout_s": 0.5})
    database = Path(settings.checkpoint_url)
    with locked(database):
        started = time.monotonic()
        with pytest.raises(LassiError) as refused:
            run_graph(source_file, "cpu", thread_id="t1", settings=settings, models=scripted())
        waited = time.monotonic() - started
        proc = subprocess.run(
            [sys.executable, "-m", "lassi_ee.cli", "run", str(source_file), "--device", "cpu"],
            env={
                **os.environ, "PYTHONPATH": str(ROOT), "LASSI_CONFIG": os.devnull,
                "LASSI_BASE_URL": "http://127.0.0.1:9/v1",  # a model that needs no key
                "LASSI_CHECKPOINT_URL": str(database), "LASSI_CHECKPOINT_LOCK_TIMEOUT_S": "0.5",
            },
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert str(database) in str(refused.value) and "locked" in str(refused.value)
    assert waited < 10
    assert proc.returncode == 1 and proc.stderr.startswith("lassi-ee: checkpoint database")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.trial
def test_a_database_locked_mid_trial_interrupts_it_and_it_resumes(source_file, trial_settings):
    settings = trial_settings.model_copy(update={"checkpoint_lock_timeout_s": 0.5})
    lockers: list[contextlib.ExitStack] = []

    def lock_after_vanilla(node: str, update: dict[str, Any]) -> None:
        if node == "vanilla":
            stack = contextlib.ExitStack()
            stack.enter_context(locked(Path(settings.checkpoint_url)))
            lockers.append(stack)

    model = scripted(vanilla=[fenced(FASTER)], refactor=[fenced(WRONG_RESULT)], judge=[VALID])
    try:
        stopped = run_graph(
            source_file, "cpu", thread_id="t1", settings=settings, models=model,
            on_update=lock_after_vanilla,
        )  # fmt: skip
    finally:
        for stack in lockers:
            stack.close()
    message = stopped.stop_reason or ""
    assert stopped.status == "interrupted" and "database is locked" in message
    assert settings.checkpoint_url in message and "lassi-ee resume t1" in message
    result = resume_graph("t1", settings=settings, models=model)
    assert result.status == "improved" and result.best_version == 1
    assert len(model.calls_for("vanilla")) == 1
