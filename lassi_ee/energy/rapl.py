"""CPU energy from RAPL through the Linux powercap interface.

Each CPU package exposes ``/sys/class/powercap/intel-rapl:N/energy_uj``, a
counter in microjoules that wraps at ``max_energy_range_uj`` (AMD CPUs use the
same ``intel-rapl`` names). The package domains are summed; their sub-domains
(``intel-rapl:N:M``: cores, uncore, DRAM) are parts of the package and are left
out. Since 2020 kernels make ``energy_uj`` readable by root only.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from lassi_ee.errors import LassiError

POWERCAP_ROOT = Path("/sys/class/powercap")
_PACKAGE_DIR = re.compile(r"^intel-rapl:\d+$")


class RaplDomain(BaseModel):
    """One powercap zone: its counter file and where the counter wraps."""

    path: Path
    name: str
    max_energy_range_uj: int


def package_domains(root: Path = POWERCAP_ROOT) -> list[RaplDomain]:
    """The package-level RAPL domains under a powercap root, in order."""
    domains: list[RaplDomain] = []
    if not root.is_dir():
        return domains
    for path in sorted(root.iterdir()):
        if not _PACKAGE_DIR.match(path.name):
            continue
        try:
            name = (path / "name").read_text().strip()
            max_range = int((path / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        if name.startswith("package"):
            domains.append(RaplDomain(path=path, name=name, max_energy_range_uj=max_range))
    return domains


def rapl_unavailable_reason(root: Path = POWERCAP_ROOT) -> str | None:
    """Why RAPL cannot be read here, or None when it can."""
    domains = package_domains(root)
    if not domains:
        return f"no RAPL package domains under {root} (no powercap driver, or a VM)"
    for domain in domains:
        try:
            int((domain.path / "energy_uj").read_text())
        except PermissionError:
            return (
                f"{domain.path}/energy_uj is not readable (permission denied): run as root "
                "or make it readable (sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj)"
            )
        except (OSError, ValueError) as err:
            return f"{domain.path}/energy_uj cannot be read ({err})"
    return None


class RaplBackend:
    """Summed package energy; power is the energy rate since the previous power read."""

    name = "rapl"
    has_energy_counter = True
    has_power_sensor = True
    update_period_s = 0.001

    def __init__(
        self,
        lock_name: str = "cpu-0",
        root: Path = POWERCAP_ROOT,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        """The package domains under ``root``; ``now`` times the power estimate."""
        reason = rapl_unavailable_reason(root)
        if reason:
            raise LassiError(reason)
        self.lock_name = lock_name
        self._domains = package_domains(root)
        self._now = now
        self._lock = threading.Lock()
        self._last_raw = [self._raw(domain) for domain in self._domains]
        self._total_uj = 0
        self._power_mark = (now(), 0.0)
        self._last_power_w = 0.0

    def _raw(self, domain: RaplDomain) -> int:
        return int((domain.path / "energy_uj").read_text())

    def read_energy_j(self) -> float:
        """Energy since this backend was created, wrap-arounds included."""
        with self._lock:
            for i, domain in enumerate(self._domains):
                raw = self._raw(domain)
                delta = raw - self._last_raw[i]
                if delta < 0:  # the counter wrapped
                    delta += domain.max_energy_range_uj
                self._total_uj += delta
                self._last_raw[i] = raw
            return self._total_uj / 1e6

    def read_power_w(self) -> float:
        """The mean power since the last call, from the counters (RAPL has no power reading)."""
        energy_j = self.read_energy_j()
        now = self._now()
        with self._lock:
            then, energy_then = self._power_mark
            if now - then >= 1e-4:
                self._last_power_w = (energy_j - energy_then) / (now - then)
                self._power_mark = (now, energy_j)
            return self._last_power_w

    def describe(self) -> str:
        """Which domains are summed, and how."""
        names = ", ".join(domain.name for domain in self._domains)
        return f"RAPL package energy counter ({names}; ~1 ms updates) + 10 ms power samples"

    def close(self) -> None:
        """Nothing to release: the counters are files read each time."""
        return None
