"""Time for the measurement procedure: real, or simulated so tests run in milliseconds.

The procedure never calls ``time`` directly. It asks a clock for the time, to
sleep, and to call a function periodically (the 10 ms power sampler). The real
clock runs the periodic call on a thread; the fake clock fires it while a
sleep moves simulated time past its due times, so a test that "waits out" a
5 s tail takes no real time and is deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Time as the measurement sees it: real, or simulated in tests."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""

    def every(self, period_s: float, callback: Callable[[float], None]) -> Callable[[], None]:
        """Call ``callback(now)`` every ``period_s`` until the returned stop function is called."""
        ...


class RealClock:
    """Wall time; the periodic callback runs on its own daemon thread."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time."""
        if seconds > 0:
            time.sleep(seconds)

    def every(self, period_s: float, callback: Callable[[float], None]) -> Callable[[], None]:
        """Call ``callback(now)`` every ``period_s`` from a thread; returns its stop function."""
        stop = threading.Event()

        def loop() -> None:
            due = time.perf_counter()
            while not stop.is_set():
                callback(time.perf_counter())
                due += period_s
                delay = due - time.perf_counter()
                if delay < 0:  # fell behind (a slow read): skip the missed ticks
                    due = time.perf_counter()
                    delay = 0.0
                stop.wait(delay)

        thread = threading.Thread(target=loop, name="lassi-power-sampler", daemon=True)
        thread.start()

        def cancel() -> None:
            stop.set()
            thread.join()

        return cancel


class FakeClock:
    """Simulated time: ``sleep`` advances it, firing periodic callbacks on the way."""

    def __init__(self, start: float = 0.0) -> None:
        """A clock that stands at ``start`` until slept."""
        self._now = start
        self._timers: list[tuple[float, int, float, Callable[[float], None]]] = []
        self._ids = itertools.count()
        self._cancelled: set[int] = set()

    def now(self) -> float:
        """The simulated time."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the simulated time, firing every periodic callback due on the way."""
        target = self._now + max(seconds, 0.0)
        while self._timers and self._timers[0][0] <= target:
            due, timer_id, period, callback = heapq.heappop(self._timers)
            if timer_id in self._cancelled:
                continue
            self._now = max(self._now, due)
            heapq.heappush(self._timers, (due + period, timer_id, period, callback))
            callback(self._now)
        self._now = target

    def every(self, period_s: float, callback: Callable[[float], None]) -> Callable[[], None]:
        """Call ``callback(now)`` every ``period_s`` of simulated time; returns its stopper."""
        timer_id = next(self._ids)
        callback(self._now)
        heapq.heappush(self._timers, (self._now + period_s, timer_id, period_s, callback))

        def cancel() -> None:
            self._cancelled.add(timer_id)

        return cancel
