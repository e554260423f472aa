"""The NVIDIA backend and device probe, against a fake NVML serving recorded-style readings.

The fake answers the pynvml calls the backend makes, in NVML's units (mJ for
the energy counter, mW for power, bytes for memory) with values shaped like
an idle H100 (~71 W). It raises pynvml's own NVMLError classes. On this
machine NVML itself is absent, which the last tests use as the real failure.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pynvml
import pytest

from lassi_ee.energy.measure import method_of
from lassi_ee.energy.nvidia import NvidiaBackend, probe_nvidia
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.errors import UsageError

H100_MEMORY_B = 85_520_809_984  # what nvmlDeviceGetMemoryInfo(...).total reports on an H100 80GB
GPUS = [
    {"uuid": "GPU-aaaa1111-0000-0000-0000-000000000000", "name": b"NVIDIA H100 80GB HBM3"},
    {"uuid": "GPU-bbbb2222-0000-0000-0000-000000000000", "name": "NVIDIA H100 80GB HBM3"},
]


class FakeNvml:
    NVMLError = pynvml.NVMLError

    def __init__(
        self,
        energy_supported: bool = True,
        init_error: int | None = None,
        conditions_supported: bool = True,
    ) -> None:
        self.energy_supported = energy_supported
        self.conditions_supported = conditions_supported
        self.init_error = init_error
        self.open = 0
        # idle H100: ~71 W; the counter grows ~7.1 J per 100 ms update
        self.energy_mj = itertools.count(1_234_567_890, 7_100)
        self.power_mw = itertools.cycle([71_234, 71_102, 70_987])

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.open += 1

    def nvmlShutdown(self) -> None:
        self.open -= 1

    def nvmlDeviceGetCount(self) -> int:
        return len(GPUS)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index >= len(GPUS):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return GPUS[handle]["uuid"]

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return GPUS[handle]["name"]

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        return (9, 0)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(total=H100_MEMORY_B, free=H100_MEMORY_B, used=0)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if not self.energy_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return next(self.energy_mj)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return next(self.power_mw)

    def nvmlSystemGetDriverVersion(self) -> str:
        if not self.conditions_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return "580.159.04"

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        if not self.conditions_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 700_000  # mW, as the lent H200 reports it


def test_probe_describes_the_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml()
    device = probe_nvidia(1, nvml)
    assert device.spec == "cuda:1" and device.kind == "cuda" and device.index == 1
    assert device.name == "NVIDIA H100 80GB HBM3" and device.arch == "sm_90"
    assert device.memory_gib == pytest.approx(79.65, abs=0.01)
    assert device.visible_id == GPUS[1]["uuid"]  # the child is pinned by UUID
    assert device.board == GPUS[1]["uuid"]  # and every profile measured on it names it
    assert nvml.open == 0  # NVML shut down again


@pytest.mark.parametrize("visible", ["1", GPUS[1]["uuid"], "GPU-bbbb", "GPU-bbbb2222,GPU-aaaa1111"])
def test_cuda_visible_devices_selects_the_physical_gpu(monkeypatch, visible):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert probe_nvidia(0, FakeNvml()).visible_id == GPUS[1]["uuid"]


def test_index_beyond_cuda_visible_devices_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(UsageError, match="not visible"):
        probe_nvidia(1, FakeNvml())


@pytest.mark.parametrize(
    ("visible", "message"),
    [("7", "no NVIDIA GPU visible at index 7: NVML sees 2"), ("GPU-ffff", "UUID GPU-ffff")],
)
def test_unknown_gpus_are_usage_errors(monkeypatch, visible, message):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    nvml = FakeNvml()
    with pytest.raises(UsageError, match=message) as caught:
        probe_nvidia(0, nvml)
    assert "use --device cpu or check nvidia-smi" in str(caught.value)
    assert nvml.open == 0


def test_nvml_that_does_not_start_is_a_usage_error():
    with pytest.raises(UsageError, match="no NVIDIA GPU visible: NVML did not start"):
        probe_nvidia(0, FakeNvml(init_error=pynvml.NVML_ERROR_NO_PERMISSION))


def test_backend_converts_nvml_units(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml()
    backend = NvidiaBackend(probe_nvidia(0, nvml), nvml)
    assert backend.has_energy_counter and method_of(backend) == "counter"
    first = backend.read_energy_j()
    assert backend.read_energy_j() - first == pytest.approx(7.1)
    assert first == pytest.approx(1_234_574.99)
    assert backend.read_power_w() == pytest.approx(71.234)
    assert "NVML energy counter (100 ms updates) + 10 ms power samples" in backend.describe()
    assert backend.lock_name == f"cuda-{GPUS[0]['uuid']}"
    backend.close()
    assert nvml.open == 0


def test_gpu_without_energy_counter_integrates_power(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml(energy_supported=False)
    backend = NvidiaBackend(probe_nvidia(0, nvml), nvml)
    assert not backend.has_energy_counter and method_of(backend) == "power-integration"
    assert "no energy counter" in backend.describe()


def test_the_description_names_the_driver_and_the_power_limit(monkeypatch):
    """Both change what a program's energy is, so every figure's backend line names them."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml()
    described = NvidiaBackend(probe_nvidia(0, nvml), nvml).describe()
    assert described.startswith("NVIDIA H100 80GB HBM3 (driver 580.159.04, power limit 700 W): ")
    silent = FakeNvml(conditions_supported=False)  # NVML that will not say: nothing invented
    described = NvidiaBackend(probe_nvidia(0, silent), silent).describe()
    assert described.startswith("NVIDIA H100 80GB HBM3: NVML energy counter")


def _nvml_works() -> bool:
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except pynvml.NVMLError:
        return False


@pytest.mark.skipif(_nvml_works(), reason="this machine has a working NVML")
def test_without_nvml_cuda_devices_are_a_one_line_usage_error():
    with pytest.raises(UsageError) as caught:
        resolve_device("cuda:0")
    message = str(caught.value)
    assert message.startswith("no NVIDIA GPU visible") and "\n" not in message
    assert resolve_device("auto").kind == "cpu"
