"""The power timeline's shape (energy/shape.py): how much of a run the device waited.

Read from NVML traces recorded on the H100 (tests/data/nvml/) and from timelines whose
power we set, so that the expected shares are known.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from lassi_ee.energy.base import Marker, Timeline
from lassi_ee.energy.replay import Trace
from lassi_ee.energy.shape import MIN_GAP_S, PowerShape

RECORDED = sorted((Path(__file__).parents[1] / "data" / "nvml").glob("*.json"))


def _recorded_timeline(trace: Trace) -> Timeline:
    """The trace as a measurement's timeline: one run from process start to exit."""
    idle = statistics.fmean(p for t, p, _ in trace.samples if t < trace.busy_start_s - 0.5)
    return Timeline(
        backend="recorded",
        started_unix=0.0,
        sample_period_s=trace.sample_period_s,
        samples=[(t, p) for t, p, _ in trace.samples],
        markers=[
            Marker(t_s=trace.busy_start_s, event="runs_start"),
            Marker(t_s=trace.busy_end_s, event="runs_end"),
        ],
        idle_power_w=idle,
    )


def _timeline(levels: list[tuple[float, float]], idle_w: float = 70.0) -> Timeline:
    """Samples every 10 ms through (seconds, watts) phases, all inside one warm-up run."""
    samples, t = [], 0.0
    for seconds, watts in levels:
        for _ in range(round(seconds / 0.01)):
            samples.append((t, watts))
            t += 0.01
    return Timeline(
        backend="set",
        started_unix=0.0,
        sample_period_s=0.01,
        samples=samples,
        markers=[Marker(t_s=0.0, event="warmup_start"), Marker(t_s=t, event="warmup_end")],
        idle_power_w=idle_w,
    )


@pytest.mark.skipif(not RECORDED, reason="no recorded NVML trace")
@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_a_busy_gpu_program_waits_only_while_it_starts(path):
    trace = Trace.load(path)
    shape = PowerShape.of(_recorded_timeline(trace))
    assert shape is not None
    assert shape.run_s == pytest.approx(trace.busy_end_s - trace.busy_start_s)
    # busy_gpu keeps every SM busy from its first kernel to its exit: the one stretch at
    # idle level is its start (process, CUDA context, and the sensor's climb)
    assert shape.gaps == 1 and MIN_GAP_S <= shape.longest_gap_s < 1.0
    assert shape.idle_level_share == pytest.approx(shape.longest_gap_s / shape.run_s, abs=0.05)
    assert shape.busy_power_w > 2 * shape.idle_power_w
    assert shape.idle_level_share + shape.low_power_share < 0.8


def test_a_program_that_waits_half_the_time_shows_it():
    shape = PowerShape.of(_timeline([(1.0, 300.0), (1.0, 72.0)] * 3))
    assert shape is not None
    assert shape.idle_level_share == pytest.approx(0.5, abs=0.01)
    assert shape.low_power_share == 0.0
    assert shape.gaps == 3 and shape.longest_gap_s == pytest.approx(1.0, abs=0.02)
    assert shape.gaps_s == pytest.approx(3.0, abs=0.05)
    assert shape.busy_power_w == 300.0
    assert "50 % of the time at idle level" in shape.line()


def test_copies_at_low_power_are_not_idle_and_short_dips_are_not_gaps():
    phases = [(0.5, 120.0), (2.0, 400.0), (0.1, 70.0), (2.0, 400.0)]
    shape = PowerShape.of(_timeline(phases))
    assert shape is not None
    assert shape.low_power_share == pytest.approx(0.5 / 4.6, abs=0.01)
    assert shape.idle_level_share == pytest.approx(0.1 / 4.6, abs=0.01)
    assert shape.gaps == 0  # 0.1 s at idle is one NVML update: not a gap
    assert "no stretch of 0.3 s or more" in shape.line()


def test_samples_outside_the_runs_do_not_count():
    timeline = _timeline([(1.0, 300.0)])
    end = timeline.marker_times("warmup_end")[0]
    timeline.samples += [(end + n * 0.01, 70.0) for n in range(1, 500)]  # the idle after it
    shape = PowerShape.of(timeline)
    assert shape is not None and shape.idle_level_share == 0.0
    assert shape.run_s == pytest.approx(1.0)


def test_no_shape_without_power_samples_or_an_idle_level():
    assert PowerShape.of(_timeline([(1.0, 300.0)]).model_copy(update={"samples": []})) is None
    assert PowerShape.of(_timeline([(1.0, 300.0)], idle_w=None)) is None  # type: ignore[arg-type]
