"""No sensor: only time is measured, and every result says so."""

from __future__ import annotations

from lassi_ee.errors import LassiError


class NoSensorBackend:
    """A device whose energy cannot be read; the objective falls back to runtime."""

    name = "none"
    has_energy_counter = False
    has_power_sensor = False
    update_period_s = 0.0

    def __init__(self, lock_name: str, reason: str) -> None:
        """A device named ``lock_name`` with no sensor, for the reason given."""
        self.lock_name = lock_name
        self.reason = reason

    def read_energy_j(self) -> float:
        """Never: there is no counter (the procedure measures time only)."""
        raise LassiError(f"no energy counter: {self.reason}")

    def read_power_w(self) -> float:
        """Never: there is no power sensor (the procedure measures time only)."""
        raise LassiError(f"no power sensor: {self.reason}")

    def describe(self) -> str:
        """That only time is measured, and why."""
        return f"time only, no energy sensor ({self.reason}): the objective is runtime"

    def close(self) -> None:
        """Nothing to release."""
        return None
