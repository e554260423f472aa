"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py).

Energy comes from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since the driver
loaded; Volta and newer), power from ``nvmlDeviceGetPowerUsage`` (mW). On the
H100 both change every 100 ms. NVML numbers devices in PCI bus order and
ignores CUDA_VISIBLE_DEVICES, so a logical index is first mapped through that
variable (entries may be indexes or UUIDs, UUID prefixes included) and the
device is then pinned by its UUID: the program runs on exactly the GPU whose
counter is read.
"""

from __future__ import annotations

import contextlib
from typing import Any

from lassi_ee.devices import Device, visible_id_for
from lassi_ee.energy.base import SensorError
from lassi_ee.errors import UsageError

_HINT = "use --device cpu or check nvidia-smi"


def _load_nvml(nvml: Any | None) -> Any:
    if nvml is not None:
        return nvml
    try:
        import pynvml
    except ImportError:
        raise UsageError(
            f"no NVIDIA GPU visible: the nvidia-ml-py package is not installed; {_HINT}"
        ) from None
    return pynvml


def _init(nvml: Any) -> None:
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        raise UsageError(f"no NVIDIA GPU visible: NVML did not start ({err}); {_HINT}") from None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def handle_for(nvml: Any, visible_id: str) -> Any:
    """The NVML handle of a CUDA_VISIBLE_DEVICES entry: an index, a UUID or a UUID prefix."""
    if visible_id.isdigit():
        count = nvml.nvmlDeviceGetCount()
        if int(visible_id) >= count:
            raise UsageError(
                f"no NVIDIA GPU visible at index {visible_id}: NVML sees {count} GPU(s); {_HINT}"
            )
        return nvml.nvmlDeviceGetHandleByIndex(int(visible_id))
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        if _text(nvml.nvmlDeviceGetUUID(handle)).startswith(visible_id):
            return handle
    raise UsageError(f"no NVIDIA GPU visible with UUID {visible_id}; {_HINT}")


def probe_nvidia(index: int, nvml: Any | None = None) -> Device:
    """Describe logical CUDA device ``index``; any NVML failure is a one-line UsageError."""
    nvml = _load_nvml(nvml)
    _init(nvml)
    try:
        handle = handle_for(nvml, visible_id_for(index, "CUDA_VISIBLE_DEVICES"))
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
        uuid = _text(nvml.nvmlDeviceGetUUID(handle))
        return Device(
            spec=f"cuda:{index}",
            kind="cuda",
            index=index,
            name=_text(nvml.nvmlDeviceGetName(handle)),
            arch=f"sm_{major}{minor}",
            memory_gib=nvml.nvmlDeviceGetMemoryInfo(handle).total / 2**30,
            visible_id=uuid,
            board=uuid,
        )
    except nvml.NVMLError as err:
        raise UsageError(f"no NVIDIA GPU visible: {err}; {_HINT}") from None
    finally:
        nvml.nvmlShutdown()


class NvidiaBackend:
    """One NVIDIA GPU: the energy counter where supported, power samples always."""

    name = "nvidia"
    has_power_sensor = True
    update_period_s = 0.1

    def __init__(self, device: Device, nvml: Any | None = None) -> None:
        """Open NVML's handle of ``device`` and learn whether it has an energy counter."""
        self._nvml = _load_nvml(nvml)
        _init(self._nvml)
        try:
            self._handle = handle_for(self._nvml, device.visible_id or str(device.index))
        except BaseException:
            self._nvml.nvmlShutdown()
            raise
        self.lock_name = device.lock_name
        self._device_name = device.name
        try:
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
            self.has_energy_counter = True
        except self._nvml.NVMLError:
            self.has_energy_counter = False
        self._conditions = self._read_conditions()

    def _read_conditions(self) -> str:
        """The driver and the enforced power limit, which a figure names.

        Both change what a joule of work costs; what NVML cannot tell is left out.
        """
        conditions = []
        with contextlib.suppress(self._nvml.NVMLError):
            conditions.append(f"driver {_text(self._nvml.nvmlSystemGetDriverVersion())}")
        with contextlib.suppress(self._nvml.NVMLError):
            limit_w = self._nvml.nvmlDeviceGetEnforcedPowerLimit(self._handle) / 1000.0
            conditions.append(f"power limit {limit_w:.0f} W")
        return f" ({', '.join(conditions)})" if conditions else ""

    def read_energy_j(self) -> float:
        """The energy counter in joules (NVML counts millijoules since the driver loaded)."""
        try:
            return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0
        except self._nvml.NVMLError as err:
            raise SensorError(f"NVML energy read failed on {self._device_name}: {err}") from None

    def read_power_w(self) -> float:
        """The board's power in watts."""
        try:
            return self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
        except self._nvml.NVMLError as err:
            raise SensorError(f"NVML power read failed on {self._device_name}: {err}") from None

    def describe(self) -> str:
        """What is measured on this GPU, and how."""
        if self.has_energy_counter:
            how = "NVML energy counter (100 ms updates) + 10 ms power samples"
        else:
            how = "NVML power samples every 10 ms, integrated (no energy counter on this GPU)"
        return f"{self._device_name}{self._conditions}: {how}"

    def close(self) -> None:
        """Shut NVML down."""
        self._nvml.nvmlShutdown()
