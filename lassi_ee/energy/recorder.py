"""The timeline of one measurement session: power samples, counter updates and markers.

Every procedure (``measure``, the interleaved pairs, the paper's recipe) records
what it saw into one ``Recorder``: a 10 ms sampler thread appends power samples,
the procedure appends each observed counter update and marks windows and runs.
The timeline is saved as JSON for plots and for reviewing a figure afterwards.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left, bisect_right
from itertools import pairwise
from pathlib import Path

from lassi_ee.energy.base import Marker, PowerBackend, Timeline
from lassi_ee.energy.clock import Clock
from lassi_ee.errors import LassiError

Sample = tuple[float, float]
"""(t_s, power_w)."""


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


class Recorder:
    """Power samples (from the sampler thread), counter updates and markers of one session.

    Times are stored relative to the session's start; the sampler writes from
    its own thread, hence the lock.
    """

    def __init__(self, backend: PowerBackend, clock: Clock, sample_period_s: float) -> None:
        """A recorder for ``backend`` on ``clock``, sampling every ``sample_period_s``."""
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
        """A clock time as seconds since the recording started."""
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
        """The power samples so far, (t_s, power_w)."""
        with self._lock:
            return list(self.timeline.samples)

    def mark(self, t: float, event: str, value: float | None = None, label: str = "") -> None:
        """Put an event on the timeline."""
        with self._lock:
            self.timeline.markers.append(
                Marker(t_s=self.rel(t), event=event, value=value, label=label)
            )

    def counter_update(self, t: float, energy_j: float) -> None:
        """Note an observed change of the energy counter."""
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
        """The energy between two clock times, from the power samples."""
        samples = self.samples()
        if not samples:
            raise LassiError(
                f"no power sample could be read ({self.first_sampler_error or 'none taken yet'}): "
                f"{self._backend.describe()}"
            )
        return integrate_power_j(samples, self.rel(start), self.rel(end))

    def save(self, path: Path | None) -> None:
        """Write the timeline to ``path`` (nothing when None)."""
        if path is not None:
            with self._lock:
                self.timeline.save(path)
