"""Hostile or broken candidates, each a real compiled program inside a whole trial on the
cpu device: the harm is contained, the host and other trials go on unharmed, no secret
reaches the child, and the trial goes on to its next candidate and a result."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.decide import screen_lower
from lassi_ee.energy.measure import measure, one_at_a_time
from lassi_ee.energy.replay import ReplayBoard, Trace
from lassi_ee.graph.checkpoint import open_checkpointer
from lassi_ee.tools.run import RunRequest, RunResult, run_program
from tests.helpers.hardening_trials import files_containing, outcomes, run_trial
from tests.helpers.hostile_programs import (
    CHATTY,
    CHEAT,
    FORK_STORM,
    HUGE_FILE,
    INFINITE_LOOP,
    PROCESS_HOG,
    SLEEPY,
    includes_file,
    process_name,
    processes_named,
    vandal,
)
from tests.helpers.trial_programs import FASTER, SOURCE, VALID, WRONG_RESULT, fenced, scripted

IS_ROOT = os.getuid() == 0
SHADOW = Path("/etc/shadow")
SECRETS = {
    "OPENAI_API_KEY": "sk-hardening-openai-5ec7e7",
    "LASSI_API_KEY": "sk-hardening-lassi-5ec7e7",
    "HF_TOKEN": "hf_hardening_5ec7e7",
}


def forever(item):
    return [item] * 30


THREADED_HELLO = r"""
#include <pthread.h>
#include <stdio.h>
static void *work(void *arg) { return arg; }
int main(void) {
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&threads[i], NULL, work, NULL) != 0) { puts("no thread"); return 1; }
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    puts("hello");
    return 0;
}
"""


def wait_until_gone(name: str, timeout_s: float = 3.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while processes_named(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_named(name)


@pytest.mark.trial
def test_endless_loop_and_fork_storm_are_killed_and_the_trial_goes_on(
    source_file, trial_settings, tmp_path
):
    """The vanilla candidate never ends, the refactored one forks without end; both are
    killed at the run timeout with everything they started, and the self-correction
    that follows wins. A normal trial run beside the storm is not disturbed."""
    storm_started = threading.Event()

    def watch_for_storm() -> None:
        deadline = time.monotonic() + 120
        while not processes_named(process_name("storm")) and time.monotonic() < deadline:
            time.sleep(0.05)
        storm_started.set()

    neighbour: dict[str, object] = {}

    def neighbour_trial() -> None:
        storm_started.wait(timeout=120)
        # its own source and cache: its Stage 0 runs while the storm is on
        folder = tmp_path / "neighbour"
        folder.mkdir()
        (folder / "spin.cpp").write_text(source_file.read_text())
        settings = trial_settings.model_copy(update={"cache_dir": tmp_path / "cache-neighbour"})
        model = scripted(vanilla=[fenced(FASTER)], refactor=[fenced(WRONG_RESULT)], judge=[VALID])
        neighbour["result"], neighbour["state"] = run_trial(
            folder / "spin.cpp", settings, model, thread_id="neighbour"
        )

    threads = [threading.Thread(target=watch_for_storm), threading.Thread(target=neighbour_trial)]
    model = scripted(
        vanilla=[fenced(INFINITE_LOOP)],
        refactor=[fenced(FORK_STORM)],
        fix_runtime=[fenced(FASTER)],
        judge=forever(VALID),
    )
    for thread in threads:
        thread.start()
    result, state = run_trial(source_file, trial_settings, model)
    for thread in threads:
        thread.join(timeout=180)

    assert outcomes(state) == [
        ("vanilla", 0, 0, "run_failed"),
        ("refactor", 1, 0, "run_failed"),
        ("refactor", 1, 1, "improved"),
    ]
    for candidate in state["history"][:2]:
        assert "timed out" in candidate.run.failure
    assert "timed out" in model.calls_for("fix_runtime")[0].prompt
    assert result.status == "improved" and result.best_version == 3
    assert wait_until_gone(process_name("loop")) == []
    assert wait_until_gone(process_name("storm")) == []

    assert storm_started.is_set()
    neighbour_result = neighbour["result"]
    assert outcomes(neighbour["state"]) == [
        ("vanilla", 0, 0, "improved"),
        ("refactor", 1, 0, "invalid"),
    ]
    assert neighbour_result.status == "improved" and neighbour_result.best_version == 1


def test_a_process_hog_does_not_starve_other_sandboxed_programs(settings, build_c, tmp_path):
    """A candidate that takes every process its limit allows and holds them must not stop
    another run from starting, or from starting threads (OpenMP programs do): each run
    has a process limit of its own."""
    settings = settings.model_copy(update={"max_processes": 64})
    hog_source = tmp_path / "hog.cpp"
    hog_source.write_text(PROCESS_HOG)
    hog = tmp_path / "hog"
    subprocess.run(["c++", "-O1", "-o", str(hog), str(hog_source)], check=True)
    hello = build_c("hello", THREADED_HELLO)
    hogging: dict[str, RunResult] = {}
    thread = threading.Thread(
        target=lambda: hogging.setdefault(
            "run", run_program(RunRequest(binary=hog, timeout_s=6), settings)
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while len(processes_named(process_name("hog"))) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        held = len(processes_named(process_name("hog")))
        runs = [run_program(RunRequest(binary=hello, timeout_s=5), settings) for _ in range(3)]
    finally:
        thread.join()
    assert 60 <= held <= 64  # the hog holds all its limit allows
    assert [run.failure() for run in runs] == [None, None, None]
    assert [run.stdout for run in runs] == ["hello\n"] * 3
    assert hogging["run"].timed_out
    assert wait_until_gone(process_name("hog")) == []


@pytest.fixture
def outside_tmp():
    """A folder anyone may write, outside /tmp (a sandboxed program has a /tmp of its own):
    only the read-only file system stands between the program and what is in it."""
    if not IS_ROOT:
        pytest.skip("the uid switch and the read-only root need root")
    folder = Path("/var/lib") / f"lassi-hardening-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def world_writable(path: Path, text: str | None = None) -> Path:
    if text is None:
        path.mkdir(mode=0o777)
    else:
        path.write_text(text)
    path.chmod(0o777 if text is None else 0o666)
    return path


def shadow_secret() -> str:
    """The first line of /etc/shadow: a file only root may read."""
    if not SHADOW.is_file() or SHADOW.stat().st_mode & 0o004:
        pytest.skip("no /etc/shadow readable by root only")
    return SHADOW.read_text().splitlines()[0]


@pytest.mark.trial
def test_a_vandal_reads_no_secret_and_changes_nothing_outside_its_directory(
    trial_settings, outside_tmp, monkeypatch
):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    shadow = shadow_secret()
    source_file = world_writable(world_writable(outside_tmp / "src") / "spin.cpp", SOURCE)
    victim = world_writable(outside_tmp / "victim.txt", "keep me")
    settings = trial_settings.model_copy(
        update={
            "runs_dir": world_writable(outside_tmp / "runs"),
            "cache_dir": world_writable(outside_tmp / "cache"),
            "checkpoint_url": str(outside_tmp / "checkpoints.sqlite"),
        }
    )
    checkpoints = Path(settings.checkpoint_url)
    with open_checkpointer(settings.checkpoint_url):
        checkpoints.chmod(0o666)
    targets = {
        "SECRET_FILE": SHADOW,
        "OUTSIDE_NEW": outside_tmp / "new.txt",
        "VICTIM": victim,
        "SOURCE": source_file,
        "CHECKPOINTS": checkpoints,
        "RUNS_DIR": settings.runs_dir,
        "CACHE_DIR": settings.cache_dir,
        "SOURCE_DIR": source_file.parent,
    }
    model = scripted(
        vanilla=[fenced(vandal(targets))], refactor=[fenced(FASTER)], judge=forever(VALID)
    )
    result, state = run_trial(source_file, settings, model)

    vandal_run = state["history"][0].run
    assert vandal_run.ok, vandal_run.failure
    assert "env PATH=" in vandal_run.stdout  # it did read its environment
    assert f"peek {SHADOW}: (unreadable)" in vandal_run.stdout
    assert "wrote 0 overwrote 0 removed 0" in vandal_run.stdout
    assert "Read-only file system" in vandal_run.stderr  # rm -rf ran, and was refused
    assert victim.read_text() == "keep me" and not (outside_tmp / "new.txt").exists()
    assert not (Path("/tmp") / process_name("dropped")).exists()
    assert source_file.read_text() == SOURCE
    assert (settings.runs_dir / "t1" / "reference.json").is_file()
    assert list(settings.cache_dir.glob("*/reference.json"))
    # its extra output failed the check; the next candidate won
    assert outcomes(state) == [("vanilla", 0, 0, "invalid"), ("refactor", 1, 0, "improved")]
    assert result.status == "improved"
    needles = [*SECRETS.values(), shadow]
    leaks = files_containing(needles, outside_tmp, settings.work_root)
    assert leaks == []
    assert all(needle not in str(state) for needle in needles)


@pytest.mark.trial
def test_the_compiler_cannot_include_a_file_the_program_may_not_read(source_file, trial_settings):
    """``#include "/etc/shadow"`` would put the file's text into the diagnostics the LLM
    is shown and the archive keeps: the compiler runs unprivileged too."""
    if not IS_ROOT:
        pytest.skip("only root's compiler could read /etc/shadow")
    shadow = shadow_secret()
    model = scripted(
        vanilla=[fenced(FASTER)],
        refactor=[fenced(includes_file(SHADOW))],
        fix_compile=[fenced(FASTER)],
        judge=forever(VALID),
    )
    _, state = run_trial(source_file, trial_settings, model)
    failed = state["history"][1]
    assert failed.outcome == "compile_failed"
    assert "Permission denied" in failed.compile.diagnostics
    assert shadow.split(":")[0] + ":" not in model.calls_for("fix_compile")[0].prompt
    assert files_containing([shadow], trial_settings.runs_dir, trial_settings.work_root) == []


@pytest.mark.trial
def test_gigabytes_of_output_are_cut_off_and_the_trial_goes_on(source_file, trial_settings):
    """A program that prints without end, and one that writes a file without end, are
    stopped at the file-size limit; what is kept of their output is capped."""
    settings = trial_settings.model_copy(update={"max_output_bytes": 10_000, "max_file_size_mb": 4})
    model = scripted(
        vanilla=[fenced(CHATTY)],
        refactor=[fenced(HUGE_FILE)],
        fix_runtime=[fenced(FASTER)],
        judge=forever(VALID),
    )
    result, state = run_trial(source_file, settings, model)
    assert outcomes(state) == [
        ("vanilla", 0, 0, "run_failed"),
        ("refactor", 1, 0, "run_failed"),
        ("refactor", 1, 1, "improved"),
    ]
    for candidate in state["history"][:2]:
        assert "output too large" in candidate.run.failure
    chatty_log = settings.runs_dir / "t1" / "versions" / "v01" / "stdout.txt"
    assert 0 < chatty_log.stat().st_size <= 10_000
    archive_bytes = sum(path.stat().st_size for path in settings.runs_dir.rglob("*"))
    assert archive_bytes < 1_000_000
    assert result.status == "improved"
    assert wait_until_gone(process_name("chatty")) == []


@pytest.mark.trial
def test_printing_the_expected_output_on_the_one_input_is_refused_as_too_good_to_be_true(
    source_file, trial_settings
):
    """The spin program takes no arguments, so the output check has one input and cannot
    tell a program that computes the result from one that prints it. The cheat is far
    faster than the source: flagged, and since one input cannot back such a gain it is
    refused even by a judge that says VALID to everything. Sleeping first is slower, so
    on a time objective it cannot win either."""
    settings = trial_settings.model_copy(update={"max_iterations": 2})
    model = scripted(
        vanilla=[fenced(CHEAT)],
        refactor=[fenced(SLEEPY), fenced(FASTER)],
        judge=forever(VALID),
    )
    result, state = run_trial(source_file, settings, model)
    cheat, sleepy, faster = state["history"]
    assert cheat.check.status == "match" and not cheat.check.vetoes
    assert "on one input only" in cheat.check.finding
    reference = state["reference"].profile
    assert screen_lower(
        reference, cheat.profile, settings.min_energy_gain, settings.noise_sigmas
    )  # it would have won on the figures
    assert cheat.flags[0].startswith("too good to be true:")
    assert cheat.verdict.by == "check" and cheat.outcome == "invalid"
    assert "the output check ran it on one input only" in cheat.verdict.reasons[0]
    assert all(CHEAT.strip() not in call.prompt for call in model.calls_for("judge"))
    assert sleepy.outcome == "not_lower"
    assert sleepy.profile.runtime_s.mean > reference.runtime_s.mean
    assert any(g.rule == "shapes power" for g in sleepy.check.guards)  # told to the judge
    assert "1 more sleep call(s)" in model.calls_for("judge")[0].prompt
    assert faster.outcome == "improved" and result.best_version == faster.version


RECORDED_TRACES = sorted((Path(__file__).parents[1] / "data" / "nvml").glob("*.json"))


@pytest.mark.parametrize("trace", RECORDED_TRACES, ids=[p.stem for p in RECORDED_TRACES])
def test_sleeping_first_lowers_average_power_but_not_net_energy_on_a_recorded_h100(trace, settings):
    """On a GPU the objective is net energy per run (the counter over the window minus
    settled idle power times the window): a candidate that sleeps before doing the same
    work draws less power on average, and no less energy. Replayed from real H100 traces."""
    clock = FakeClock()
    board = ReplayBoard(Trace.load(trace), clock)
    work_s, sleep_s = board.busy.duration_s, 2.0

    def sleep_then_work() -> float:
        clock.sleep(sleep_s)  # the board idles, or cools down from the run before
        return sleep_s + board.run_program(work_s)

    worker = measure(board, one_at_a_time(board.program(work_s)), settings, None, clock=clock)
    sleeper = measure(board, one_at_a_time(sleep_then_work), settings, None, clock=clock)
    assert sleeper.avg_power_w.mean < 0.8 * worker.avg_power_w.mean  # it looks cooler...
    assert sleeper.net_energy_j.mean > worker.net_energy_j.mean  # ...and costs more
    assert not screen_lower(worker, sleeper, settings.min_energy_gain, settings.noise_sigmas)
    assert screen_lower(sleeper, worker, settings.min_energy_gain, settings.noise_sigmas)
