"""Recorded (or synthetic) NVML traces, and a fake GPU that replays them against a fake clock.

A trace is what ``benchmarks/record_nvml.py`` writes on a real GPU: 10 ms
samples of (time, power, energy counter) through an idle period, one busy
program and the tail after it. ``synthetic_trace`` makes one from the facts
we measured on the H100 (100 ms update steps, ~71 W idle, a 3-5 s tail at
100-160 W) until a recorded one is available.

``ReplayBoard`` is a PowerBackend for tests and dry runs: its power is the
trace's idle power, the trace's busy power while a (fake) program runs, then
the trace's tail; what it reports goes through the same 100 ms NVML update
model, and its time is a ``FakeClock``, so a whole measurement takes
milliseconds.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.energy.clock import FakeClock


class Trace(BaseModel):
    """A recorded power trace: (t_s, power_w) samples of a real board, replayed in tests."""

    device: str
    source: str = Field(description="'recorded ...' or 'synthetic ...'")
    sample_period_s: float
    update_period_s: float = Field(0.1, description="how often NVML's values change")
    busy_start_s: float
    busy_end_s: float
    samples: list[tuple[float, float, float]] = Field(description="(t_s, power_w, energy_j)")
    note: str = ""

    def save(self, path: Path) -> None:
        """Write the trace as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json())

    @classmethod
    def load(cls, path: Path) -> Trace:
        """A trace that ``save`` wrote."""
        return cls.model_validate_json(path.read_text())


class NvmlModel:
    """What NVML shows of a true power signal: both readings change only at update instants.

    At each update the counter has the energy up to that instant and the power
    reading is the mean power of the period just ended (plus optional noise,
    which the counter sees too). Advanced in 1 ms steps, as time goes forward.
    """

    def __init__(
        self,
        true_power: Callable[[float], float],
        start_s: float,
        update_period_s: float = 0.1,
        phase_s: float = 0.037,
        noise_w: float = 0.0,
        seed: int = 0,
        counter_offset_j: float = 500_000.0,
    ) -> None:
        """A sensor of ``true_power(t)`` from ``start_s``, updating every ``update_period_s``."""
        self._true_power = true_power
        self._period_s = update_period_s
        self._t = start_s
        periods = int((start_s - phase_s) // update_period_s) + 1
        self._next_update = phase_s + periods * update_period_s
        self._energy_j = 0.0  # true energy since start_s, noise included
        self._period_start_j = 0.0
        self._noise_w = noise_w
        self._rng = random.Random(seed)
        self._noise_now_w = self._draw_noise()
        self._offset_j = counter_offset_j
        self.counter_j = counter_offset_j
        self.power_w = true_power(start_s)

    def _draw_noise(self) -> float:
        return self._rng.gauss(0.0, self._noise_w) if self._noise_w else 0.0

    def advance_to(self, t: float, step_s: float = 0.001) -> None:
        """Move the sensor's time to ``t``, updating its counter and reading on the way."""
        while self._t < t:
            end = min(t, self._t + step_s, self._next_update)
            power = self._true_power((self._t + end) / 2) + self._noise_now_w
            self._energy_j += power * (end - self._t)
            self._t = end
            if end >= self._next_update:
                self.counter_j = self._offset_j + self._energy_j
                self.power_w = (self._energy_j - self._period_start_j) / self._period_s
                self._period_start_j = self._energy_j
                self._next_update += self._period_s
                self._noise_now_w = self._draw_noise()


def synthetic_trace(
    *,
    idle_w: float = 71.0,
    busy_w: float = 300.0,
    busy_s: float = 2.0,
    idle_before_s: float = 3.0,
    tail_start_w: float = 160.0,
    tail_end_w: float = 100.0,
    tail_s: float = 4.0,
    tail_decay_s: float = 0.3,
    after_s: float = 8.0,
    noise_w: float = 0.3,
    update_period_s: float = 0.1,
    sample_period_s: float = 0.01,
    seed: int = 0,
) -> Trace:
    """A trace shaped like the H100 facts: idle, a busy program, a sloping tail, idle again.

    The tail falls linearly from ``tail_start_w`` to ``tail_end_w`` over ``tail_s``,
    then decays to idle with time constant ``tail_decay_s``.
    """
    busy_start, busy_end = idle_before_s, idle_before_s + busy_s
    truth = board_power(
        idle_w, busy_w, busy_start, busy_end, tail_start_w, tail_end_w, tail_s, tail_decay_s
    )
    model = NvmlModel(truth, 0.0, update_period_s, noise_w=noise_w, seed=seed)
    samples = []
    for i in range(round((busy_end + after_s) / sample_period_s) + 1):
        t = i * sample_period_s
        model.advance_to(t)
        samples.append((t, model.power_w, model.counter_j))
    return Trace(
        device="synthetic H100-like board",
        source=f"synthetic: idle {idle_w} W, busy {busy_w} W for {busy_s} s, tail "
        f"{tail_start_w}->{tail_end_w} W over {tail_s} s",
        sample_period_s=sample_period_s,
        update_period_s=update_period_s,
        busy_start_s=busy_start,
        busy_end_s=busy_end,
        samples=samples,
    )


def board_power(
    idle_w: float,
    busy_w: float,
    busy_start_s: float,
    busy_end_s: float,
    tail_start_w: float,
    tail_end_w: float,
    tail_s: float,
    tail_decay_s: float,
) -> Callable[[float], float]:
    """The true power of a board that runs one program: the synthetic trace's physics."""

    def power(t: float) -> float:
        if t < busy_start_s:
            return idle_w
        if t < busy_end_s:
            return busy_w
        after = t - busy_end_s
        if after < tail_s:
            return tail_start_w + (tail_end_w - tail_start_w) * after / tail_s
        return idle_w + (tail_end_w - idle_w) * math.exp(-(after - tail_s) / tail_decay_s)

    return power


class _Piecewise:
    """Constant power pieces [(start_s, power_w), ...] over [start, end), looked up by offset."""

    def __init__(self, starts: list[float], powers: list[float], end_s: float) -> None:
        if not starts or end_s <= starts[0]:
            raise ValueError("a trace segment needs at least one counter update")
        self._starts = [s - starts[0] for s in starts]
        self._powers = powers
        self.duration_s = end_s - starts[0]

    def at(self, offset_s: float) -> float:
        return self._powers[max(bisect_right(self._starts, offset_s) - 1, 0)]

    def slice(self, start_s: float, end_s: float) -> _Piecewise:
        """The pieces between two offsets, as a segment of its own."""
        inside = [
            (s, p) for s, p in zip(self._starts, self._powers, strict=True) if start_s < s < end_s
        ]
        starts = [start_s, *(s for s, _ in inside)]
        powers = [self.at(start_s), *(p for _, p in inside)]
        return _Piecewise(starts, powers, end_s)

    def mean_w(self) -> float:
        bounds = [*self._starts, self.duration_s]
        energy = sum(p * (b - a) for p, (a, b) in zip(self._powers, pairwise(bounds), strict=True))
        return energy / self.duration_s


def trace_true_power(trace: Trace) -> tuple[_Piecewise, float]:
    """The power behind a trace, from its counter: each update's energy over its period."""
    updates: list[tuple[float, float]] = []
    previous = trace.samples[0][2]
    for t, _, energy in trace.samples[1:]:
        if energy != previous:
            updates.append((t, energy))
            previous = energy
    if len(updates) < 3:
        raise ValueError("the trace's energy counter barely changes; cannot replay it")
    starts = [t for t, _ in updates[:-1]]
    powers = [(e1 - e0) / (t1 - t0) for (t0, e0), (t1, e1) in pairwise(updates)]
    return _Piecewise(starts, powers, updates[-1][0]), updates[0][0]


class ReplayBoard:
    """A fake GPU that plays a trace's idle, busy and tail power as fake programs run.

    ``noise_w`` adds fresh noise to every 100 ms update on top of the trace's own.
    """

    name = "replay"
    has_power_sensor = True

    def __init__(
        self,
        trace: Trace,
        clock: FakeClock,
        *,
        with_counter: bool = True,
        lock_name: str = "replay-0",
        phase_s: float = 0.037,
        noise_w: float = 0.0,
        seed: int = 0,
    ) -> None:
        """A board that replays ``trace`` on ``clock``; programs add their power on top."""
        self.has_energy_counter = with_counter
        self.update_period_s = trace.update_period_s
        self.lock_name = lock_name
        self._trace = trace
        self._clock = clock
        power, origin = trace_true_power(trace)
        busy_start, busy_end = trace.busy_start_s - origin, trace.busy_end_s - origin
        # the idle part stops one update early: that update already sees the program start
        self.idle = power.slice(0.0, busy_start - trace.update_period_s)
        self.busy = power.slice(busy_start, busy_end)
        self.tail = power.slice(busy_end, power.duration_s)
        self._start = clock.now()
        self._runs: list[tuple[float, float]] = []
        self._model = NvmlModel(
            self._true_power, self._start, trace.update_period_s, phase_s, noise_w, seed
        )

    def _true_power(self, t: float) -> float:
        if self._runs:
            start, end = self._runs[-1]
            if start <= t < end:
                return self.busy.at((t - start) % self.busy.duration_s)
            if end <= t < end + self.tail.duration_s:
                return self.tail.at(t - end)
        return self.idle.at((t - self._start) % self.idle.duration_s)

    def run_program(self, runtime_s: float) -> float:
        """A fake program run: the board is busy for ``runtime_s`` of fake time."""
        now = self._clock.now()
        self._model.advance_to(now)
        self._runs.append((now, now + runtime_s))
        self._clock.sleep(runtime_s)
        return runtime_s

    def program(self, runtime_s: float) -> Callable[[], float]:
        """A run_once callable: one run of a program that takes ``runtime_s``."""
        return lambda: self.run_program(runtime_s)

    @property
    def runs(self) -> int:
        """How many programs have run on the board."""
        return len(self._runs)

    def true_net_energy_j(self, runtime_s: float) -> float:
        """Energy above idle that one run of ``runtime_s`` draws while it runs."""
        idle, busy, step = self.idle.mean_w(), self.busy, 0.001
        steps = round(runtime_s / step)
        return (
            sum(busy.at(((i + 0.5) * step) % busy.duration_s) - idle for i in range(steps)) * step
        )

    def read_energy_j(self) -> float:
        """The simulated energy counter in joules."""
        if not self.has_energy_counter:
            raise NotImplementedError("this replay board was built without an energy counter")
        self._model.advance_to(self._clock.now())
        return self._model.counter_j

    def read_power_w(self) -> float:
        """The simulated power reading in watts."""
        self._model.advance_to(self._clock.now())
        return self._model.power_w

    def describe(self) -> str:
        """That the figures are replayed, not measured."""
        what = "energy counter" if self.has_energy_counter else "power samples only"
        period_ms = self.update_period_s * 1000
        return f"replayed trace ({self._trace.source}): {what}, {period_ms:.0f} ms updates"

    def close(self) -> None:
        """Nothing to release."""
        return None
