"""How one program's energy is measured on one device, for any backend.

Why this procedure (see /work/shared/reference/h100-power-facts.md for the facts):
NVML's counter and power reading change only every 100 ms, and after a run the
board stays at 100-160 W for 3-5 s before it falls back to ~71 W. Integrating
10 ms samples minus an idle level taken right around the run (the paper's
recipe) therefore subtracts the run's own tail and gives 0 J for sub-second
programs. Instead:

1. Settled idle, once, at the start. Read the counter at every update and
   compare the power of the last two ``settle_window_s`` windows; the board is
   settled when they agree within ``settle_tolerance_w``. In the pipeline the
   board is usually already idle (compiling and LLM calls come between
   measurements), so this costs the minimum of two windows (~2 s); right after
   another measurement it also waits out that tail (~3-5 s more).
2. One warm-up run: it gives the runtime and leaves the board in the same
   "just ran" state that every later window starts from (first-run effects
   such as context creation and cold file caches fall outside the figures).
3. Windows of back-to-back runs, ``ceil(min_window_s / runtime)`` runs each,
   so that a 0.4 s program is seen over >= 2 s, twenty counter periods, not
   four. Each window starts right after a counter update and ends at the first
   update after the last run exits, so the counter delta covers exactly the
   window: gross = delta, net = gross - idle x window, per run = / runs.
4. No settling between repeats. Every window then starts in the same state
   (right after a run), which is what keeps the spread low, and the only cost
   per repeat is the wait for two counter updates (<= 0.2 s). The tail after
   the last window is left to whatever comes next; it is a board after-effect
   that source and candidate both leave.

A 10 ms sampler thread records power for the whole procedure (the timeline,
saved as JSON with window/run markers and the idle level); without an energy
counter the same samples are integrated instead (``power-integration``), and
without any sensor only time is measured and the objective becomes runtime.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from lassi_ee.energy.base import (
    EnergyMeasurement,
    EnergyProfile,
    Marker,
    Method,
    Objective,
    PaperRecipeResult,
    PowerBackend,
    Stats,
    Timeline,
)
from lassi_ee.energy.clock import Clock, RealClock
from lassi_ee.energy.lock import device_lock
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.settings import Settings

RunOnce = Callable[[], float]
"""Runs the program once and returns its wall time in seconds; raises on failure."""
RunBatch = Callable[[int], list[float]]
"""Runs the program n times back to back and returns each run's wall time; raises on
failure. Back-to-back runs in one sandbox keep the gaps between runs (which the
energy counter sees at tail power) down to a fork and an exec."""


def one_at_a_time(run_once: RunOnce) -> RunBatch:
    """A batch runner that calls ``run_once`` n times (simulated boards, plain commands)."""
    return lambda n: [float(run_once()) for _ in range(n)]


COUNTER_POLL_S = 0.001
MAX_RUNS_PER_WINDOW = 1000
PAPER_BEFORE_S = 1.0
PAPER_AFTER_S = 1.5

Sample = tuple[float, float]


def method_of(backend: PowerBackend) -> Method:
    if backend.has_energy_counter:
        return "counter"
    if backend.has_power_sensor:
        return "power-integration"
    return "time-only"


def runs_per_window(min_window_s: float, runtime_s: float) -> int:
    """Back-to-back runs needed for a window of at least ``min_window_s``."""
    if runtime_s >= min_window_s:
        return 1
    return min(MAX_RUNS_PER_WINDOW, math.ceil(min_window_s / max(runtime_s, 1e-6)))


def integrate_power_j(samples: list[Sample], start_s: float, end_s: float) -> float:
    """Trapezoid integral of (t_s, power_w) samples over [start_s, end_s].

    The ends are linearly interpolated; outside the sampled range the nearest
    sample's value holds.
    """
    if not samples:
        raise ValueError("no power samples to integrate")
    if end_s <= start_s:
        return 0.0
    times = [t for t, _ in samples]
    inside = samples[bisect_right(times, start_s) : bisect_left(times, end_s)]
    points = [(start_s, _power_at(samples, times, start_s)), *inside]
    points.append((end_s, _power_at(samples, times, end_s)))
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in pairwise(points))


def _power_at(samples: list[Sample], times: list[float], t: float) -> float:
    i = bisect_right(times, t)
    if i == 0:
        return samples[0][1]
    if i == len(samples):
        return samples[-1][1]
    (t0, p0), (t1, p1) = samples[i - 1], samples[i]
    return p0 + (p1 - p0) * (t - t0) / (t1 - t0) if t1 > t0 else p1


class _Recorder:
    """The timeline of one procedure: power samples (from the sampler), counter updates, markers.

    Times are stored relative to the procedure's start; the sampler writes from
    its own thread, hence the lock.
    """

    def __init__(self, backend: PowerBackend, clock: Clock, sample_period_s: float) -> None:
        self._backend = backend
        self._t0 = clock.now()
        self._lock = threading.Lock()
        self._counter_t: list[float] = []
        self._counter_j: list[float] = []
        self.sampler_errors = 0
        self.first_sampler_error = ""
        self.timeline = Timeline(
            backend=backend.describe(), started_unix=time.time(), sample_period_s=sample_period_s
        )

    def rel(self, t: float) -> float:
        return t - self._t0

    def sample(self, t: float) -> None:
        """The sampler's callback: one power reading; a failed read is counted, not fatal."""
        try:
            power_w = self._backend.read_power_w()
        except Exception as err:
            self.sampler_errors += 1
            self.first_sampler_error = self.first_sampler_error or str(err)
            return
        with self._lock:
            self.timeline.samples.append((self.rel(t), power_w))

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self.timeline.samples)

    def mark(self, t: float, event: str, value: float | None = None) -> None:
        with self._lock:
            self.timeline.markers.append(Marker(t_s=self.rel(t), event=event, value=value))

    def counter_update(self, t: float, energy_j: float) -> None:
        self._counter_t.append(t)
        self._counter_j.append(energy_j)
        self.timeline.counter.append((self.rel(t), energy_j - self._counter_j[0]))

    def counter_power_w(self, start: float, end: float) -> float:
        """Mean power between the counter updates nearest to ``start`` and ``end``."""
        a, b = self._nearest_update(start), self._nearest_update(end)
        dt = self._counter_t[b] - self._counter_t[a]
        return (self._counter_j[b] - self._counter_j[a]) / dt if dt > 0 else math.nan

    def _nearest_update(self, t: float) -> int:
        i = bisect_left(self._counter_t, t)
        if i == 0:
            return 0
        if i == len(self._counter_t):
            return i - 1
        return i if self._counter_t[i] - t < t - self._counter_t[i - 1] else i - 1

    def sampled_energy_j(self, start: float, end: float) -> float:
        samples = self.samples()
        if not samples:
            raise LassiError(
                f"no power sample could be read ({self.first_sampler_error or 'none taken yet'}): "
                f"{self._backend.describe()}"
            )
        return integrate_power_j(samples, self.rel(start), self.rel(end))

    def save(self, path: Path | None) -> None:
        if path is not None:
            with self._lock:
                self.timeline.save(path)


def _wait_counter_update(
    backend: PowerBackend, clock: Clock, rec: _Recorder
) -> tuple[float, float]:
    """Poll the counter until its value changes; return (time, energy) of that change."""
    timeout_s = max(2.0, 20 * backend.update_period_s)
    first = backend.read_energy_j()
    start = clock.now()
    while True:
        clock.sleep(COUNTER_POLL_S)
        energy_j = backend.read_energy_j()
        now = clock.now()
        if energy_j != first:
            rec.counter_update(now, energy_j)
            return now, energy_j
        if now - start > timeout_s:
            raise LassiError(
                f"the energy counter did not change for {timeout_s:.0f} s ({backend.describe()}): "
                "the sensor looks stuck; check the driver, or measure with --device cpu"
            )


class _IdleLevel(NamedTuple):
    power_w: float
    settled: bool
    waited_s: float


def _settle(
    clock: Clock,
    settings: Settings,
    tick: Callable[[], float],
    power_between: Callable[[float, float], float],
) -> _IdleLevel:
    """Wait until two consecutive windows' power agree; give up at the timeout.

    ``tick`` waits for the next reading and returns its time; ``power_between``
    is the mean power over an interval.
    """
    window = settings.settle_window_s
    start = tick()
    lowest = math.inf
    while True:
        now = tick()
        waited = now - start
        if waited >= 2 * window - 1e-9:
            recent = power_between(now - window, now)
            earlier = power_between(now - 2 * window, now - window)
            lowest = min(lowest, recent)
            if abs(recent - earlier) <= settings.settle_tolerance_w:
                return _IdleLevel((recent + earlier) / 2, True, clock.now() - start)
        if waited >= settings.settle_timeout_s:
            level = lowest if math.isfinite(lowest) else power_between(start, now)
            return _IdleLevel(level, False, clock.now() - start)


def _settle_idle(
    backend: PowerBackend, clock: Clock, rec: _Recorder, settings: Settings
) -> _IdleLevel:
    if backend.has_energy_counter:
        return _settle(
            clock,
            settings,
            tick=lambda: _wait_counter_update(backend, clock, rec)[0],
            power_between=rec.counter_power_w,
        )
    step_s = max(backend.update_period_s, settings.sample_period_s)

    def tick() -> float:
        clock.sleep(step_s)
        return clock.now()

    def power_between(a: float, b: float) -> float:
        return rec.sampled_energy_j(a, b) / (b - a)

    return _settle(clock, settings, tick, power_between)


def _run_window(
    backend: PowerBackend,
    run_batch: RunBatch,
    runs: int,
    clock: Clock,
    rec: _Recorder,
    method: Method,
) -> tuple[list[float], float, float | None]:
    """Run ``runs`` back to back; return (runtimes, window_s, gross window energy or None)."""
    energy_start = None
    if method == "counter":
        start, energy_start = _wait_counter_update(backend, clock, rec)
    else:
        start = clock.now()
    rec.mark(start, "window_start")
    rec.mark(clock.now(), "runs_start")
    runtimes = run_batch(runs)
    rec.mark(clock.now(), "runs_end")
    if method == "counter":
        end, energy_end = _wait_counter_update(backend, clock, rec)
        assert energy_start is not None
        gross: float | None = energy_end - energy_start
    elif method == "power-integration":
        clock.sleep(backend.update_period_s)  # the last run's power shows one update later
        end = clock.now()
        gross = rec.sampled_energy_j(start, end)
    else:
        end = clock.now()
        gross = None
    rec.mark(end, "window_end")
    return runtimes, end - start, gross


def measure(
    backend: PowerBackend,
    run_batch: RunBatch,
    settings: Settings,
    timeline_path: Path | None,
    *,
    clock: Clock | None = None,
) -> EnergyProfile:
    """Measure a program's energy per run on the backend's device, under its lock.

    ``run_batch(n)`` runs the program n times back to back and returns their wall
    times; exceptions pass through (the timeline is still saved).
    """
    if settings.repeats < 1:
        raise UsageError(f"repeats must be at least 1 (got {settings.repeats})")
    if settings.min_window_s <= 0 or settings.sample_period_s <= 0:
        raise UsageError("min_window_s and sample_period_s must be positive")
    clock = clock or RealClock()
    method = method_of(backend)
    with device_lock(backend.lock_name, settings.lock_dir, settings.lock_timeout_s):
        started = clock.now()
        rec = _Recorder(backend, clock, settings.sample_period_s)
        stop_sampler = (
            clock.every(settings.sample_period_s, rec.sample) if backend.has_power_sensor else None
        )
        try:
            idle = None
            if method != "time-only":
                idle = _settle_idle(backend, clock, rec, settings)
                rec.mark(
                    clock.now(), "idle_settled" if idle.settled else "idle_gave_up", idle.power_w
                )
                rec.timeline.idle_power_w = idle.power_w
            rec.mark(clock.now(), "warmup_start")
            warmup_s = run_batch(1)[0]
            rec.mark(clock.now(), "warmup_end")
            runs = runs_per_window(settings.min_window_s, warmup_s)
            windows = [
                _run_window(backend, run_batch, runs, clock, rec, method)
                for _ in range(settings.repeats)
            ]
        finally:
            if stop_sampler is not None:
                stop_sampler()
            rec.save(timeline_path)
        wall_s = clock.now() - started
    return _profile(
        backend, method, idle, warmup_s, runs, windows, wall_s, rec, timeline_path,
        settings.min_window_s,
    )  # fmt: skip


def _profile(
    backend: PowerBackend,
    method: Method,
    idle: _IdleLevel | None,
    warmup_s: float,
    runs: int,
    windows: list[tuple[list[float], float, float | None]],
    wall_s: float,
    rec: _Recorder,
    timeline_path: Path | None,
    min_window_s: float,
) -> EnergyProfile:
    notes = []
    if method == "time-only":
        notes.append(backend.describe())
    elif idle is not None and not idle.settled:
        notes.append(
            f"idle power did not settle within {idle.waited_s:.0f} s; the lowest window "
            f"({idle.power_w:.1f} W) was used, so net figures may be low"
        )
    measurements = []
    for runtimes, window_s, gross in windows:
        measurement = EnergyMeasurement(
            method=method,
            runs_in_window=len(runtimes),
            runtime_s=statistics.fmean(runtimes),
            window_s=window_s,
            timeline_path=timeline_path,
            note=notes[0] if method == "time-only" else "",
        )
        if gross is not None and idle is not None:
            measurement.gross_energy_j = gross / len(runtimes)
            measurement.net_energy_j = (gross - idle.power_w * window_s) / len(runtimes)
            measurement.avg_power_w = gross / window_s
            measurement.idle_power_w = idle.power_w
        measurements.append(measurement)
    shortest_s = min(window_s for _, window_s, _ in windows)
    if runs >= MAX_RUNS_PER_WINDOW and shortest_s < min_window_s:
        run_ms = 1000 * statistics.fmean(m.runtime_s for m in measurements)
        notes.append(
            f"too short to measure well: one run takes {run_ms:.2f} ms, so even {runs} "
            f"back-to-back runs make a window of only {shortest_s:.2f} s (min_window_s "
            f"{min_window_s:g} s); start-up costs and the sensor's resolution dominate"
        )
    nets = [m.net_energy_j for m in measurements if m.net_energy_j is not None]
    not_positive = sum(1 for net in nets if net <= 0)
    if not_positive:
        notes.append(
            f"net energy at or below zero in {not_positive} of {len(nets)} repeats: the program "
            "draws about idle power on this device"
        )
    if rec.sampler_errors:
        notes.append(
            f"{rec.sampler_errors} power samples failed ({rec.first_sampler_error}); "
            "the timeline has gaps"
        )
    powers = [m.avg_power_w for m in measurements if m.avg_power_w is not None]
    program_s = warmup_s + sum(sum(runtimes) for runtimes, _, _ in windows)
    return EnergyProfile(
        objective="energy" if nets else "runtime",
        method=method,
        backend=backend.describe(),
        note="; ".join(notes),
        measurements=measurements,
        runs_per_window=runs,
        warmup_runtime_s=warmup_s,
        idle_power_w=idle.power_w if idle else None,
        idle_settled=idle.settled if idle else None,
        settle_s=idle.waited_s if idle else 0.0,
        net_energy_j=Stats.of(nets) if nets else None,
        runtime_s=Stats.of([m.runtime_s for m in measurements]),
        avg_power_w=Stats.of(powers) if powers else None,
        wall_s=wall_s,
        program_s=program_s,
        overhead_s=wall_s - program_s,
        timeline_path=timeline_path,
    )


def is_lower_energy(
    source: EnergyProfile, candidate: EnergyProfile, min_gain: float, noise_sigmas: float
) -> bool:
    """True when the candidate needs less than the source by more than the noise.

    gain = source mean - candidate mean must exceed both ``min_gain`` x source
    mean and ``noise_sigmas`` x sqrt(source stdev^2 + candidate stdev^2). The
    quantity is net energy per run, or runtime when either profile has no
    energy sensor behind it.
    """
    objective: Objective = (
        "energy" if source.objective == candidate.objective == "energy" else "runtime"
    )
    before, after = source.stats_for(objective), candidate.stats_for(objective)
    gain = before.mean - after.mean
    noise = math.hypot(before.stdev, after.stdev)
    return gain > max(min_gain * abs(before.mean), noise_sigmas * noise)


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
    settings: Settings,
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
    with device_lock(backend.lock_name, settings.lock_dir, settings.lock_timeout_s):
        rec = _Recorder(backend, clock, settings.sample_period_s)
        stop_sampler = clock.every(settings.sample_period_s, rec.sample)
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
