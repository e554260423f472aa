"""Where the source's time and power go: Stage 0's profiler counters and power shape.

Stage 0 gathers them once per source and device (cached with its figures); Stage 2's
``analyze_code`` and ``plan`` are told them in a few lines (``prompt_text``), and the
report and the archive keep every figure. On NVIDIA the counters come from one bounded
Nsight Compute run (tools/ncu.py) and the shape from the Stage-0 power timeline
(energy/shape.py). Elsewhere, or when ncu is missing, not permitted or fails, the
record holds one note instead of counters, and the prompts say so in one line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.energy.base import EnergyProfile, Timeline
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.shape import PowerShape
from lassi_ee.errors import LassiError
from lassi_ee.settings import Settings
from lassi_ee.tools.ncu import NcuProfile, profile_kernels
from lassi_ee.tools.run import RunRequest

RAW_CSV_NAME = "ncu-raw.csv"
KERNEL_TABLE_HEAD = [
    "kernel", "share of GPU time", "launches", "GPU time s", "roofline", "FLOP per DRAM byte",
    "SM %", "DRAM %", "busiest memory unit %", "occupancy %", "top stalls", "FP32 FLOP",
    "FP64 FLOP", "DRAM bytes",
]  # fmt: skip


class Hotspots(BaseModel):
    """Stage 0's profiler findings on the source: counters per kernel, the power's shape."""

    counters: NcuProfile | None = None
    note: str | None = Field(None, description="why there are no counters, one line")
    ncu_s: float | None = Field(None, description="what the ncu run cost, when one ran")
    raw_csv_path: str | None = Field(None, description="ncu's CSV, as it printed it")
    power: PowerShape | None = None

    def prompt_text(self, of_source: bool = True, kernels: int = 3) -> str:
        """A few lines for Stage 2's prompts: the hottest ``kernels`` and the power shape.

        ``of_source`` False says that the program being analysed has changed since.
        """
        lines = []
        if not of_source and (self.counters is not None or self.power is not None):
            lines.append("(Measured on the source at Stage 0; the current best derives from it.)")
        profile = self.counters
        if profile is None:
            lines.append(self.note or "no profiler counters")
        else:
            lines.append(
                f"Profiler counters (Nsight Compute, the program's first {profile.launches} "
                "kernel launches; shares are of their GPU time):"
            )
            lines += [f"- {kernel.line(profile.peaks)}" for kernel in profile.kernels[:kernels]]
            if len(profile.kernels) > kernels:
                rest = sum(kernel.duration_share for kernel in profile.kernels[kernels:])
                lines.append(
                    f"- {len(profile.kernels) - kernels} more kernels: {rest * 100:.0f} % of it"
                )
        if self.power is not None:
            lines.append(self.power.line())
        return "\n".join(lines)

    def report_notes(self) -> list[str]:
        """What the report says around the kernel table.

        Why there are no counters, or the run's bounds, cost and peaks; the power shape;
        where ncu's own CSV is.
        """
        notes = [self.note] if self.note else []
        profile = self.counters
        cost = f" in {self.ncu_s:.1f} s" if self.ncu_s is not None else ""
        if profile is not None:
            peaks = profile.peaks
            notes.append(
                f"Nsight Compute profiled the program's first {profile.launches} kernel "
                f"launches (ncu_max_launches {profile.launch_cap}){cost}. Peaks from the same "
                f"run: DRAM {peaks.dram_bytes_per_s / 1e9:.4g} GB/s, FP32 "
                f"{peaks.fp32_flop_per_s / 1e12:.4g} TFLOP/s, FP64 "
                f"{peaks.fp64_flop_per_s / 1e12:.4g} TFLOP/s at an SM clock of "
                f"{peaks.sm_clock_hz / 1e9:.3g} GHz."
            )
        elif cost:
            notes.append(f"The ncu run took{cost}.")
        if self.power is not None:
            notes.append(self.power.line())
        if self.raw_csv_path is not None:
            notes.append(f"ncu's own CSV: {self.raw_csv_path} ({RAW_CSV_NAME} in the archive).")
        return notes

    def kernel_rows(self) -> list[list[str]]:
        """Every profiled kernel's figures as table cells (KERNEL_TABLE_HEAD), for reports."""
        if self.counters is None:
            return []
        return [
            [
                kernel.name,
                f"{kernel.duration_share:.1%}",
                str(kernel.launches),
                f"{kernel.duration_s:.4g}",
                kernel.roofline,
                f"{kernel.arithmetic_intensity:.3g}" if kernel.arithmetic_intensity else "-",
                f"{kernel.sm_throughput_pct:.1f}",
                f"{kernel.dram_throughput_pct:.1f}",
                f"{kernel.memory_throughput_pct:.1f}",
                f"{kernel.achieved_occupancy_pct:.1f}",
                ", ".join(f"{name} {value:.2g}" for name, value in kernel.top_stalls()),
                f"{kernel.fp32_flop:.4g}",
                f"{kernel.fp64_flop:.4g}",
                f"{kernel.dram_bytes:.4g}",
            ]
            for kernel in self.counters.kernels
        ]


def find_hotspots(
    request: RunRequest, profile: EnergyProfile, settings: Settings, folder: Path
) -> Hotspots:
    """Profile the source's build (``request``) and read its Stage-0 timeline's shape.

    ncu runs while holding the device's measurement lock: its replays on a GPU another
    trial is measuring would spoil that measurement. ncu's CSV is written to ``folder``.
    Nothing here raises for the profiler: what went wrong is the record's note.
    """
    device = request.device
    if device is None or device.kind != "cuda":
        return Hotspots(note="no profiler counters: Nsight Compute profiles NVIDIA GPUs only")
    hotspots = Hotspots(power=_shape(profile))
    if not settings.ncu_profile:
        return hotspots.model_copy(update={"note": "no profiler counters: ncu_profile is off"})
    try:
        with device_lock(device.lock_name, settings.lock_dir, settings.lock_timeout_s):
            run = profile_kernels(request, settings)
    except LassiError as error:  # the device stayed busy: the trial goes on without counters
        return hotspots.model_copy(update={"note": f"no profiler counters: {error}"})
    raw_csv_path = None
    if run.raw_csv:
        (folder / RAW_CSV_NAME).write_text(run.raw_csv + "\n")
        raw_csv_path = str(folder / RAW_CSV_NAME)
    return hotspots.model_copy(
        update={
            "counters": run.profile,
            "note": run.note,
            "ncu_s": run.wall_s if run.command else None,
            "raw_csv_path": raw_csv_path,
        }
    )


def _shape(profile: EnergyProfile) -> PowerShape | None:
    """The power shape of the Stage-0 measurement, when its timeline has power samples."""
    if profile.timeline_path is None:
        return None
    try:
        return PowerShape.of(Timeline.load(Path(profile.timeline_path)))
    except (OSError, ValueError):
        return None
