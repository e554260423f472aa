"""The command line as users run it: a subprocess, real tools, and for whole trials
ChatOpenAI talking HTTP to a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.openai_stub import StubOpenAIServer
from tests.helpers.trial_programs import DOES_NOT_COMPILE, FASTER, SAME, SOURCE, fenced, variant

ROOT = Path(__file__).resolve().parents[1]
JACOBI_OMP = ROOT / "examples" / "jacobi2d-omp"


def lassi(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "lassi_ee.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=cwd or ROOT,
        timeout=300,
    )


def settings_env(settings) -> dict[str, str]:
    return {
        "LASSI_WORK_ROOT": str(settings.work_root),
        "LASSI_RUNS_DIR": str(settings.runs_dir),
        "LASSI_CHECKPOINT_URL": settings.checkpoint_url,
        "LASSI_LOCK_DIR": str(settings.lock_dir),
        "LASSI_CACHE_DIR": str(settings.runs_dir / "cache"),
        "LASSI_REPEATS": "2",
        "LASSI_MIN_WINDOW_S": "0.1",
        "LASSI_MIN_ENERGY_GAIN": "0.2",
    }


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("lassi-ee: ") and words in proc.stderr.splitlines()[0]
    assert "Traceback" not in proc.stderr


def test_profile_prints_a_table_and_writes_json_and_timeline(settings, tmp_path):
    out = tmp_path / "profile"
    proc = lassi(
        "profile", str(JACOBI_OMP), "--device", "cpu", "--args", "128 20 5", "--repeats", "2",
        "--out", str(out), env=settings_env(settings),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    profile = json.loads((out / "profile.json").read_text())
    assert profile["objective"] == "runtime"  # no energy sensor on this machine, said plainly
    assert len(profile["measurements"]) == 2
    assert (out / "timeline.json").is_file()
    assert "runtime" in proc.stdout and "no energy sensor" in proc.stdout


def test_profile_of_a_source_that_does_not_build_leaves_nothing_behind(settings, tmp_path):
    broken = tmp_path / "broken.cpp"
    broken.write_text(DOES_NOT_COMPILE)
    out = tmp_path / "out"
    proc = lassi(
        "profile", str(broken), "--device", "cpu", "--out", str(out), env=settings_env(settings)
    )
    assert_one_line_error(proc, 1, "does not build")
    assert "undeclared" in proc.stderr  # the diagnostics follow the one-line message
    assert not out.exists() and list(tmp_path.glob(".out-*")) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["profile", "/no/such/file.cu", "--device", "cpu"], "no such file or directory"),
        (["profile", "SRC", "--device", "tpu:0"], "unknown device 'tpu:0'"),
        (["profile", "SRC", "--device", "cuda:0"], "no NVIDIA GPU visible"),
        (["profile", "EMPTY", "--device", "cpu"], "the file is empty"),
        (["resume", "no-such-thread"], "no trial no-such-thread"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, words, tmp_path, settings):
    source = tmp_path / "spin.cpp"
    source.write_text(SOURCE)
    empty = tmp_path / "empty.cpp"
    empty.write_text("")
    args = [{"SRC": str(source), "EMPTY": str(empty)}.get(a, a) for a in args]
    proc = lassi(*args, env=settings_env(settings))
    assert_one_line_error(proc, 2, words)


def test_devices_says_what_it_can_measure_and_how():
    proc = lassi("devices")
    assert proc.returncode == 0
    cpu = next(line for line in proc.stdout.splitlines() if line.startswith("cpu"))
    assert "the objective is runtime" in cpu or "RAPL" in cpu


JUDGE_VALID = json.dumps({"verdict": "VALID", "reasons": ["same computation"]})


@pytest.mark.trial
def test_run_trials_show_and_resume_through_an_openai_compatible_server(settings, tmp_path):
    source = tmp_path / "spin.cpp"
    source.write_text(SOURCE)
    server = StubOpenAIServer().start()
    for reply in (
        fenced(variant(SAME, 1)), JUDGE_VALID, "Avoid busy waiting.", "The loop spins too long.",
        "1. Shorten the loop.", fenced(FASTER), JUDGE_VALID, "The loop is shorter.",
        "ACE | shorter loop | less work",
    ):  # fmt: skip
        server.reply(reply)
    env = {
        **settings_env(settings),
        "LASSI_BASE_URL": server.base_url,
        "LASSI_API_KEY": "sk-test-key",
        "LASSI_MAX_ITERATIONS": "1",
    }
    try:
        run = lassi(
            "run", str(source), "--device", "cpu", "--thread", "cli-1", "--model", "m1", env=env
        )
        asked = len(server.requests)
        resumed = lassi("resume", "cli-1", env=env)
        trials = lassi("trials", env=env)
        shown = lassi("show", "cli-1", "--json", env=env)
    finally:
        server.stop()
    assert run.returncode == 0, run.stderr
    assert "trial cli-1: improved" in run.stdout
    assert "compile ok" in run.stdout  # one plain progress line per step when not a terminal
    assert asked == 9
    assert {r.body["model"] for r in server.requests} == {"m1"}
    assert server.requests[0].headers["authorization"] == "Bearer sk-test-key"
    assert resumed.returncode == 0 and len(server.requests) == asked  # finished: nothing re-asked
    assert "cli-1" in trials.stdout and "improved" in trials.stdout
    # a reduction is a negative change everywhere: "-74.0%", never "+74.0%" for less
    assert re.search(r"best v2: runtime -\d+\.\d% vs source", trials.stdout), trials.stdout
    said = " ".join(run.stdout.split())  # the console wraps long lines
    assert re.search(r"best v2 -\d+\.\d% vs source \(95 % CI -\d+\.\d% to -\d+\.\d%\)", said)
    assert re.search(r"trial cli-1 improved, runtime -\d+\.\d% vs source", run.stdout)
    result = json.loads(shown.stdout)
    assert result["best_version"] == 2 and result["stop_reason"] == "iteration cap reached (1)"
    low, high = result["reduction_ci95"]  # the paired estimate of Stage 4, with its interval
    assert 0 < low <= result["reduction"] <= high
    assert "measured interleaved with it" in said
    # and what the figure rests on: when, on what, how many pairs, how spread
    assert re.search(
        r"measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on time only, .*; 5 pairs of windows of "
        r"\d+ runs? each; per-pair spread \d+\.\d\d %",
        said,
    ), said
    assert result["evidence"] and result["evidence"] in said
    archive = Path(result["archive_path"])
    manifest = json.loads((archive / "manifest.json").read_text())
    assert [v["outcome"] for v in manifest["versions"]] == ["not_lower", "improved"]
    assert (archive / "best.cpp").read_text() == FASTER
    assert (archive / "versions" / "v02" / "compile.log").is_file()
    assert (archive / "versions" / "v02" / "timeline.json").is_file()
    assert (archive / "plans" / "plan-01.md").read_text() == "1. Shorten the loop."
    assert (archive / "comparison.md").is_file()
    assert json.loads((archive / "categories.json").read_text())[0]["category"] == "ACE"


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lassi_ee.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
    )


def killed_once_asked(process: subprocess.Popen[str], server: StubOpenAIServer, n: int) -> None:
    """SIGKILL the process once the server has received its n-th request (held there)."""
    deadline = time.monotonic() + 120
    while len(server.requests) < n and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.requests) >= n, process.communicate()
    process.kill()
    process.wait()


@pytest.mark.trial
def test_a_resumed_trial_keeps_its_model_and_endpoint_and_records_an_override(settings, tmp_path):
    """`run --model m1 --base-url A`, killed, then `resume` with no flags: the next calls
    still go to m1 at A (they used to go to gpt-4o at OpenAI). Killed again, `resume
    --base-url B --model m2` moves it, and the trial's record says so; a resume cannot
    change the repeats its figures were measured with."""
    source = tmp_path / "spin.cpp"
    source.write_text(SOURCE)
    first, second = StubOpenAIServer().start(), StubOpenAIServer().start()
    for reply, delay_s in (
        (fenced(SAME), 0), (JUDGE_VALID, 60), (JUDGE_VALID, 0), ("Avoid busy waiting.", 0),
        ("The loop spins too long.", 0), ("1. Shorten the loop.", 60),
    ):  # fmt: skip
        first.reply(reply, delay_s=delay_s)  # held replies: the process is killed waiting
    for reply in (
        "1. Shorten the loop.", fenced(FASTER), JUDGE_VALID, "The loop is shorter.",
        "ACE | shorter loop | less work",
    ):  # fmt: skip
        second.reply(reply)
    env = {**settings_env(settings), "LASSI_API_KEY": "sk-test-key", "LASSI_MAX_ITERATIONS": "1"}
    try:
        run = cli(
            "run", str(source), "--device", "cpu", "--thread", "kept",
            "--model", "m1", "--base-url", first.base_url, env=env,
        )  # fmt: skip
        killed_once_asked(run, first, 2)  # in the vanilla version's judgement
        resumed = cli("resume", "kept", env=env)
        killed_once_asked(resumed, first, 6)  # in the plan
        refused = lassi("resume", "kept", "--repeats", "5", env=env)
        moved = lassi("resume", "kept", "--base-url", second.base_url, "--model", "m2", env=env)
    finally:
        first.stop()
        second.stop()
    assert [r.body["model"] for r in first.requests] == ["m1"] * 6
    assert_one_line_error(refused, 2, "repeats cannot change on resume")
    assert "measured and decided with repeats 2" in refused.stderr
    assert moved.returncode == 0, moved.stderr
    assert "trial kept: improved" in moved.stdout
    assert [r.body["model"] for r in second.requests] == ["m2"] * 5
    assert "resumed with base_url" in moved.stderr  # logged as it happens
    shown = json.loads(lassi("show", "kept", "--json", env=env).stdout)
    manifest = json.loads((Path(shown["archive_path"]) / "manifest.json").read_text())
    assert manifest["resumed_with"] == [
        "resumed with generate_model m2 instead of m1",
        f"resumed with base_url {second.base_url} instead of {first.base_url}",
    ]
    assert manifest["settings"]["generate_model"] == "m2" and "api_key" not in manifest["settings"]
    started = json.loads((Path(shown["archive_path"]) / "settings.json").read_text())
    assert (started["generate_model"], started["base_url"]) == ("m1", first.base_url)
    assert "sk-test-key" not in (Path(shown["archive_path"]) / "settings.json").read_text()


@pytest.mark.trial
def test_ctrl_c_names_the_trial_to_resume(settings, tmp_path):
    """The message used to say `lassi-ee resume THREAD`, with THREAD for any trial."""
    source = tmp_path / "spin.cpp"
    source.write_text(SOURCE)
    env = {**settings_env(settings), "LASSI_BASE_URL": "http://127.0.0.1:9/v1"}
    run = cli("run", str(source), "--device", "cpu", "--thread", "cut-7", env=env)
    assert run.stdout is not None and "trial cut-7 started" in run.stdout.readline()
    run.send_signal(signal.SIGINT)  # in Stage 0
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    assert "interrupted; `lassi-ee resume cut-7` continues the trial" in stderr
