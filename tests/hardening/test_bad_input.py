"""Bad input: each is one clear line (UsageError, exit status 2 at the command line) or a
trial that stops at Stage 0 saying why, never a traceback and never an LLM call."""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lassi_ee.api import resume_graph, run_graph
from lassi_ee.apps import load_app
from lassi_ee.cli import main
from lassi_ee.energy.measure import MAX_RUNS_PER_WINDOW, measure, one_at_a_time
from lassi_ee.energy.none import NoSensorBackend
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import UsageError
from lassi_ee.graph.builder import compile_graph
from lassi_ee.graph.checkpoint import open_checkpointer
from lassi_ee.nodes.common import TrialContext
from lassi_ee.report.files import report_trial
from lassi_ee.tools.profile import profile_app
from lassi_ee.trials import show_trial
from tests.helpers.hardening_trials import run_trial
from tests.helpers.trial_programs import DOES_NOT_COMPILE, SOURCE, scripted

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.getuid() == 0


def lassi(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lassi_ee.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lassi-ee: ") and words in lines[0], lines
    assert "Traceback" not in proc.stderr


def assert_one_line_in(stderr: str, words: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lassi-ee: ") and words in lines[0], lines


def gpu_visible() -> bool:
    try:
        resolve_device("cuda:0")
    except UsageError:
        return False
    return True


@pytest.fixture
def bad_sources(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    sources = {
        "binary": (folder / "program.cpp", b"\x7fELF\x02\x01\x01\x00\x00\x00" * 10),
        "empty": (folder / "empty.cpp", b"  \n"),
        "latin1": (folder / "latin1.cpp", "// caf\xe9\nint main() {}\n".encode("latin-1")),
        "fortran": (folder / "solver.f90", b"program solver\nend program solver\n"),
        "good": (folder / "spin.cpp", SOURCE.encode()),
    }
    for path, data in sources.values():
        path.write_bytes(data)
    (folder / "no-manifest").mkdir()
    return {name: path for name, (path, _) in sources.items()} | {
        "no_manifest": folder / "no-manifest",
        "missing": folder / "missing.cu",
    }


BAD_INPUT = [
    ("missing", "cpu", "no such file or directory"),
    ("binary", "cpu", "this is a binary file"),
    ("empty", "cpu", "the file is empty"),
    ("latin1", "cpu", "not UTF-8 text"),
    ("fortran", "cpu", "unknown language '.f90'"),
    ("no_manifest", "cpu", "needs an app.yaml manifest"),
    ("good", "tpu:0", "unknown device 'tpu:0'"),
    ("good", "cuda:7x", "unknown device 'cuda:7x'"),
]


@pytest.mark.parametrize(("source", "device", "words"), BAD_INPUT)
def test_bad_input_is_refused_before_anything_starts(
    source, device, words, bad_sources, trial_settings
):
    model = scripted()
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")) as refused:
        run_graph(bad_sources[source], device, settings=trial_settings, models=model)
    assert "\n" not in str(refused.value)
    assert model.calls == []
    assert not Path(trial_settings.checkpoint_url).exists()  # nothing was started


@pytest.mark.parametrize(
    ("source", "device", "words"),
    [
        case
        for case in BAD_INPUT
        if case[0] in ("binary", "latin1", "no_manifest") or case[1] == "tpu:0"
    ],
)
def test_bad_input_at_the_command_line_is_one_line_and_exit_status_2(
    source, device, words, bad_sources
):
    assert_one_line(lassi("run", str(bad_sources[source]), "--device", device), 2, words)


def test_no_gpu_is_one_line(bad_sources, trial_settings):
    if gpu_visible():
        pytest.skip("an NVIDIA GPU is visible here")
    with pytest.raises(UsageError, match="no NVIDIA GPU visible"):
        run_graph(bad_sources["good"], "cuda:0", settings=trial_settings, models=scripted())


NOT_NAMES = ["../../escape1", "/tmp/abs", "..", ".hidden", "-x", "a b", "x;y", "t" * 129]


@pytest.mark.parametrize("thread", NOT_NAMES)
def test_a_thread_id_that_is_not_a_name_is_refused_at_every_entry(
    thread, bad_sources, trial_settings
):
    """A thread id names folders that the build step deletes in: the API, the trial
    commands and a graph run with no entry of ours in front (Studio) all refuse it."""
    model = scripted()
    with pytest.raises(UsageError, match="thread id") as refused:
        run_graph(bad_sources["good"], "cpu", thread_id=thread, settings=trial_settings)
    assert "\n" not in str(refused.value)
    for read in (resume_graph, show_trial):
        with pytest.raises(UsageError, match="thread id"):
            read(thread, settings=trial_settings)
    assert not Path(trial_settings.checkpoint_url).exists()
    with open_checkpointer(trial_settings.checkpoint_url) as saver:
        studio = compile_graph(saver)
        with pytest.raises(UsageError, match="thread id"):
            studio.invoke(
                {"source": str(bad_sources["good"]), "device": "cpu"},
                {"configurable": {"thread_id": thread}},
                context=TrialContext(settings=trial_settings, models=model),
            )
    assert model.calls == []
    assert not trial_settings.runs_dir.exists()
    assert list(trial_settings.work_root.iterdir()) == []


def test_a_thread_id_that_escapes_is_one_line_at_the_command_line(bad_sources, tmp_path):
    """`--thread ../../escape1` once made /escape1/ and an archive outside runs/."""
    cwd = tmp_path / "deep" / "er"
    cwd.mkdir(parents=True)
    env = {"LASSI_WORK_ROOT": str(tmp_path / "work"), "LASSI_BASE_URL": "http://127.0.0.1:9/v1"}
    proc = lassi(
        "run", str(bad_sources["good"]), "--device", "cpu", "--thread", "../../escape1",
        env=env, cwd=cwd,
    )  # fmt: skip
    assert_one_line(proc, 2, "thread id '../../escape1' is not a name")
    assert "started" not in proc.stdout
    assert list(tmp_path.rglob("escape1")) == [] and not Path("/escape1").exists()
    assert list(cwd.iterdir()) == []  # no runs/ or checkpoints/ either
    assert_one_line(lassi("resume", "../x", env=env, cwd=cwd), 2, "thread id '../x'")


@contextlib.contextmanager
def as_nobody() -> Iterator[None]:
    """Act as the unprivileged user nobody (effective uid only) for file permission checks."""
    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.skipif(not IS_ROOT, reason="root reads every file; the test acts as nobody")
@pytest.mark.parametrize("locked", ["file", "folder"])
def test_a_source_the_user_may_not_read_is_one_line(locked):
    folder = Path(tempfile.mkdtemp(prefix="lassi-unreadable-", dir="/tmp"))
    try:
        source = folder / "spin.cpp"
        source.write_text(SOURCE)
        folder.chmod(0o700 if locked == "folder" else 0o755)
        source.chmod(0o600)
        with as_nobody(), pytest.raises(UsageError, match="permission denied") as refused:
            load_app(source)
        assert str(source) in str(refused.value)
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def test_bad_settings_are_every_problem_in_one_line(tmp_path):
    env = {"LASSI_CONFIG": os.devnull, "LASSI_REPEATS": "three"}
    env["LASSI_MIN_WINDOW_S"] = "long"
    proc = lassi("trials", env=env)
    assert_one_line(proc, 2, "invalid settings")
    assert "repeats:" in proc.stderr and "min_window_s:" in proc.stderr
    config = tmp_path / "lassi-ee.toml"
    config.write_text("repeats = 3\nmin_window_s = \n")
    assert_one_line(lassi("trials", env={"LASSI_CONFIG": str(config)}), 2, "line 2")
    config.write_text("repeats = 3\nrepeat_count = 4\n")
    assert_one_line(lassi("trials", env={"LASSI_CONFIG": str(config)}), 2, "repeat_count")


@pytest.mark.parametrize(
    ("command", "env", "words"),
    [
        (
            ["profile", "GOOD", "--device", "cpu"],
            {"LASSI_MAX_OUTPUT_BYTES": "-5"},
            "max_output_bytes",
        ),
        (["run", "GOOD", "--device", "cpu"], {"LASSI_REPEATS": "-1"}, "repeats"),
        (["run", "GOOD", "--device", "cpu", "--repeats", "0"], {}, "repeats"),
        (["run", "GOOD", "--device", "cpu"], {"LASSI_RUN_TIMEOUT_S": "-1"}, "run_timeout_s"),
        (["run", "GOOD", "--device", "cpu"], {"LASSI_MAX_ITERATIONS": "0"}, "max_iterations"),
        (["run", "GOOD", "--device", "cpu"], {"LASSI_MAX_ITERATIONS": "-3"}, "max_iterations"),
        (["trials"], {"LASSI_CONFIG": "/no/such/lassi-ee.toml"}, "LASSI_CONFIG names"),
    ],
    ids=[
        "output-bytes",
        "repeats-env",
        "repeats-flag",
        "timeout",
        "iterations-0",
        "iterations-neg",
        "config",
    ],
)
def test_a_setting_out_of_its_range_is_a_usage_error_before_anything_starts(
    command, env, words, bad_sources, tmp_path, monkeypatch, capsys
):
    """Each used to start: a ValueError traceback, a trial that failed, every candidate
    timed out, an iteration run anyway, a missing config file ignored."""
    cwd = tmp_path / "here"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name, value in {"LASSI_BASE_URL": "http://127.0.0.1:9/v1", **env}.items():
        monkeypatch.setenv(name, value)
    args = [str(bad_sources["good"]) if arg == "GOOD" else arg for arg in command]
    assert main(args) == 2
    assert_one_line_in(capsys.readouterr().err, words)
    assert list(cwd.iterdir()) == []  # no checkpoint database, no runs/


def test_a_damaged_or_mistyped_checkpoint_database_is_one_line_and_nothing_is_made(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    damaged = tmp_path / "checkpoints" / "lassi-ee.sqlite"
    damaged.write_text("junk\n")
    for command in (["trials"], ["show", "t1"], ["report", "t1"]):
        assert main(command) == 1
        stderr = capsys.readouterr().err
        assert_one_line_in(stderr, "checkpoint database checkpoints/lassi-ee.sqlite")
        assert "file is not a database" in stderr
    assert damaged.read_text() == "junk\n"
    typo = ["--checkpoints", "chekpoints/x.sqlite"]
    assert main([*typo, "trials"]) == 0
    assert "no trials in chekpoints/x.sqlite" in capsys.readouterr().out
    for command in (["show", "t1"], ["resume", "t1"], ["report", "t1"]):
        assert main([*typo, *command]) == 2
        assert_one_line_in(capsys.readouterr().err, "chekpoints/x.sqlite")
    assert not (tmp_path / "chekpoints").exists() and not (tmp_path / "runs").exists()
    # the one-line message as a user sees it, exit status and all
    assert_one_line(lassi("trials", env={"LASSI_CONFIG": os.devnull}, cwd=tmp_path), 1, "damaged")


def test_unbalanced_quotes_in_args_are_one_line(bad_sources):
    proc = lassi("run", str(bad_sources["good"]), "--device", "cpu", "--args", '"10 20')
    assert_one_line(proc, 2, "No closing quotation")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (DOES_NOT_COMPILE, "does not build"),
        (SOURCE.replace('std::printf("PASS\\n");', "return 3;"), "exited with status 3"),
    ],
    ids=["does-not-build", "fails-at-baseline"],
)
@pytest.mark.trial
def test_a_source_that_does_not_build_or_fails_stops_at_stage0(
    code, words, tmp_path, trial_settings
):
    source = tmp_path / "src" / "spin.cpp"
    source.parent.mkdir()
    source.write_text(code)
    model = scripted()
    result, state = run_trial(source, trial_settings, model)
    assert result.status == "failed" and words in (result.error or "")
    assert result.error.splitlines()[0].startswith("the source cannot be used")
    assert model.calls == [] and not state.get("history")
    report = report_trial("t1", trial_settings).markdown.read_text()
    assert "No version was made (the source cannot be used" in report
    assert "beat the source" not in report  # it said so of a trial that made none


def test_a_cuda_source_on_the_cpu_device_is_refused_before_the_trial_is_made(
    tmp_path, trial_settings
):
    """It used to make a trial that failed at Stage 0 (exit status 1)."""
    source = tmp_path / "src" / "kernel.cu"
    source.parent.mkdir()
    source.write_text("__global__ void k() {}\nint main() { k<<<1, 1>>>(); }\n")
    with pytest.raises(UsageError, match="use --device cuda:0"):
        run_graph(source, "cpu", settings=trial_settings, models=scripted())
    assert not Path(trial_settings.checkpoint_url).exists()
    proc = lassi("run", str(source), "--device", "cpu", env={"LASSI_CONFIG": os.devnull})
    assert_one_line(proc, 2, "is a CUDA program but the device is cpu: use --device cuda:0")
    assert "started" not in proc.stdout


def test_a_program_too_short_to_measure_says_so(settings, tmp_path):
    """A program of well under a millisecond: even the most back-to-back runs a window
    allows do not fill it, and the profile says so."""
    source = tmp_path / "quick" / "quick.c"
    source.parent.mkdir()
    source.write_text('#include <stdio.h>\nint main(void){puts("PASS");return 0;}\n')
    outcome = profile_app(
        load_app(source),
        resolve_device("cpu"),
        # a sandboxed run of it costs a millisecond or two: 1000 of them are not 10 s
        settings.model_copy(update={"repeats": 1, "min_window_s": 10.0}),
        tmp_path / "build",
    )
    assert outcome.failure is None, outcome.failure
    assert outcome.profile.runs_per_window == MAX_RUNS_PER_WINDOW
    assert "too short to measure well" in outcome.profile.note
    assert "too short" in outcome.profile.summary()


def test_the_too_short_note_needs_a_short_window(settings):
    backend = NoSensorBackend("cpu-test", "no sensor in this test")
    tiny = measure(backend, one_at_a_time(lambda: 0.0001), settings, None)
    assert tiny.runs_per_window == MAX_RUNS_PER_WINDOW and "too short" in tiny.note
    long_enough = settings.model_copy(update={"min_window_s": 0.05})
    fine = measure(backend, one_at_a_time(lambda: 0.0001), long_enough, None)
    assert fine.runs_per_window == 500 and "too short" not in fine.note


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        ("name: x\nlanguage: [cuda\n", ["not valid YAML at line 3"]),
        ("name: x\nrefactor: spin.cpp\nargs: 7\n", ["language: Field required", "args:"]),
        ("name: x\nlanguage: openmp\nrefactor: gone.cpp\n", ["lists 'gone.cpp'"]),
        (
            "name: x\nlanguage: openmp\nrefactor: spin.cpp\nargz: [1]\nfrobnicate: 3\n"
            "build: {binarry: spin}\n",
            [
                "argz: unknown key (did you mean 'args'?)",
                "build.binarry: unknown key (did you mean 'binary'?)",
                "frobnicate: unknown key (the keys are name, category",
            ],
        ),
        (
            "name: x\nlanguage: openmp\nrefactor: spin.cpp\n"
            "self_check: {lines: ['12-9'], line: [3]}\n",
            [
                "self_check.lines: '12-9' is not a line range: write 'FIRST-LAST'",
                "self_check.line: unknown key (did you mean 'lines'?)",
            ],
        ),
        (
            "name: x\nlanguage: openmp\nrefactor: spin.cpp\nself_check: {}\n",
            ["self_check: name the check's lines or functions, or leave self_check out"],
        ),
        (
            "name: x\nlanguage: openmp\nrefactor: spin.cpp\n"
            "self_check: {lines: ['40-50', '1'], functions: [verify]}\n",
            [
                f"self_check.lines '40-50': spin.cpp has {SOURCE.count(chr(10))} lines",
                "self_check.lines '1': no whole statement of spin.cpp lies on these lines",
                "self_check.functions 'verify': spin.cpp defines no function of that name "
                "(it defines main)",
            ],
        ),
    ],
    ids=[
        "yaml",
        "fields",
        "missing-file",
        "unknown-keys",
        "self-check-format",
        "self-check-empty",
        "self-check-not-in-the-source",
    ],
)
def test_a_manifest_with_errors_names_every_one(manifest, words, tmp_path, trial_settings):
    app = tmp_path / "app"
    app.mkdir()
    (app / "spin.cpp").write_text(SOURCE)
    (app / "app.yaml").write_text(manifest)
    with pytest.raises(UsageError) as refused:
        run_graph(app, "cpu", settings=trial_settings, models=scripted())
    message = str(refused.value)
    assert "\n" not in message and str(app / "app.yaml") in message
    assert all(word in message for word in words), message
