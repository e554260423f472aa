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

Steps 1-3 are a ``MeasurementSession``: ``measure`` uses one for a program's
repeats, and ``paired.py`` uses one to interleave two programs' windows, which
is what a claim rests on (a figure from this procedure alone is a screen: two
of them taken minutes apart differ by more than their repeats' spread).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from lassi_ee.energy.base import (
    EnergyMeasurement,
    EnergyProfile,
    Method,
    PowerBackend,
    Stats,
)
from lassi_ee.energy.clock import Clock, RealClock
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.recorder import Recorder
from lassi_ee.errors import LassiError, UsageError


class MeasurementConfig(BaseModel):
    """The knobs of the procedure: the windows, the idle level and the device lock.

    They bear the names of the settings they come from (lassi_ee/settings.py says what each
    means and its default); ``tools/profile.py`` takes them from a trial's settings.
    """

    model_config = ConfigDict(frozen=True)

    repeats: int
    min_window_s: float
    sample_period_s: float
    settle_window_s: float
    settle_tolerance_w: float
    settle_timeout_s: float
    lock_dir: Path
    lock_timeout_s: float


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


def method_of(backend: PowerBackend) -> Method:
    """How a backend's figures are taken: its energy counter, integrated power, or time."""
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


class IdleLevel(NamedTuple):
    """The board's settled idle power, subtracted from every window of a session."""

    power_w: float
    settled: bool
    waited_s: float


class Window(NamedTuple):
    """One window of back-to-back runs, as the counter (or the clock) saw it."""

    runtimes_s: list[float]
    window_s: float
    gross_energy_j: float | None
    """The whole window's energy, idle included; None when only time is measured."""


def _wait_counter_update(backend: PowerBackend, clock: Clock, rec: Recorder) -> tuple[float, float]:
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


def _settle(
    clock: Clock,
    config: MeasurementConfig,
    tick: Callable[[], float],
    power_between: Callable[[float, float], float],
) -> IdleLevel:
    """Wait until two consecutive windows' power agree; give up at the timeout.

    ``tick`` waits for the next reading and returns its time; ``power_between``
    is the mean power over an interval.
    """
    window = config.settle_window_s
    start = tick()
    lowest = math.inf
    while True:
        now = tick()
        waited = now - start
        if waited >= 2 * window - 1e-9:
            recent = power_between(now - window, now)
            earlier = power_between(now - 2 * window, now - window)
            lowest = min(lowest, recent)
            if abs(recent - earlier) <= config.settle_tolerance_w:
                return IdleLevel((recent + earlier) / 2, True, clock.now() - start)
        if waited >= config.settle_timeout_s:
            level = lowest if math.isfinite(lowest) else power_between(start, now)
            return IdleLevel(level, False, clock.now() - start)


def _settle_idle(
    backend: PowerBackend, clock: Clock, rec: Recorder, config: MeasurementConfig
) -> IdleLevel:
    if backend.has_energy_counter:
        return _settle(
            clock,
            config,
            tick=lambda: _wait_counter_update(backend, clock, rec)[0],
            power_between=rec.counter_power_w,
        )
    step_s = max(backend.update_period_s, config.sample_period_s)

    def tick() -> float:
        clock.sleep(step_s)
        return clock.now()

    def power_between(a: float, b: float) -> float:
        return rec.sampled_energy_j(a, b) / (b - a)

    return _settle(clock, config, tick, power_between)


class MeasurementSession:
    """One stretch of time on one device: its lock held, the sampler running, idle settled once.

    Used as a context manager; inside it, ``warm_up`` and ``window`` run programs
    and every window is measured against the same idle level. Leaving it stops
    the sampler, saves the timeline (also when a run raised) and frees the device.
    """

    def __init__(
        self,
        backend: PowerBackend,
        config: MeasurementConfig,
        timeline_path: Path | None,
        clock: Clock | None = None,
    ) -> None:
        """A session on ``backend``'s device; nothing happens until it is entered."""
        if config.min_window_s <= 0 or config.sample_period_s <= 0:
            raise UsageError("min_window_s and sample_period_s must be positive")
        self.backend = backend
        self.config = config
        self.clock = clock or RealClock()
        self.method = method_of(backend)
        self.idle: IdleLevel | None = None
        self.wall_s = 0.0
        self.timeline_path = timeline_path
        self._stack = ExitStack()
        self._started = 0.0
        self.rec: Recorder

    def __enter__(self) -> MeasurementSession:
        """Take the device's lock, start the sampler and settle the idle level."""
        config, clock = self.config, self.clock
        self._stack.enter_context(
            device_lock(self.backend.lock_name, config.lock_dir, config.lock_timeout_s)
        )
        try:
            self._started = clock.now()
            self.rec = Recorder(self.backend, clock, config.sample_period_s)
            self._stack.callback(lambda: self.rec.save(self.timeline_path))
            if self.backend.has_power_sensor:  # stopped before the timeline is saved
                self._stack.callback(clock.every(config.sample_period_s, self.rec.sample))
            if self.method != "time-only":
                self.idle = _settle_idle(self.backend, clock, self.rec, config)
                event = "idle_settled" if self.idle.settled else "idle_gave_up"
                self.rec.mark(clock.now(), event, self.idle.power_w)
                self.rec.timeline.idle_power_w = self.idle.power_w
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the sampler, save the timeline and free the device."""
        self.wall_s = self.clock.now() - self._started
        self._stack.close()

    def warm_up(self, run_batch: RunBatch, label: str = "") -> float:
        """One run that gives the runtime and leaves the board in its "just ran" state."""
        self.rec.mark(self.clock.now(), "warmup_start", label=label)
        runtime_s = run_batch(1)[0]
        self.rec.mark(self.clock.now(), "warmup_end", label=label)
        return runtime_s

    def window(self, run_batch: RunBatch, runs: int, label: str = "") -> Window:
        """Run ``runs`` back to back between two counter updates (or two clock reads)."""
        backend, clock, rec = self.backend, self.clock, self.rec
        energy_start = None
        if self.method == "counter":
            start, energy_start = _wait_counter_update(backend, clock, rec)
        else:
            start = clock.now()
        rec.mark(start, "window_start", label=label)
        rec.mark(clock.now(), "runs_start", label=label)
        runtimes = run_batch(runs)
        rec.mark(clock.now(), "runs_end", label=label)
        gross: float | None
        if self.method == "counter":
            end, energy_end = _wait_counter_update(backend, clock, rec)
            assert energy_start is not None
            gross = energy_end - energy_start
        elif self.method == "power-integration":
            clock.sleep(backend.update_period_s)  # the last run's power shows one update later
            end = clock.now()
            gross = rec.sampled_energy_j(start, end)
        else:
            end = clock.now()
            gross = None
        rec.mark(end, "window_end", label=label)
        return Window(runtimes, end - start, gross)

    def per_run(self, window: Window, note: str = "") -> EnergyMeasurement:
        """A window's figures per run: gross, net of the session's idle level, power, runtime."""
        runs = len(window.runtimes_s)
        measurement = EnergyMeasurement(
            method=self.method,
            runs_in_window=runs,
            runtime_s=statistics.fmean(window.runtimes_s),
            window_s=window.window_s,
            timeline_path=self.timeline_path,
            note=note,
        )
        if window.gross_energy_j is not None and self.idle is not None:
            gross = window.gross_energy_j
            measurement.gross_energy_j = gross / runs
            measurement.net_energy_j = (gross - self.idle.power_w * window.window_s) / runs
            measurement.avg_power_w = gross / window.window_s
            measurement.idle_power_w = self.idle.power_w
        return measurement

    def notes(self) -> list[str]:
        """Plain words on what limits every figure of this session."""
        notes = []
        if self.method == "time-only":
            notes.append(self.backend.describe())
        elif self.idle is not None and not self.idle.settled:
            notes.append(
                f"idle power did not settle within {self.idle.waited_s:.0f} s; the lowest window "
                f"({self.idle.power_w:.1f} W) was used, so net figures may be low"
            )
        if self.rec.sampler_errors:
            notes.append(
                f"{self.rec.sampler_errors} power samples failed ({self.rec.first_sampler_error}); "
                "the timeline has gaps"
            )
        return notes


def too_short_note(
    runs: int, runtime_s: float, shortest_window_s: float, min_window_s: float
) -> str:
    """Why a program cannot be measured well, or "" when it can."""
    if runs < MAX_RUNS_PER_WINDOW or shortest_window_s >= min_window_s:
        return ""
    return (
        f"too short to measure well: one run takes {1000 * runtime_s:.2f} ms, so even {runs} "
        f"back-to-back runs make a window of only {shortest_window_s:.2f} s (min_window_s "
        f"{min_window_s:g} s); start-up costs and the sensor's resolution dominate"
    )


def measure(
    backend: PowerBackend,
    run_batch: RunBatch,
    config: MeasurementConfig,
    timeline_path: Path | None,
    *,
    clock: Clock | None = None,
) -> EnergyProfile:
    """Measure a program's energy per run on the backend's device, under its lock.

    ``run_batch(n)`` runs the program n times back to back and returns their wall
    times; exceptions pass through (the timeline is still saved).
    """
    if config.repeats < 1:
        raise UsageError(f"repeats must be at least 1 (got {config.repeats})")
    with MeasurementSession(backend, config, timeline_path, clock) as session:
        warmup_s = session.warm_up(run_batch)
        runs = runs_per_window(config.min_window_s, warmup_s)
        windows = [session.window(run_batch, runs) for _ in range(config.repeats)]
    return _profile(session, warmup_s, runs, windows)


def _profile(
    session: MeasurementSession, warmup_s: float, runs: int, windows: list[Window]
) -> EnergyProfile:
    notes = session.notes()
    time_only_note = notes[0] if session.method == "time-only" else ""
    measurements = [session.per_run(window, time_only_note) for window in windows]
    too_short = too_short_note(
        runs,
        statistics.fmean(m.runtime_s for m in measurements),
        min(window.window_s for window in windows),
        session.config.min_window_s,
    )
    if too_short:
        notes.append(too_short)
    nets = [m.net_energy_j for m in measurements if m.net_energy_j is not None]
    not_positive = sum(1 for net in nets if net <= 0)
    if not_positive:
        notes.append(
            f"net energy at or below zero in {not_positive} of {len(nets)} repeats: the program "
            "draws about idle power on this device"
        )
    powers = [m.avg_power_w for m in measurements if m.avg_power_w is not None]
    program_s = warmup_s + sum(sum(window.runtimes_s) for window in windows)
    idle = session.idle
    return EnergyProfile(
        objective="energy" if nets else "runtime",
        method=session.method,
        backend=session.backend.describe(),
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
        wall_s=session.wall_s,
        program_s=program_s,
        overhead_s=session.wall_s - program_s,
        timeline_path=session.timeline_path,
    )
