"""Run untrusted programs (LLM-written code, compilers reading it) contained.

The heavy lifting happens in ``sandbox_launcher.py``, a separate process; this
module builds its policy, chooses the environment (an allowlist: what running a
compiler or a program needs, nothing else of the user's shell), enforces the
timeout by killing the whole process group, and caps what is read back.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lassi_ee.settings import Settings
from lassi_ee.tools.sandbox_launcher import SANDBOX_DIR

LAUNCHER = Path(__file__).with_name("sandbox_launcher.py")
__all__ = ["SANDBOX_DIR", "Isolation", "SandboxOutcome", "run_contained", "sandbox_ids"]
# All a contained program gets from this process's environment: the toolchain's PATH and
# libraries, locale and time zone, GPU selection, OpenMP's knobs. Anything else (HOME, PWD,
# a checkpoint URL with a password, a key under any name) stays out; an app's manifest
# names what more it needs (``env:``), and HOME and TMPDIR point into the run's folder.
PASSED_VARIABLES = frozenset(
    {
        "PATH", "LD_LIBRARY_PATH", "LANG", "TZ",
        "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    }
)  # fmt: skip
PASSED_PREFIXES = ("LC_", "OMP_", "GOMP_", "KMP_")
# Fresh uids for sandboxed runs: above the ranges systemd gives users, containers and
# dynamic users (up to 1879048191), below 2**31 where some tools take uids as signed.
FRESH_UID_BASE = 2_000_000_000
FRESH_UID_COUNT = 1 << 24
RunAs = tuple[int, int]


class Isolation(BaseModel):
    """What containment the kernel granted for one run, reported, never assumed."""

    network: bool = False
    ipc: bool = False
    pid: bool = False
    mount: bool = False
    readonly_fs: bool = False
    uid_dropped: bool = False
    user_namespace: bool = False
    why_not: str | None = None

    def summary(self) -> str:
        """The isolation a run had, in one line (and what it lacked)."""
        missing = [
            name
            for name, ok in (
                ("network cut off", self.network),
                ("own process namespace", self.pid),
                ("read-only file system", self.readonly_fs),
            )
            if not ok
        ]
        if not missing:
            return "fully isolated" + (" as an unprivileged user" if self.uid_dropped else "")
        reason = f" ({self.why_not})" if self.why_not else ""
        return "NOT isolated: no " + ", no ".join(missing) + reason


class SandboxOutcome(BaseModel):
    """How a contained command ended, as the launcher reported it."""

    exit_code: int | None
    signal: str | None = None
    timed_out: bool = False
    run_s: list[float] = Field(description="wall time of each run, measured inside the sandbox")
    isolation: Isolation = Field(default_factory=Isolation)
    start_error: str | None = None
    env_names: list[str] = Field(default_factory=list, description="the variables passed")


def sandbox_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a contained program.

    The allowlisted variables of this process, then ``extra`` (device pinning, what the
    manifest names), and HOME and TMPDIR in ``workdir`` (the launcher moves them to
    SANDBOX_DIR when it can remap the folder).
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name in PASSED_VARIABLES or name.startswith(PASSED_PREFIXES)
    }
    env.setdefault("PATH", os.defpath)
    env.update(extra or {})
    env["HOME"] = env["TMPDIR"] = str(workdir)
    return env


def inherited(names: list[str]) -> dict[str, str]:
    """The values this process has for ``names`` (an app manifest's ``env``).

    Unset ones are left out.
    """
    return {name: os.environ[name] for name in names if name in os.environ}


def sandbox_ids(settings: Settings) -> RunAs | None:
    """The (uid, gid) a contained program runs as when we are root; None otherwise.

    The group is ``sandbox_user``'s. With ``sandbox_fresh_uid`` every call gives a uid
    no account uses, so each run's processes count against a process limit of their
    own: a fork storm in one run cannot stop another run's program from starting.
    """
    if os.getuid() != 0 or not settings.sandbox_user:
        return None
    try:
        entry = pwd.getpwnam(settings.sandbox_user)
    except KeyError:
        return None
    if not settings.sandbox_fresh_uid:
        return entry.pw_uid, entry.pw_gid
    while True:
        uid = FRESH_UID_BASE + secrets.randbelow(FRESH_UID_COUNT)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid, entry.pw_gid


def hand_over(path: Path, run_as: RunAs | None) -> None:
    """Give a directory tree to the sandbox's user, so the program can write only there."""
    if run_as is None:
        return
    uid, gid = run_as
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _limits(settings: Settings, cpu_time_s: float, address_space: bool) -> dict[str, int | None]:
    limits: dict[str, int | None] = {
        "RLIMIT_CPU": int(cpu_time_s) + 1,
        "RLIMIT_FSIZE": settings.max_file_size_mb * 2**20,
        "RLIMIT_NOFILE": settings.max_open_files,
        "RLIMIT_CORE": 0,
        "RLIMIT_NPROC": settings.max_processes,
    }
    if address_space and settings.address_space_gb:
        limits["RLIMIT_AS"] = int(settings.address_space_gb * 2**30)
    return limits


def run_contained(
    argv: list[str],
    workdir: Path,
    *,
    settings: Settings,
    timeout_s: float,
    stdout_path: Path,
    stderr_path: Path,
    run_as: RunAs | None,
    env: dict[str, str] | None = None,
    limit_address_space: bool = False,
    repeat: int = 1,
) -> SandboxOutcome:
    """Run ``argv`` in ``workdir`` under the launcher; never raises for the program's faults.

    ``run_as`` is the (uid, gid) to switch to, from ``sandbox_ids`` (None: stay who we
    are). ``env`` is added to the allowlisted environment (see ``sandbox_env``).
    ``limit_address_space`` applies RLIMIT_AS, which CUDA and HIP runtimes cannot
    live with (they reserve huge virtual ranges), so only CPU programs get it.
    ``repeat`` runs start from the same files: a copy of ``workdir`` as it is now,
    beside it and unwritable for the program, restores it before every later run.
    """
    uid, gid = run_as if run_as is not None else (None, None)
    pristine = workdir.with_name(workdir.name + ".pristine") if repeat > 1 else None
    if pristine is not None:
        shutil.copytree(workdir, pristine, symlinks=True)
        pristine.chmod(0o700)
    child_env = sandbox_env(workdir, env)
    policy = {
        "workdir": str(workdir),
        "env": child_env,
        "limits": _limits(settings, timeout_s * (os.cpu_count() or 1), limit_address_space),
        "uid": uid,
        "gid": gid,
        "repeat": repeat,
        "pristine": str(pristine) if pristine is not None else None,
    }
    try:
        outcome = _launch(policy, argv, workdir, timeout_s, stdout_path, stderr_path)
    finally:
        if pristine is not None:
            shutil.rmtree(pristine, ignore_errors=True)
    return outcome.model_copy(update={"env_names": sorted(child_env)})


def _launch(
    policy: dict[str, Any],
    argv: list[str],
    workdir: Path,
    timeout_s: float,
    stdout_path: Path,
    stderr_path: Path,
) -> SandboxOutcome:
    """Start the launcher with ``policy`` and wait for it (killing it at the timeout)."""
    status_read, status_write = os.pipe()
    command = [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(policy), str(status_write)]
    start = time.monotonic()
    timed_out = False
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        try:
            process = subprocess.Popen(
                [*command, "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=workdir,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                start_new_session=True,
                pass_fds=(status_write,),
            )
        finally:
            os.close(status_write)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(process)
    with os.fdopen(status_read) as status_file:
        status_text = status_file.read().strip().splitlines()
    wall_s = time.monotonic() - start
    if not status_text:  # the launcher itself was killed (timeout) before reporting
        return SandboxOutcome(exit_code=None, signal="SIGKILL", timed_out=timed_out, run_s=[wall_s])
    status = json.loads(status_text[-1])
    isolation = Isolation.model_validate(
        {k: v for k, v in status["isolation"].items() if k in Isolation.model_fields}
    )
    signum = status["signal"]
    return SandboxOutcome(
        exit_code=status["exit_code"],
        signal=signal.Signals(signum).name if signum else None,
        timed_out=timed_out,
        run_s=status["run_s"],
        isolation=isolation,
        start_error=status["exec_error"],
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill a contained run and everything it started.

    Ask the launcher to kill its child (pid 1 of the namespace takes every descendant with
    it, even those that left the process group), then kill the whole group in case the
    launcher cannot.
    """
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# The line that stands for the middle of an output too long to keep (digits and all, so
# the output check recognizes it and compares no number of it).
CUT_LINE = re.compile(r"^\[lassi-ee: \d+ bytes of output cut here", re.MULTILINE)
TAIL_BYTES = 64 * 1024


def read_capped(path: Path, max_bytes: int) -> tuple[str, bool]:
    """A log as kept, and whether any was cut.

    All of it up to ``max_bytes``; beyond, its start and its end (where success markers and
    final results are printed) around a line that says how much of the middle is missing,
    ``max_bytes`` in all.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= max_bytes:
            return handle.read().decode(errors="replace"), False
        longest_line = _cut_line(size, max_bytes)  # the count of cut bytes is at most size
        budget = max(max_bytes - len(longest_line) - 2, 0)
        tail_bytes = min(budget // 4, TAIL_BYTES)
        head = handle.read(budget - tail_bytes)
        handle.seek(size - tail_bytes)
        tail = handle.read(tail_bytes)
    line = _cut_line(size - len(head) - len(tail), max_bytes)
    return f"{head.decode(errors='replace')}\n{line}\n{tail.decode(errors='replace')}", True


def _cut_line(cut_bytes: int, max_bytes: int) -> str:
    return f"[lassi-ee: {cut_bytes} bytes of output cut here (max_output_bytes keeps {max_bytes})]"
