"""Fixtures for the energy tests: a fake clock, a replayed H100-like board, and the
measurement procedure's knobs."""

from __future__ import annotations

import pytest

from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.measure import MeasurementConfig
from lassi_ee.energy.replay import ReplayBoard, synthetic_trace
from lassi_ee.settings import Settings
from lassi_ee.tools.profile import measurement_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(settings: Settings) -> MeasurementConfig:
    """The default measurement knobs, with the device locks under the test's own folder."""
    return measurement_config(settings)


@pytest.fixture
def make_board(clock: FakeClock):
    """A board replaying a synthetic H100-like trace; keyword arguments shape the trace."""

    def make(*, with_counter: bool = True, noise_w: float = 0.0, **trace_options: float):
        return ReplayBoard(
            synthetic_trace(**trace_options), clock, with_counter=with_counter, noise_w=noise_w
        )

    return make
