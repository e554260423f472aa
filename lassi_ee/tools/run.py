"""The run tool: execute a built program once, contained, in a fresh directory.

LLM-written code runs only through here. Each run gets a new working directory
with the binary and the app's data files copied in (owned by an unprivileged
user when we are root), an environment of allowlisted variables only, resource
limits, a timeout that kills everything it started, and no network where the
kernel allows it. Runs repeated back to back each start from those same files.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.devices import Device
from lassi_ee.settings import Settings
from lassi_ee.tools.sandbox import Isolation, hand_over, read_capped, run_contained, sandbox_ids


class RunRequest(BaseModel):
    """What to run (a built binary), with which arguments, files and environment."""

    binary: Path
    args: list[str] = Field(default_factory=list)
    data_files: list[Path] = Field(default_factory=list, description="copied into the workdir")
    device: Device | None = None
    timeout_s: float | None = Field(None, description="per run; defaults to settings.run_timeout_s")
    env: dict[str, str] = Field(
        default_factory=dict, description="set for the program, besides the sandbox's allowlist"
    )
    repeat: int = Field(1, ge=1, description="runs back to back in one sandbox (measurement)")


class RunResult(BaseModel):
    """How a run ended: exit status or signal, its output, and the isolation it had."""

    exit_code: int | None
    signal: str | None = None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    wall_s: float = Field(description="wall time of the last run")
    run_s: list[float] = Field(default_factory=list, description="wall time of every run")
    workdir: Path
    output_files: list[str] = Field(default_factory=list, description="files the program wrote")
    isolation: Isolation = Field(default_factory=Isolation)
    start_error: str | None = None
    env_names: list[str] = Field(default_factory=list, description="the variables it was given")

    @property
    def ok(self) -> bool:
        """Exited 0 within the timeout."""
        return self.exit_code == 0 and not self.timed_out

    def failure(self) -> str | None:
        """One line on why the run failed, or None when it succeeded."""
        if self.start_error:
            return f"could not start the program: {self.start_error}"
        if self.timed_out:
            return f"timed out after {self.wall_s:.1f} s and was killed"
        if self.signal == "SIGXFSZ":
            return "killed for writing more than the file-size limit (output too large)"
        if self.signal == "SIGXCPU":
            return "killed for exceeding the CPU-time limit"
        if self.signal:
            return f"killed by {self.signal}"
        if self.exit_code != 0:
            return f"exited with status {self.exit_code}"
        return None

    def discard(self) -> None:
        """Remove the working directory once its outputs have been used."""
        shutil.rmtree(self.workdir.parent, ignore_errors=True)


def run_program(request: RunRequest, settings: Settings | None = None) -> RunResult:
    """Run a binary once in a fresh sandbox; a crash or timeout is a result, not an exception."""
    settings = settings or Settings()
    run_root = settings.work_root / f"run-{uuid.uuid4().hex[:12]}"
    workdir = run_root / "work"
    logs = run_root / "logs"
    workdir.mkdir(parents=True)
    logs.mkdir()
    run_root.chmod(0o755)
    logs.chmod(0o700)
    binary = workdir / request.binary.name
    shutil.copy2(request.binary, binary)
    for data in request.data_files:
        target = workdir / data.name
        if data.is_dir():
            shutil.copytree(data, target)
        else:
            shutil.copy2(data, target)
    run_as = sandbox_ids(settings)
    hand_over(workdir, run_as)
    before = _listing(workdir)
    env = {**(request.device.child_env() if request.device else {}), **request.env}
    is_cpu_program = request.device is None or request.device.kind == "cpu"
    outcome = run_contained(
        [f"./{binary.name}", *request.args],
        workdir,
        settings=settings,
        run_as=run_as,
        timeout_s=(request.timeout_s or settings.run_timeout_s) * request.repeat,
        stdout_path=logs / "stdout.txt",
        stderr_path=logs / "stderr.txt",
        env=env,
        limit_address_space=is_cpu_program,
        repeat=request.repeat,
    )
    stdout, out_cut = read_capped(logs / "stdout.txt", settings.max_output_bytes)
    stderr, err_cut = read_capped(logs / "stderr.txt", settings.max_output_bytes)
    return RunResult(
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        timed_out=outcome.timed_out,
        stdout=stdout,
        stderr=stderr,
        output_truncated=out_cut or err_cut,
        wall_s=outcome.run_s[-1],
        run_s=outcome.run_s,
        workdir=workdir,
        output_files=sorted(_listing(workdir) - before),
        isolation=outcome.isolation,
        start_error=outcome.start_error,
        env_names=outcome.env_names,
    )


def _listing(root: Path) -> set[str]:
    """Files under root (relative names), skipping directories the program hid from us."""
    names: set[str] = set()
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                names.add(str(path.relative_to(root)))
        except OSError:
            continue
    return names
