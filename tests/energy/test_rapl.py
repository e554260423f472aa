"""RAPL through a fake powercap tree (this machine has no /sys/class/powercap)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lassi_ee.devices import cpu_device
from lassi_ee.energy import backend_for
from lassi_ee.energy.none import NoSensorBackend
from lassi_ee.energy.rapl import (
    POWERCAP_ROOT,
    RaplBackend,
    package_domains,
    rapl_unavailable_reason,
)
from lassi_ee.errors import LassiError

MAX_RANGE_UJ = 262_143_328_850  # a typical package max_energy_range_uj


def add_domain(root: Path, directory: str, name: str, energy_uj: int) -> Path:
    path = root / directory
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "max_energy_range_uj").write_text(f"{MAX_RANGE_UJ}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    return path


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    """Two packages, plus domains that must not be counted twice."""
    root = tmp_path / "powercap"
    root.mkdir()
    (root / "intel-rapl").mkdir()  # the control type itself
    add_domain(root, "intel-rapl:0", "package-0", 1_000_000)
    add_domain(root, "intel-rapl:0:0", "core", 600_000)
    add_domain(root, "intel-rapl:0:1", "dram", 100_000)
    add_domain(root, "intel-rapl:1", "package-1", 5_000_000)
    add_domain(root, "intel-rapl:2", "psys", 9_000_000)
    add_domain(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    return root


def set_energy(root: Path, directory: str, energy_uj: int) -> None:
    (root / directory / "energy_uj").write_text(f"{energy_uj}\n")


def test_only_package_domains_are_summed(powercap):
    assert [d.name for d in package_domains(powercap)] == ["package-0", "package-1"]
    backend = RaplBackend("cpu-0", powercap)
    assert backend.read_energy_j() == 0.0
    set_energy(powercap, "intel-rapl:0", 3_000_000)  # +2 J
    set_energy(powercap, "intel-rapl:0:0", 9_000_000)  # a sub-domain: ignored
    set_energy(powercap, "intel-rapl:1", 5_500_000)  # +0.5 J
    assert backend.read_energy_j() == pytest.approx(2.5)
    assert "package-0, package-1" in backend.describe()


def test_the_counter_wraps_at_max_energy_range(powercap):
    set_energy(powercap, "intel-rapl:0", MAX_RANGE_UJ - 1_000_000)
    backend = RaplBackend("cpu-0", powercap)
    set_energy(powercap, "intel-rapl:0", 2_000_000)  # wrapped: 1 J before the wrap, 2 J after
    assert backend.read_energy_j() == pytest.approx(3.0)
    set_energy(powercap, "intel-rapl:0", 2_500_000)
    assert backend.read_energy_j() == pytest.approx(3.5)


def test_power_is_the_energy_rate_between_reads(powercap):
    times = iter([10.0, 10.5, 11.0, 11.00001])
    backend = RaplBackend("cpu-0", powercap, now=lambda: next(times))
    set_energy(powercap, "intel-rapl:0", 1_000_000 + 20_000_000)  # 20 J in 0.5 s
    assert backend.read_power_w() == pytest.approx(40.0)
    set_energy(powercap, "intel-rapl:1", 5_000_000 + 30_000_000)  # 30 J in the next 0.5 s
    assert backend.read_power_w() == pytest.approx(60.0)
    assert backend.read_power_w() == pytest.approx(60.0)  # too soon to tell: the last value


def test_no_powercap_means_time_only(tmp_path):
    reason = rapl_unavailable_reason(tmp_path / "missing")
    assert reason is not None and "no RAPL package domains" in reason
    with pytest.raises(LassiError, match="no RAPL"):
        RaplBackend("cpu-0", tmp_path / "missing")


@pytest.mark.skipif(
    rapl_unavailable_reason(POWERCAP_ROOT) is None, reason="this machine has readable RAPL"
)
def test_backend_for_a_cpu_without_rapl_measures_time_only():
    backend = backend_for(cpu_device())
    assert isinstance(backend, NoSensorBackend)
    assert "objective is runtime" in backend.describe()
    with pytest.raises(LassiError, match="no energy counter"):
        backend.read_energy_j()


def _reason_as_nobody(root: Path) -> str | None:
    """rapl_unavailable_reason() run by an unprivileged user (root reads any file)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(reader)
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(writer, (rapl_unavailable_reason(root) or "").encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text or None


def test_unreadable_energy_says_permission_denied():
    root = Path(tempfile.mkdtemp(prefix="powercap-"))  # /tmp: reachable by an unprivileged user
    try:
        root.chmod(0o755)
        domain = add_domain(root, "intel-rapl:0", "package-0", 1_000_000)
        for path in (domain, *domain.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (domain / "energy_uj").chmod(0o400)  # what kernels since 2020 do
        reason = _reason_as_nobody(root) if os.geteuid() == 0 else rapl_unavailable_reason(root)
        assert reason is not None
        assert "permission denied" in reason and "chmod o+r" in reason
    finally:
        shutil.rmtree(root)
