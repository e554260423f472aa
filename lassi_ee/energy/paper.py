"""The paper's measurement recipe, kept only to compare our figures with it.

The paper integrates 10 ms power samples over each run and subtracts an idle
level averaged over 1 s before and 1.5 s after the run, clamping negatives at 0.
On NVML boards the "idle" seconds catch the 100-160 W tail of the previous run,
so sub-second programs come out at 0 J (see measure.py for why we measure
otherwise). ``benchmarks/measurement_fidelity.py`` runs both on one GPU.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from lassi_ee.energy.base import PaperRecipeResult, PowerBackend
from lassi_ee.energy.clock import Clock, RealClock
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.measure import MeasurementConfig, RunOnce
from lassi_ee.energy.recorder import Recorder, Sample, integrate_power_j
from lassi_ee.errors import LassiError

PAPER_BEFORE_S = 1.0
PAPER_AFTER_S = 1.5


def paper_recipe(
    samples: list[Sample],
    start_s: float,
    end_s: float,
    before_s: float = PAPER_BEFORE_S,
    after_s: float = PAPER_AFTER_S,
) -> PaperRecipeResult:
    """The paper's figure for one run, for comparison only.

    Integrate the samples over the run, subtract the mean of the samples taken
    ``before_s`` before and ``after_s`` after it times the runtime, clamp at 0.
    """
    gross = integrate_power_j(samples, start_s, end_s)
    around = [
        power_w
        for t, power_w in samples
        if start_s - before_s <= t < start_s or end_s < t <= end_s + after_s
    ]
    if not around:
        raise ValueError("no power samples before or after the run")
    idle_w = statistics.fmean(around)
    raw = gross - idle_w * (end_s - start_s)
    return PaperRecipeResult(
        runtime_s=end_s - start_s,
        gross_energy_j=gross,
        idle_power_w=idle_w,
        net_energy_j=max(raw, 0.0),
        clamped=raw < 0,
    )


def measure_paper_style(
    backend: PowerBackend,
    run_once: RunOnce,
    runs: int,
    config: MeasurementConfig,
    timeline_path: Path | None = None,
    *,
    clock: Clock | None = None,
) -> list[PaperRecipeResult]:
    """Run the program ``runs`` times the paper's way: 10 ms samples, 1 s before, 1.5 s after.

    Runs follow each other after the 1.5 s, so each run's "before" second lies
    in the previous run's tail, as it did for the paper's back-to-back programs.
    """
    if not backend.has_power_sensor:
        raise LassiError(f"the paper's recipe needs power samples: {backend.describe()}")
    clock = clock or RealClock()
    results = []
    with device_lock(backend.lock_name, config.lock_dir, config.lock_timeout_s):
        rec = Recorder(backend, clock, config.sample_period_s)
        stop_sampler = clock.every(config.sample_period_s, rec.sample)
        try:
            clock.sleep(PAPER_BEFORE_S)
            for _ in range(runs):
                start = clock.now()
                rec.mark(start, "run_start")
                run_once()
                end = clock.now()
                rec.mark(end, "run_end")
                clock.sleep(PAPER_AFTER_S)
                results.append(paper_recipe(rec.samples(), rec.rel(start), rec.rel(end)))
        finally:
            stop_sampler()
            rec.save(timeline_path)
    return results
