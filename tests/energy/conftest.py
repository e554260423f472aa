"""Fixtures for the energy tests: a fake clock and a replayed H100-like board."""

from __future__ import annotations

import pytest

from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.replay import ReplayBoard, synthetic_trace


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_board(clock: FakeClock):
    """A board replaying a synthetic H100-like trace; keyword arguments shape the trace."""

    def make(*, with_counter: bool = True, noise_w: float = 0.0, **trace_options: float):
        return ReplayBoard(
            synthetic_trace(**trace_options), clock, with_counter=with_counter, noise_w=noise_w
        )

    return make
