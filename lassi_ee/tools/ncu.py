"""Nsight Compute at Stage 0: where the source's GPU time goes, as the hardware counts it.

Stage 2's prompts otherwise see only energy, runtime and power, and the LLM guesses
whether a kernel is limited by memory or by arithmetic. One bounded ``ncu`` run over
the source's binary answers that per kernel: share of the GPU time, SM and DRAM
throughput against their peaks, achieved occupancy, the warp-stall reasons, FLOP and
DRAM bytes, hence arithmetic intensity and the side of the roofline it sits on. The
peaks come from the same run (``*.peak_sustained`` per cycle times the measured clock),
so no table of devices is needed.

Bounds: ncu profiles the program's first ``ncu_max_launches`` kernel launches and then
stops the program (``--kill yes``); the whole run has ``ncu_timeout_s``. Shares are
therefore shares of those launches' GPU time, which the prompt says. ``--clock-control
none`` leaves the GPU's clocks as the program would find them, so the figures describe
the program as it runs when measured, and a stopped ncu cannot leave the clocks locked
for the measurements after it.

Why ncu runs outside the sandbox: the rule is that code an LLM wrote runs only through
the sandboxed run tool, and this is the user's own program (``profile_kernels`` is
called by Stage 0 on the source's build only). Reading performance counters is, on
most drivers, allowed to administrators only: as the sandbox's unprivileged uid ncu
fails with ERR_NVGPUCTRPERM, and ncu reaches the program it profiles through a local
TCP port while the sandbox's network namespace has no loopback interface up. It still
runs contained as far as that allows: a fresh working directory, the sandbox's
allowlisted environment, its own process group, a timeout that stops everything it
started, no stdin.

Nothing here fails a trial: a missing ncu, one that may not read the counters, a
timeout or output that cannot be read is one note (``NcuRun.note``).
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from lassi_ee.settings import Settings
from lassi_ee.tools.run import RunRequest
from lassi_ee.tools.sandbox import sandbox_env

# What Stage 0 asks ncu for: time, throughput against peak, occupancy, FP instruction
# counts (an FMA is two FLOP) with the FMA pipes' peak per cycle, DRAM bytes with their
# peak per cycle, the clocks that turn per-cycle peaks into per-second ones, and the
# launch shape. Every name was accepted by Nsight Compute 2025.3 on the H100
# (tests/data/ncu/ncu-record.json).
CORE_METRICS = (
    "gpu__time_duration.sum",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "dram__bytes.sum",
    "dram__bytes.sum.peak_sustained",
    "dram__cycles_elapsed.avg.per_second",
    "sm__cycles_elapsed.avg.per_second",
    "sm__sass_thread_inst_executed_op_fadd_pred_on.sum",
    "sm__sass_thread_inst_executed_op_fmul_pred_on.sum",
    "sm__sass_thread_inst_executed_op_ffma_pred_on.sum",
    "sm__sass_thread_inst_executed_op_ffma_pred_on.sum.peak_sustained",
    "sm__sass_thread_inst_executed_op_dadd_pred_on.sum",
    "sm__sass_thread_inst_executed_op_dmul_pred_on.sum",
    "sm__sass_thread_inst_executed_op_dfma_pred_on.sum",
    "sm__sass_thread_inst_executed_op_dfma_pred_on.sum.peak_sustained",
    "launch__grid_size",
    "launch__block_size",
    "launch__registers_per_thread",
)
# The warp-stall reasons by pattern, not by name: which reasons exist differs between
# chips (gmma only on Hopper), and a name ncu does not know fails the whole run.
STALL_PATTERN = r"regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio"
_STALL_PREFIX = "smsp__average_warps_issue_stalled_"
_STALL_SUFFIX = "_per_issue_active.ratio"
_NOT_A_STALL = frozenset({"selected"})  # the warp that issued: it was not waiting
_PROBLEM_MARKERS = ("==ERROR==", "==WARNING==")
_NAME_CHARS = 160  # a template kernel's full name can fill a screen; the report keeps it whole

Roofline = Literal["memory-bound", "compute-bound", "no floating-point work"]


class NcuOutputError(ValueError):
    """ncu's output lacks what Stage 0 reads (a metric, a row): a note, never a failure."""


class DevicePeaks(BaseModel):
    """The device's peaks as ncu states them for this run: per-cycle peaks times clocks."""

    dram_bytes_per_s: float
    fp32_flop_per_s: float = Field(description="FFMA pipes: two FLOP per instruction")
    fp64_flop_per_s: float = Field(description="DFMA pipes: two FLOP per instruction")
    sm_clock_hz: float = Field(description="the SM clock during the profiled launches")

    def ridge_flop_per_byte(self, fp64: bool) -> float:
        """Arithmetic intensity where the roofline's memory slope meets the FP peak."""
        peak = self.fp64_flop_per_s if fp64 else self.fp32_flop_per_s
        return peak / self.dram_bytes_per_s


class KernelCounters(BaseModel):
    """One kernel's profiled launches, summed (counts) or averaged by duration (rates)."""

    name: str = Field(description="as ncu prints it: the function and its parameter types")
    launches: int = Field(description="profiled launches of this kernel")
    duration_s: float = Field(description="GPU time of its profiled launches, summed")
    duration_share: float = Field(description="of the GPU time of all profiled launches")
    sm_throughput_pct: float = Field(description="SM throughput, % of peak")
    dram_throughput_pct: float = Field(description="DRAM throughput, % of peak")
    memory_throughput_pct: float = Field(
        description="busiest memory unit (L1, L2 or DRAM), % of peak: high while DRAM is low "
        "means the caches are the limit"
    )
    achieved_occupancy_pct: float = Field(description="active warps, % of the SM's maximum")
    stalls: dict[str, float] = Field(
        default_factory=dict,
        description="reason -> warps waiting for it per issued instruction, largest first",
    )
    fp32_flop: float
    fp64_flop: float
    dram_bytes: float
    roofline: Roofline = Field(
        description="the side of the roofline: DRAM time at peak bandwidth against FP time at "
        "peak FLOP rate (FP32 and FP64 each at their own peak)"
    )
    grid_size: int
    block_size: int
    registers_per_thread: int

    @property
    def flop(self) -> float:
        """Floating-point operations of its profiled launches, FP32 and FP64."""
        return self.fp32_flop + self.fp64_flop

    @property
    def arithmetic_intensity(self) -> float | None:
        """FLOP per DRAM byte; None when it moved no DRAM byte."""
        return self.flop / self.dram_bytes if self.dram_bytes > 0 else None

    def top_stalls(self, count: int = 3) -> list[tuple[str, float]]:
        """The ``count`` reasons warps waited for most."""
        return list(self.stalls.items())[:count]

    def line(self, peaks: DevicePeaks) -> str:
        """One line for a prompt: share, roofline side, throughputs, occupancy, stalls."""
        per_launch_ms = self.duration_s / self.launches * 1e3
        parts = [
            f"{self.duration_share * 100:.0f} % of the GPU time ({self.launches} launches of "
            f"{per_launch_ms:.3g} ms, {self.grid_size} blocks of {self.block_size} threads, "
            f"{self.registers_per_thread} registers per thread)",
            self._roofline_words(peaks),
            f"SM {self.sm_throughput_pct:.0f} %, DRAM {self.dram_throughput_pct:.0f} %, "
            f"busiest memory unit {self.memory_throughput_pct:.0f} % of peak",
            f"achieved occupancy {self.achieved_occupancy_pct:.0f} %",
        ]
        if self.stalls:
            reasons = ", ".join(f"{name} {value:.2g}" for name, value in self.top_stalls())
            parts.append(f"warps wait most on {reasons} (warps per issued instruction)")
        name = self.name if len(self.name) <= _NAME_CHARS else self.name[: _NAME_CHARS - 3] + "..."
        return f"{name}: " + "; ".join(parts)

    def _roofline_words(self, peaks: DevicePeaks) -> str:
        if self.roofline == "no floating-point work":
            return "no floating-point work, so the FLOP roofline does not apply"
        intensity = self.arithmetic_intensity
        fp64 = self.fp64_flop > self.fp32_flop
        ridge = peaks.ridge_flop_per_byte(fp64)
        precision = "FP64" if fp64 else "FP32"
        if intensity is None:
            return f"{self.roofline} by the roofline (no DRAM traffic)"
        return (
            f"{self.roofline} by the roofline: {intensity:.3g} FLOP per DRAM byte against a "
            f"ridge of {ridge:.3g} ({precision})"
        )


class NcuProfile(BaseModel):
    """What ncu found over the profiled launches: per kernel, and the device's peaks."""

    kernels: list[KernelCounters] = Field(description="largest share of the GPU time first")
    launches: int = Field(description="launches profiled")
    launch_cap: int = Field(description="ncu_max_launches: the program's first launches only")
    peaks: DevicePeaks


class NcuRun(BaseModel):
    """One bounded ncu run: its profile, or one line on why there is none, and its cost."""

    profile: NcuProfile | None = None
    note: str | None = Field(None, description="why there are no counters, one line")
    wall_s: float = Field(0.0, description="what the ncu run cost, start to end")
    command: list[str] = Field(default_factory=list)
    exit_code: int | None = None
    raw_csv: str = Field("", description="the CSV ncu printed, kept for the archive")


def ncu_command(
    ncu: str, request: RunRequest, launches: int, stop_after_profiled: bool = True
) -> list[str]:
    """The ncu command line for one bounded, counters-only run of ``request``'s binary."""
    command = [ncu, "--csv", "--page", "raw", "--clock-control", "none"]
    command += ["--launch-count", str(launches)]
    if stop_after_profiled:
        command += ["--kill", "yes"]
    command += ["--metrics", ",".join((*CORE_METRICS, STALL_PATTERN))]
    return [*command, f"./{request.binary.name}", *request.args]


def profile_kernels(
    request: RunRequest, settings: Settings, stop_after_profiled: bool = True
) -> NcuRun:
    """Profile the source's build once with ncu, bounded; never raises for ncu's faults.

    ``request`` is the source's run (binary, arguments, data files, device). Only the
    source's own build may come here: see the module docstring for why it runs outside
    the sandbox. ``stop_after_profiled`` False lets the program run to its end after the
    profiled launches (the GPU benchmark compares what that costs).
    """
    ncu = shutil.which("ncu")
    if ncu is None:
        return NcuRun(note="no profiler counters: ncu not found on PATH")
    root = settings.work_root / f"ncu-{uuid.uuid4().hex[:12]}"
    workdir = root / "work"
    command = ncu_command(ncu, request, settings.ncu_max_launches, stop_after_profiled)
    started = time.monotonic()
    try:
        workdir.mkdir(parents=True)
        shutil.copy2(request.binary, workdir / request.binary.name)
        for data in request.data_files:
            copy = shutil.copytree if data.is_dir() else shutil.copy2
            copy(data, workdir / data.name)
        device_env = request.device.child_env() if request.device else {}
        env = sandbox_env(workdir, {**device_env, **request.env})
        exit_code, timed_out = _run(command, workdir, env, root, settings.ncu_timeout_s)
        kept = _kept_lines(root / "stdout.txt") + _kept_lines(root / "stderr.txt")
    except OSError as error:
        return NcuRun(
            note=f"no profiler counters: ncu could not be started ({error})",
            wall_s=time.monotonic() - started,
            command=command,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    wall_s = time.monotonic() - started
    raw_csv = "\n".join(line for line in kept if line.startswith('"'))
    run = NcuRun(wall_s=wall_s, command=command, exit_code=exit_code, raw_csv=raw_csv)
    if timed_out:
        return run.model_copy(
            update={
                "note": f"no profiler counters: ncu ran past ncu_timeout_s "
                f"({settings.ncu_timeout_s:g} s) and was stopped"
            }
        )
    if any("ERR_NVGPUCTRPERM" in line for line in kept):
        return run.model_copy(
            update={
                "note": "no profiler counters: ncu may not read this GPU's performance counters "
                "(ERR_NVGPUCTRPERM); run lassi-ee as an administrator, or have one allow "
                "profiling to all users (NVreg_RestrictProfilingToAdminUsers=0)"
            }
        )
    try:
        profile = summarize(parse_csv(raw_csv), settings.ncu_max_launches)
    except NcuOutputError as error:
        problems = [line for line in kept if line.startswith(_PROBLEM_MARKERS)]
        said = f": {problems[-1][:300]}" if problems else ""
        return run.model_copy(
            update={"note": f"no profiler counters: {error} (ncu exit {exit_code}){said}"}
        )
    return run.model_copy(update={"profile": profile})


def _run(
    command: list[str], workdir: Path, env: dict[str, str], logs: Path, timeout_s: float
) -> tuple[int | None, bool]:
    """Run ncu in its own process group; at the timeout, interrupt it, then kill it.

    ncu is interrupted first (SIGINT, as Ctrl-C would) so that it can detach from the GPU
    cleanly; whatever is left after a few seconds is killed.
    """
    with (logs / "stdout.txt").open("wb") as out, (logs / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            return process.wait(timeout=timeout_s), False
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None, True


def _kept_lines(path: Path) -> list[str]:
    """The lines of a log that ncu wrote: its CSV rows and its ==PROF==/==ERROR== lines.

    The program's output is interleaved with them and can be of any size: it is read
    line by line and dropped.
    """
    kept = []
    with path.open(errors="replace") as log:
        for line in log:
            if line.startswith(('"', "==")):
                kept.append(line.rstrip("\n"))
    return kept


def parse_csv(text: str) -> list[dict[str, str]]:
    """The launches of ncu's ``--csv --page raw`` output: one dict per launch, by column.

    Only lines that start with a quote are ncu's CSV; a table starts at its ``"ID"``
    header, its second row holds the units. Several tables (passes of one program over
    the same launches) are merged by launch ID, the first value of a column kept.
    """
    launches: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for row in csv.reader(line for line in text.splitlines() if line.startswith('"')):
        if row and row[0] == "ID":
            header = row
        elif header is not None and len(row) == len(header) and row[0].isdigit():
            values = dict(zip(header, row, strict=True))
            launches[row[0]] = {**values, **launches.get(row[0], {})}
    return [launches[key] for key in sorted(launches, key=int)]


def number(value: str) -> float | None:
    """A value of ncu's CSV as a number: thousands separators dropped; None if not one."""
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return None


def _metric(launch: dict[str, str], name: str) -> float:
    value = number(launch.get(name, ""))
    if value is None:
        raise NcuOutputError(f"ncu printed no number for {name}")
    return value


def _flop(launch: dict[str, str], precision: Literal["f", "d"]) -> float:
    """FLOP of one launch in one precision: adds, multiplies, and two per FMA."""
    counted = f"sm__sass_thread_inst_executed_op_{precision}{{}}_pred_on.sum"
    return (
        _metric(launch, counted.format("add"))
        + _metric(launch, counted.format("mul"))
        + 2 * _metric(launch, counted.format("fma"))
    )


def _peaks(launches: list[dict[str, str]]) -> DevicePeaks:
    """The device's peaks: the median over launches (clocks may move a little between them)."""

    def median(values: Iterable[float]) -> float:
        return float(np.median(list(values)))

    def fma_peak(precision: str) -> float:
        name = f"sm__sass_thread_inst_executed_op_{precision}fma_pred_on.sum.peak_sustained"
        return median(
            2 * _metric(launch, name) * _metric(launch, "sm__cycles_elapsed.avg.per_second")
            for launch in launches
        )

    return DevicePeaks(
        dram_bytes_per_s=median(
            _metric(launch, "dram__bytes.sum.peak_sustained")
            * _metric(launch, "dram__cycles_elapsed.avg.per_second")
            for launch in launches
        ),
        fp32_flop_per_s=fma_peak("f"),
        fp64_flop_per_s=fma_peak("d"),
        sm_clock_hz=median(_metric(x, "sm__cycles_elapsed.avg.per_second") for x in launches),
    )


def _roofline(
    fp32_flop: float, fp64_flop: float, dram_bytes: float, peaks: DevicePeaks
) -> Roofline:
    """Which takes longer at peak: moving the DRAM bytes, or the FLOP (each at its peak)."""
    if fp32_flop + fp64_flop == 0:
        return "no floating-point work"
    memory_s = dram_bytes / peaks.dram_bytes_per_s
    compute_s = fp32_flop / peaks.fp32_flop_per_s + fp64_flop / peaks.fp64_flop_per_s
    return "memory-bound" if memory_s > compute_s else "compute-bound"


def summarize(launches: list[dict[str, str]], launch_cap: int) -> NcuProfile:
    """Per-kernel counters of the profiled launches; NcuOutputError when they cannot be read."""
    if not launches:
        raise NcuOutputError("ncu printed no profiled launch")
    peaks = _peaks(launches)
    by_kernel: dict[str, list[dict[str, str]]] = {}
    for launch in launches:
        by_kernel.setdefault(launch.get("Kernel Name", "?"), []).append(launch)
    total_s = sum(_metric(x, "gpu__time_duration.sum") for x in launches) * 1e-9
    if total_s <= 0:
        raise NcuOutputError("the profiled launches took no GPU time")
    kernels = [_kernel(name, rows, total_s, peaks) for name, rows in by_kernel.items()]
    kernels.sort(key=lambda kernel: kernel.duration_s, reverse=True)
    return NcuProfile(kernels=kernels, launches=len(launches), launch_cap=launch_cap, peaks=peaks)


def _kernel(
    name: str, launches: list[dict[str, str]], total_s: float, peaks: DevicePeaks
) -> KernelCounters:
    durations = np.array([_metric(x, "gpu__time_duration.sum") * 1e-9 for x in launches])
    weights = durations if durations.sum() > 0 else None

    def mean(metric: str) -> float:
        """A rate over the kernel's launches, each weighted by how long it ran."""
        return float(np.average([_metric(x, metric) for x in launches], weights=weights))

    reasons = sorted(
        {
            column[len(_STALL_PREFIX) : -len(_STALL_SUFFIX)]
            for column in launches[0]
            if column.startswith(_STALL_PREFIX) and column.endswith(_STALL_SUFFIX)
        }
        - _NOT_A_STALL
    )
    stalls = {reason: mean(f"{_STALL_PREFIX}{reason}{_STALL_SUFFIX}") for reason in reasons}
    fp32 = sum(_flop(x, "f") for x in launches)
    fp64 = sum(_flop(x, "d") for x in launches)
    dram_bytes = sum(_metric(x, "dram__bytes.sum") for x in launches)
    return KernelCounters(
        name=name,
        launches=len(launches),
        duration_s=float(durations.sum()),
        duration_share=float(durations.sum()) / total_s,
        sm_throughput_pct=mean("sm__throughput.avg.pct_of_peak_sustained_elapsed"),
        dram_throughput_pct=mean("dram__throughput.avg.pct_of_peak_sustained_elapsed"),
        memory_throughput_pct=mean(
            "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"
        ),
        achieved_occupancy_pct=mean("sm__warps_active.avg.pct_of_peak_sustained_active"),
        stalls=dict(sorted(stalls.items(), key=lambda item: item[1], reverse=True)),
        fp32_flop=fp32,
        fp64_flop=fp64,
        dram_bytes=dram_bytes,
        roofline=_roofline(fp32, fp64, dram_bytes, peaks),
        grid_size=int(_metric(launches[0], "launch__grid_size")),
        block_size=int(_metric(launches[0], "launch__block_size")),
        registers_per_thread=int(_metric(launches[0], "launch__registers_per_thread")),
    )
