"""The run tool against real compiled programs that try to misbehave."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lassi_ee.apps import load_app
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.profile import run_request
from lassi_ee.tools.run import RunRequest, run_program
from lassi_ee.tools.sandbox import (
    CUT_LINE,
    FRESH_UID_BASE,
    LAUNCHER,
    PASSED_PREFIXES,
    PASSED_VARIABLES,
    SANDBOX_DIR,
)

IS_ROOT = os.getuid() == 0


def processes_named(name: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "comm="], capture_output=True, text=True).stdout
    return [line for line in out.split() if line == name]


def test_program_runs_in_fresh_dir_with_data_and_reports_new_files(settings, build_c, tmp_path):
    data = tmp_path / "input.txt"
    data.write_text("21\n")
    binary = build_c(
        "doubler",
        r"""
        #include <stdio.h>
        int main(int argc, char **argv) {
            int x; FILE *in = fopen("input.txt", "r"); fscanf(in, "%d", &x);
            FILE *out = fopen("result.txt", "w"); fprintf(out, "%d\n", 2 * x); fclose(out);
            printf("arg=%s value=%d PASS\n", argv[1], 2 * x); return 0; }
        """,
    )
    result = run_program(RunRequest(binary=binary, args=["hello"], data_files=[data]), settings)
    assert result.ok, result.failure()
    assert result.stdout.strip() == "arg=hello value=42 PASS"
    assert result.output_files == ["result.txt"]
    assert (result.workdir / "result.txt").read_text() == "42\n"
    assert result.workdir.is_relative_to(settings.work_root)
    second = run_program(RunRequest(binary=binary, args=["x"], data_files=[data]), settings)
    assert second.workdir != result.workdir


ENV_DUMP = r"""
#include <stdio.h>
extern char **environ;
int main(void) { for (char **e = environ; *e; e++) puts(*e); return 0; }
"""


def test_only_allowlisted_variables_and_what_the_manifest_names_reach_the_program(
    settings, build_c, tmp_path, monkeypatch
):
    """A program that prints its whole environment sees the toolchain's PATH, the locale,
    OpenMP's knobs, what the manifest names and HOME/TMPDIR in its own folder: no secret
    under any name, no shell state, no checkpoint URL; the run lists the names it passed."""
    leaks = {
        "OPENAI_API_KEY": "sk-should-not-leak",
        "LASSI_CHECKPOINT_URL": "postgresql://user:pw-should-not-leak@db/lassi",
        "DATABASE_URL": "postgresql://user:pw2-should-not-leak@db/x",
        "PIP_INDEX_URL": "https://user:pw3-should-not-leak@index.example/simple",
        "HOSTNAME": "container-should-not-leak",
        "OLDPWD": "/root/should-not-leak",
        "https_proxy": "http://proxy.example:3128",
        "LASSI_HARMLESS": "should-not-leak",
    }
    passed = {"OMP_NUM_THREADS": "3", "LC_ALL": "C", "LANG": "C.UTF-8", "APP_INPUT_DIR": "/in"}
    for name in list(os.environ):  # what this machine happens to set beyond PATH
        if name != "PATH" and (name in PASSED_VARIABLES or name.startswith(PASSED_PREFIXES)):
            monkeypatch.delenv(name)
    for name, value in {**leaks, **passed}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("PWD", "/root/should-not-leak")
    source = tmp_path / "app" / "envdump.c"
    source.parent.mkdir()
    source.write_text(ENV_DUMP)
    manifest = {"name": "envdump", "language": "openmp", "refactor": "envdump.c"}
    manifest["env"] = ["APP_INPUT_DIR", "APP_UNSET"]
    (source.parent / "app.yaml").write_text(json.dumps(manifest))
    app = load_app(source.parent)
    binary = build_c("envdump", ENV_DUMP)
    result = run_program(run_request(app, resolve_device("cpu"), binary, settings), settings)
    assert result.ok, result.failure()
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert "should-not-leak" not in result.stdout and "proxy.example" not in result.stdout
    assert set(seen) == {"PATH", "HOME", "TMPDIR", *passed}
    assert all(seen[name] == value for name, value in passed.items())
    assert seen["HOME"] == seen["TMPDIR"] == SANDBOX_DIR
    assert seen["PATH"] == os.environ["PATH"]
    assert result.env_names == sorted(seen)


def test_the_compiler_gets_the_same_environment(settings, tmp_path, monkeypatch):
    """Compilers read LLM-written code: a Makefile that prints its environment shows no
    secret and HOME in the build folder."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:should-not-leak@db/x")
    folder = tmp_path / "made"
    folder.mkdir()
    (folder / "main.c").write_text("int main(void) { return 0; }\n")
    (folder / "Makefile").write_text("all:\n\tenv\n\tcc -o app main.c\n")
    manifest = {"name": "made", "language": "openmp", "refactor": "main.c"}
    manifest["build"] = {"system": "make"}
    (folder / "app.yaml").write_text(json.dumps(manifest))
    request = CompileRequest(
        app=load_app(folder), device=resolve_device("cpu"), build_dir=tmp_path / "build"
    )
    built = compile_app(request, settings)
    assert built.ok, built.log
    assert "should-not-leak" not in built.log
    assert f"HOME={SANDBOX_DIR}" in built.log.splitlines()


def test_network_is_cut_off(settings, build_c):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    binary = build_c(
        "connector",
        r"""
        #include <arpa/inet.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <sys/socket.h>
        int main(int argc, char **argv) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1]));
            inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
            int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
            puts(ok ? "CONNECTED" : "NO-NETWORK"); return 0; }
        """,
    )
    try:
        outside = subprocess.run([str(binary), str(port)], capture_output=True, text=True)
        assert outside.stdout.strip() == "CONNECTED"  # the server really is reachable
        result = run_program(RunRequest(binary=binary, args=[str(port)]), settings)
    finally:
        server.close()
    assert result.isolation.network, result.isolation.summary()
    assert result.stdout.strip() == "NO-NETWORK"


def test_timeout_kills_program_and_children_that_left_the_group(settings, build_c):
    binary = build_c(
        "escaper",
        r"""
        #include <unistd.h>
        int main(void) { if (fork() == 0) { setsid(); for (;;) sleep(1); } for (;;) {} }
        """,
    )
    start = time.monotonic()
    result = run_program(RunRequest(binary=binary, timeout_s=1.5), settings)
    assert result.timed_out and not result.ok
    assert time.monotonic() - start < 10
    assert "timed out" in (result.failure() or "")
    time.sleep(0.3)
    assert processes_named("escaper") == []


def test_fork_storm_is_contained(settings, build_c):
    binary = build_c(
        "forkstorm",
        r"""
        #include <unistd.h>
        int main(void) { for (;;) fork(); }
        """,
    )
    result = run_program(RunRequest(binary=binary, timeout_s=2), settings)
    assert not result.ok
    time.sleep(0.3)
    assert processes_named("forkstorm") == []


@pytest.mark.skipif(not IS_ROOT, reason="the read-only file system check needs namespaces")
def test_writes_outside_workdir_do_not_land(settings, build_c, tmp_path):
    outside = Path("/tmp") / f"lassi-outside-{os.getpid()}"
    outside.mkdir(mode=0o777, exist_ok=True)
    outside.chmod(0o777)  # writable by anyone: only the sandbox can stop the write
    victim = outside / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o666)
    binary = build_c(
        "vandal",
        r"""
        #include <stdio.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            FILE *f = fopen(argv[1], "w"); int wrote = f && fputs("pwned", f) >= 0 && fclose(f) == 0;
            int removed = unlink(argv[2]) == 0;
            FILE *t = fopen("/tmp/dropped.txt", "w"); if (t) fclose(t);
            printf("wrote=%d removed=%d\n", wrote, removed); return 0; }
        """,
    )
    try:
        result = run_program(
            RunRequest(binary=binary, args=[str(outside / "new.txt"), str(victim)]), settings
        )
        assert result.isolation.readonly_fs, result.isolation.summary()
        assert result.stdout.strip() == "wrote=0 removed=0"
        assert not (outside / "new.txt").exists()
        assert victim.read_text() == "keep me"
        assert not Path("/tmp/dropped.txt").exists()
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_output_is_capped_and_huge_files_are_stopped(settings, build_c):
    binary = build_c(
        "chatty",
        r"""
        #include <stdio.h>
        #include <string.h>
        int main(void) { char line[1024]; memset(line, 'x', 1023); line[1023] = 0;
            for (long i = 0; i < 1L << 22; i++) puts(line); return 0; }
        """,
    )
    capped = settings.model_copy(update={"max_output_bytes": 10_000, "max_file_size_mb": 8})
    result = run_program(RunRequest(binary=binary, timeout_s=30), capped)
    assert result.output_truncated
    kept = result.stdout.splitlines()
    assert kept[0] == "x" * 1023 and kept[-1] == "x" * 1023
    assert len([line for line in kept if CUT_LINE.match(line)]) == 1
    assert len(result.stdout) <= 10_000  # the start, the end and the line between
    assert result.signal == "SIGXFSZ"
    assert "output too large" in (result.failure() or "")


def test_crash_and_exit_status_are_results_not_exceptions(settings, build_c):
    crasher = build_c("crasher", "int main(void) { volatile int *p = 0; return *p; }")
    failer = build_c("failer", '#include <stdio.h>\nint main(void) { puts("FAIL"); return 3; }')
    crashed = run_program(RunRequest(binary=crasher), settings)
    assert crashed.signal == "SIGSEGV" and crashed.exit_code is None
    failed = run_program(RunRequest(binary=failer), settings)
    assert failed.exit_code == 3 and failed.failure() == "exited with status 3"


@pytest.mark.skipif(not IS_ROOT, reason="dropping privileges needs root")
def test_root_caller_runs_program_unprivileged(settings, build_c):
    binary = build_c(
        "whoami", '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("%d",getuid());}'
    )
    nobody = pwd.getpwnam("nobody")
    first, second = (run_program(RunRequest(binary=binary), settings) for _ in range(2))
    assert first.isolation.uid_dropped
    # each run its own uid, used by no account, in nobody's group
    uids = {int(first.stdout), int(second.stdout)}
    assert len(uids) == 2 and all(uid >= FRESH_UID_BASE for uid in uids)
    for uid in uids:
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)
    as_nobody = settings.model_copy(update={"sandbox_fresh_uid": False})
    assert run_program(RunRequest(binary=binary), as_nobody).stdout == str(nobody.pw_uid)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to start the launcher as an ordinary user")
def test_unprivileged_caller_still_gets_namespaces(build_c, tmp_path):
    """A user who is not root (the usual HPC case) gets isolation through a user namespace."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 readable by an ordinary user")
    binary = build_c("plain", '#include <stdio.h>\nint main(void){puts("ran");return 0;}')
    workdir = Path("/tmp") / f"lassi-unpriv-{os.getpid()}"
    workdir.mkdir(mode=0o755)
    shutil.copy(binary, workdir / "plain")
    launcher = workdir / "launcher.py"
    shutil.copy(LAUNCHER, launcher)
    nobody = pwd.getpwnam("nobody")
    os.chown(workdir, nobody.pw_uid, nobody.pw_gid)
    policy = {"workdir": str(workdir), "env": {"PATH": "/usr/bin:/bin"}, "limits": {}}
    try:
        proc = subprocess.run(
            [python, "-I", "-S", str(launcher), json.dumps(policy), "1", "--", "./plain"],
            cwd=workdir,
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "ran"
    status = json.loads(lines[-1])
    if not status["isolation"].get("user_namespace"):
        pytest.skip(f"user namespaces are off on this kernel: {status['isolation']}")
    assert status["isolation"]["network"] and status["isolation"]["pid"]
    assert status["exit_code"] == 0


def test_launcher_reports_a_program_that_cannot_start(settings, tmp_path):
    not_executable = tmp_path / "data.bin"
    not_executable.write_bytes(b"\x00\x01")
    result = run_program(RunRequest(binary=not_executable), settings)
    assert not result.ok
    assert result.start_error
    assert "could not start" in (result.failure() or "")


def test_program_dies_with_a_killed_pipeline(settings, build_c, tmp_path):
    """SIGKILL of the process running lassi-ee leaves no sandboxed program behind."""
    binary = build_c("orphan", "#include <unistd.h>\nint main(void){ for(;;) sleep(1); }")
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1])\n"
        "from lassi_ee.settings import Settings\n"
        "from lassi_ee.tools.run import RunRequest, run_program\n"
        "run_program(RunRequest(binary=Path(sys.argv[2]), timeout_s=60), "
        "Settings(work_root=Path(sys.argv[3])))\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    pipeline = subprocess.Popen(
        [sys.executable, "-c", script, root, str(binary), str(settings.work_root)]
    )
    deadline = time.monotonic() + 20
    while not processes_named("orphan") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_named("orphan"), "the program never started"
    pipeline.kill()
    pipeline.wait()
    deadline = time.monotonic() + 5
    while processes_named("orphan") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_named("orphan") == []


CHEAT = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

/* Replays a result cached by an earlier run: a file in its folder, a file in /tmp, a
   System V shared memory segment, or a helper it left running that keeps the file there. */
static int replayed(const char *tmp_cache, key_t key) {
  const char *files[] = {"cache.txt", tmp_cache};
  int found = 0;
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(files[i], "r");
    if (f) { printf("replayed %s\n", files[i]); fclose(f); found = 1; }
  }
  if (key && shmget(key, 0, 0) >= 0) { puts("replayed shm"); found = 1; }
  return found;
}

int main(int argc, char **argv) {
  const char *tmp_cache = argv[1];
  key_t key = (key_t)atoi(argv[2]);
  struct timespec helper_time = {0, 50 * 1000 * 1000};
  if (replayed(tmp_cache, key) || (nanosleep(&helper_time, NULL), replayed(tmp_cache, key))) {
    puts("result 42");
    return 0;
  }
  puts("computed");
  puts("result 42");
  FILE *f = fopen("cache.txt", "w"); fputs("42\n", f); fclose(f);
  f = fopen(tmp_cache, "w"); if (f) { fputs("42\n", f); fclose(f); }
  if (key) shmget(key, 64, IPC_CREAT | 0600);
  fflush(stdout);
  if (fork() == 0) {
    struct timespec tick = {0, 1000 * 1000};
    for (int i = 0; i < 1000; i++) {
      FILE *c = fopen("cache.txt", "w"); if (c) fclose(c);
      nanosleep(&tick, NULL);
    }
    _exit(0);
  }
  return 0;
}
"""


def test_nothing_carries_over_between_runs_repeated_in_one_sandbox(settings, build_c, tmp_path):
    """Measured runs go back to back in one sandbox; each starts from the same files. A
    program that caches its result in its folder, in /tmp, in System V shared memory and
    through a helper it leaves running computes it again on every run."""
    binary = build_c("cheat", CHEAT)
    outside = tmp_path / "outside"
    outside.mkdir()
    for _ in range(2):  # unconfined, the second run replays what the first stored
        plain = subprocess.run(
            [str(binary), str(outside / "tmp-cache.txt"), "0"],
            cwd=outside,
            capture_output=True,
            text=True,
        )
    assert "replayed cache.txt" in plain.stdout and "computed" not in plain.stdout

    result = run_program(
        RunRequest(binary=binary, args=["/tmp/lassi-cheat-cache.txt", "4242"], repeat=4), settings
    )
    assert result.ok, result.failure()
    assert result.isolation.readonly_fs and result.isolation.pid and result.isolation.ipc
    assert len(result.run_s) == 4
    assert "replayed" not in result.stdout
    assert result.stdout.count("computed") == 4
