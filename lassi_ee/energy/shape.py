"""The shape of a program's power timeline: how much of its run the device spent waiting.

An energy figure says how much; the shape says where it went. A GPU program that
leaves the board at idle power for part of its run (start-up, host-side work,
synchronous copies through pageable memory) wastes that time's idle energy and
points the LLM at the host code, not at the kernels. The shape is read from the
samples taken while the program ran (its warm-up run and the measured windows'
runs), against two levels:

- the session's settled idle power, and the run's busy level: the 95th percentile of
  its samples, so that a few spikes do not set it;
- idle level: within ``IDLE_FRACTION`` of the way from idle to busy (and at least
  ``IDLE_MARGIN_MIN_W`` above idle, for the sensor's noise): the device waits;
- low power: above that, below ``LOW_FRACTION`` of the way: copies, light kernels, or
  the sensor catching up with a change;
- gaps: stretches of at least ``MIN_GAP_S`` at idle level inside a run.

The sensor limits what can be seen: NVML's readings on the H100 change every 100 ms
and take up to about a second to climb to a busy kernel's level (the traces in
tests/data/nvml/), so phases shorter than that blur, and the first part of every run
reads idle while the program starts (which is real: process and CUDA start-up).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from lassi_ee.energy.base import Timeline

IDLE_FRACTION = 0.1
IDLE_MARGIN_MIN_W = 5.0  # sensor noise and the settle tolerance are a few watts
LOW_FRACTION = 0.5
MIN_GAP_S = 0.3  # three NVML updates: a shorter stretch may be one slow reading
_RUN_EVENTS = (("warmup_start", "warmup_end"), ("runs_start", "runs_end"))


class PowerShape(BaseModel):
    """How a program's power moved while it ran: shares of the run at each level, and gaps."""

    run_s: float = Field(description="time the program ran: its warm-up and measured runs")
    idle_power_w: float = Field(description="the session's settled idle level")
    busy_power_w: float = Field(description="95th percentile of the samples while it ran")
    idle_level_share: float = Field(description="of the run at idle-level power")
    low_power_share: float = Field(description="of the run above idle level, below half busy")
    gaps: int = Field(description=f"stretches of at least {MIN_GAP_S} s at idle level")
    longest_gap_s: float = 0.0
    gaps_s: float = Field(0.0, description="the gaps' time in all")

    @classmethod
    def of(cls, timeline: Timeline) -> PowerShape | None:
        """The shape of ``timeline``'s runs; None without an idle level or samples in a run."""
        if timeline.idle_power_w is None or not timeline.samples:
            return None
        samples = np.array(timeline.samples, dtype=float)
        times, power = samples[:, 0], samples[:, 1]
        spans = _run_spans(timeline)
        inside = np.zeros(len(times), dtype=bool)
        for start, end in spans:
            inside |= (times >= start) & (times <= end)
        if inside.sum() < 2:
            return None
        idle = timeline.idle_power_w
        busy = float(np.percentile(power[inside], 95))
        span = max(busy - idle, 0.0)
        idle_level = power <= idle + max(IDLE_FRACTION * span, IDLE_MARGIN_MIN_W)
        low = ~idle_level & (power < idle + LOW_FRACTION * span)
        gaps = [
            gap
            for start, end in spans
            for gap in _stretches(times, idle_level, start, end)
            if gap >= MIN_GAP_S
        ]
        return cls(
            run_s=sum(end - start for start, end in spans),
            idle_power_w=idle,
            busy_power_w=busy,
            idle_level_share=float(idle_level[inside].mean()),
            low_power_share=float(low[inside].mean()),
            gaps=len(gaps),
            longest_gap_s=max(gaps, default=0.0),
            gaps_s=sum(gaps),
        )

    def line(self) -> str:
        """One line for a prompt and the report."""
        gaps = (
            f"{self.gaps} stretch(es) of {MIN_GAP_S:g} s or more at idle level while it ran "
            f"(longest {self.longest_gap_s:.2g} s, {self.gaps_s:.2g} s in all)"
            if self.gaps
            else f"no stretch of {MIN_GAP_S:g} s or more at idle level while it ran"
        )
        return (
            f"Power while the source ran ({self.run_s:.3g} s of runs; idle {self.idle_power_w:.0f}"
            f" W, busy level {self.busy_power_w:.0f} W): {self.idle_level_share * 100:.0f} % of "
            f"the time at idle level (the GPU waiting: start-up, host code, synchronisation), "
            f"{self.low_power_share * 100:.0f} % between idle level and half the busy level "
            f"(copies, light kernels, or the sensor catching up); {gaps}. The sensor's readings "
            "change every 100 ms and trail the program by up to a second: short phases blur."
        )


def _run_spans(timeline: Timeline) -> list[tuple[float, float]]:
    """(start, end) of every stretch the program ran: its warm-up, each window's runs."""
    spans = []
    for start_event, end_event in _RUN_EVENTS:
        starts = timeline.marker_times(start_event)
        ends = timeline.marker_times(end_event)
        spans += list(zip(starts, ends, strict=False))
    return sorted(spans)


def _stretches(times: np.ndarray, flagged: np.ndarray, start: float, end: float) -> list[float]:
    """Lengths of the runs of consecutive flagged samples within [start, end], in seconds."""
    within = (times >= start) & (times <= end)
    t, on = times[within], flagged[within]
    lengths = []
    begin: float | None = None
    for time_s, flag in zip(t, on, strict=True):
        if flag and begin is None:
            begin = time_s
        elif not flag and begin is not None:
            lengths.append(float(time_s - begin))
            begin = None
    if begin is not None:
        lengths.append(float(t[-1] - begin))
    return lengths
