"""The compile tool: build an app (or a candidate version of it) for a device.

Default lines are the paper's (``nvcc -std=c++14 -Xcompiler -Wall -arch=sm_XX
-O3``; ``hipcc -std=c++14 -Wall -O3 --offload-arch=gfxXXX``) with the
architecture read from the device; an app may replace the flags or bring its
own Makefile or CMake project. A failed build is a result with diagnostics
trimmed for an LLM, never an exception.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.apps import App
from lassi_ee.devices import Device
from lassi_ee.errors import UsageError
from lassi_ee.settings import Settings
from lassi_ee.tools.sandbox import (
    SANDBOX_DIR,
    hand_over,
    inherited,
    read_capped,
    run_contained,
    sandbox_ids,
)

_DIAGNOSTIC = re.compile(r"(error|warning|note|undefined reference|fatal)", re.IGNORECASE)
_IGNORED_COPY = shutil.ignore_patterns(".git", "*.o", "build", "__pycache__")
_HEADER_SUFFIXES = {".h", ".hh", ".hpp", ".hxx", ".cuh", ".inc", ".inl"}
MAX_DIAGNOSTIC_LINES = 60
MAX_DIAGNOSTIC_CHARS = 6000


class CompileRequest(BaseModel):
    """What to build (the app, or candidate code in its place), for which device, where."""

    app: App
    device: Device
    build_dir: Path
    code: str | None = Field(None, description="replaces the app's refactor file; None = as is")
    timeout_s: float | None = None


class CompileResult(BaseModel):
    """A build: whether it worked, the binary, and diagnostics trimmed for the LLM."""

    ok: bool
    binary: Path | None = None
    command: list[str]
    diagnostics: str = Field("", description="errors and warnings, trimmed and de-duplicated")
    log: str = Field("", description="the compiler's whole output (capped)")
    duration_s: float
    timed_out: bool = False


def default_command(app: App, device: Device, binary: str) -> list[str]:
    """The paper's compiler line for the app's language on this device."""
    build = app.manifest.build
    sources = app.manifest.sources or [app.manifest.refactor]
    language = app.manifest.language
    if language == "cuda":
        require_device_for(app, device)
        flags = build.flags or ["-std=c++14", "-Xcompiler", "-Wall", "-O3"]
        return ["nvcc", *flags, f"-arch={device.arch}", *build.extra_flags, *sources, "-o", binary]
    if language == "hip":
        require_device_for(app, device)
        flags = build.flags or ["-std=c++14", "-Wall", "-O3"]
        return [
            "hipcc", *flags, f"--offload-arch={device.arch}", *build.extra_flags,
            *sources, "-o", binary,
        ]  # fmt: skip
    compiler = os.environ.get("CXX", "c++")
    if all(name.endswith(".c") for name in sources):
        compiler = os.environ.get("CC", "cc")
    flags = build.flags or ["-O3", "-fopenmp", "-Wall"]
    return [compiler, *flags, *build.extra_flags, *sources, "-o", binary]


_DEVICE_KIND = {"cuda": "cuda", "hip": "rocm"}


def require_device_for(app: App, device: Device) -> None:
    """A CUDA program needs a cuda device and a HIP one a rocm device (OpenMP runs anywhere)."""
    kind = _DEVICE_KIND.get(app.manifest.language)
    if kind is not None and device.kind != kind:
        raise UsageError(
            f"{app.name} is a {app.manifest.language.upper()} program but the device is "
            f"{device.spec}: use --device {kind}:0"
        )


def build_commands(app: App, device: Device) -> list[list[str]]:
    """Commands run inside the copied source tree (paths relative: the sandbox moves it)."""
    build = app.manifest.build
    if build.system == "make":
        target = [build.make_target] if build.make_target else []
        return [["make", f"ARCH={device.arch}", *target]]
    if build.system == "cmake":
        arch = device.arch.removeprefix("sm_")
        return [
            [
                "cmake", "-S", ".", "-B", "build", "-DCMAKE_BUILD_TYPE=Release",
                f"-DCMAKE_CUDA_ARCHITECTURES={arch}", f"-DCMAKE_HIP_ARCHITECTURES={device.arch}",
            ],
            ["cmake", "--build", "build", "--parallel"],
        ]  # fmt: skip
    return [default_command(app, device, build.binary)]


def trim_diagnostics(log: str, build_dir: Path) -> str:
    """Errors and warnings an LLM can act on: paths shortened, repeats dropped, size capped."""
    seen: set[str] = set()
    kept: list[str] = []
    for prefix in (f"{build_dir}/", f"{SANDBOX_DIR}/"):
        log = log.replace(prefix, "")
    for line in log.splitlines():
        if not _DIAGNOSTIC.search(line):
            continue
        key = re.sub(r"\d+", "N", line.strip())
        if key in seen:
            continue
        seen.add(key)
        kept.append(line.rstrip())
    omitted = len(kept) - MAX_DIAGNOSTIC_LINES
    text = "\n".join(kept[:MAX_DIAGNOSTIC_LINES])[:MAX_DIAGNOSTIC_CHARS]
    if omitted > 0:
        text += f"\n... {omitted} more diagnostic lines omitted"
    return text


def copy_sources(app: App, src: Path) -> None:
    """What the build reads, copied into the build folder.

    A Makefile/CMake project needs its whole tree; a compiler line needs its sources, their
    listed dependencies and the headers beside them (not whatever else shares the folder of
    a single source file, like runs/ or checkpoints/).
    """
    if app.manifest.build.system != "compiler":
        shutil.copytree(app.root, src, ignore=_IGNORED_COPY)
        return
    src.mkdir(parents=True)
    manifest = app.manifest
    names = {manifest.refactor, *manifest.sources, *manifest.dependencies}
    names |= {p.name for p in app.root.iterdir() if p.suffix in _HEADER_SUFFIXES and p.is_file()}
    for name in names:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (app.root / name).is_dir():
            shutil.copytree(app.root / name, target, ignore=_IGNORED_COPY)
        else:
            shutil.copy2(app.root / name, target)


def compile_app(request: CompileRequest, settings: Settings | None = None) -> CompileResult:
    """Copy the app into ``build_dir/src``, put the candidate code in, and build it there."""
    settings = settings or Settings()
    app = request.app
    src = request.build_dir / "src"
    if src.exists():
        shutil.rmtree(src)
    copy_sources(app, src)
    if request.code is not None:
        (src / app.manifest.refactor).write_text(request.code)
    commands = build_commands(app, request.device)
    for tool in {command[0] for command in commands}:
        if shutil.which(tool) is None:
            raise UsageError(
                f"'{tool}' is not on PATH: install it or load its module to build {app.name}"
            )
    # the compiler reads LLM-written code: unprivileged, or `#include "/root/..."` (or an
    # .incbin) would put any file of the machine into diagnostics, prompts and binaries
    run_as = sandbox_ids(settings)
    hand_over(src, run_as)
    timeout_s = request.timeout_s or settings.compile_timeout_s
    start = time.monotonic()
    log_parts: list[str] = []
    timed_out = False
    ok = True
    for command in commands:
        outcome = run_contained(
            command,
            src,
            settings=settings,
            timeout_s=max(timeout_s - (time.monotonic() - start), 1.0),
            stdout_path=request.build_dir / "compile.stdout",
            stderr_path=request.build_dir / "compile.stderr",
            run_as=run_as,
            env=inherited(app.manifest.env),
        )
        for name in ("compile.stdout", "compile.stderr"):
            log_parts.append(read_capped(request.build_dir / name, settings.max_output_bytes)[0])
        timed_out = outcome.timed_out
        if outcome.start_error or outcome.exit_code != 0:
            ok = False
            if outcome.start_error:
                log_parts.append(f"could not start {command[0]}: {outcome.start_error}")
            break
    binary = _find_binary(app, src)
    log = "\n".join(part for part in log_parts if part)
    if timed_out:
        log += f"\ncompilation timed out after {timeout_s:.0f} s"
    ok = ok and not timed_out and binary is not None
    if not ok and binary is None and not log.strip():
        log = f"the build finished but produced no executable '{app.manifest.build.binary}'"
    diagnostics = trim_diagnostics(log, src)
    if not ok and not diagnostics:
        diagnostics = log.strip()[-MAX_DIAGNOSTIC_CHARS:]
    return CompileResult(
        ok=ok,
        binary=binary if ok else None,
        command=commands[-1],
        diagnostics=diagnostics,
        log=log,
        duration_s=time.monotonic() - start,
        timed_out=timed_out,
    )


def _find_binary(app: App, src: Path) -> Path | None:
    name = app.manifest.build.binary
    for candidate in (src / name, src / "build" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None
