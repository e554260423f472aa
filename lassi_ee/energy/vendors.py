"""The one module that knows the vendors: which device a spec names, and its sensor.

``resolve_device`` asks the vendor's library what a device is (NVML for
``cuda:N``, amdsmi or rocm-smi for ``rocm:N``, /proc/cpuinfo for ``cpu``);
``backend_for`` gives the sensor that measures it (NVML, amdsmi/rocm-smi, RAPL,
or none: time only). Everything else speaks of a ``Device`` and a
``PowerBackend`` and never names a vendor.
"""

from __future__ import annotations

from lassi_ee.devices import Device, cpu_device, parse_device_spec
from lassi_ee.energy.amd import amd_backend, probe_amd
from lassi_ee.energy.base import PowerBackend
from lassi_ee.energy.none import NoSensorBackend
from lassi_ee.energy.nvidia import NvidiaBackend, probe_nvidia
from lassi_ee.energy.rapl import RaplBackend, rapl_unavailable_reason
from lassi_ee.errors import UsageError


def resolve_device(spec: str) -> Device:
    """Resolve a device spec against this machine, or say plainly why it cannot be used."""
    kind, index = parse_device_spec(spec)
    if kind == "cpu":
        return cpu_device()
    if kind == "cuda":
        return probe_nvidia(index)
    if kind == "rocm":
        return probe_amd(index)
    # auto: the first GPU that answers, else the CPU
    for candidate in ("cuda:0", "rocm:0"):
        try:
            return resolve_device(candidate)
        except UsageError:
            continue
    return cpu_device()


def backend_for(device: Device) -> PowerBackend:
    """The sensor behind a device: NVML, amdsmi/rocm-smi, RAPL, or none (time only)."""
    if device.kind == "cuda":
        return NvidiaBackend(device)
    if device.kind == "rocm":
        return amd_backend(device)
    reason = rapl_unavailable_reason()
    if reason is None:
        return RaplBackend(device.lock_name)
    return NoSensorBackend(device.lock_name, reason)


def describe_devices(max_per_kind: int = 64) -> list[str]:
    """One line per device this machine can measure on, and how; or why a kind is missing."""
    lines = []
    for kind in ("cuda", "rocm", "cpu"):
        for index in range(max_per_kind if kind != "cpu" else 1):
            spec = kind if kind == "cpu" else f"{kind}:{index}"
            try:
                device = resolve_device(spec)
            except UsageError as error:
                if index == 0:
                    lines.append(f"{kind:8} none: {error}")
                break
            backend = backend_for(device)
            try:
                lines.append(f"{spec:8} {device.name} ({device.arch}): {backend.describe()}")
            finally:
                backend.close()
    return lines
