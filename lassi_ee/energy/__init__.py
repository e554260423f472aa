"""Energy measurement: backends per device, and one procedure for all of them.

backend = backend_for(device)
profile = measure(backend, run_batch, settings, timeline_path)      # EnergyProfile: a screen
screen_lower(best_profile, profile, settings.min_energy_gain, settings.noise_sigmas)
confirmation = confirm(backend, best_batch, candidate_batch, rule, settings, timeline_path)
confirmation.decision.claimed                                        # what a claim rests on
"""

from __future__ import annotations

from lassi_ee.devices import Device
from lassi_ee.energy.base import (
    EnergyMeasurement,
    EnergyProfile,
    Marker,
    PaperRecipeResult,
    PowerBackend,
    Stats,
    Timeline,
)
from lassi_ee.energy.decide import Decision, DecisionRule, decide, screen_lower
from lassi_ee.energy.measure import measure
from lassi_ee.energy.paired import Confirmation, PairedMeasurement, confirm
from lassi_ee.energy.paper import measure_paper_style, paper_recipe


def backend_for(device: Device) -> PowerBackend:
    """The sensor behind a device: NVML, amdsmi/rocm-smi, RAPL, or none (time only)."""
    if device.kind == "cuda":
        from lassi_ee.energy.nvidia import NvidiaBackend

        return NvidiaBackend(device)
    if device.kind == "rocm":
        from lassi_ee.energy.amd import amd_backend

        return amd_backend(device)
    from lassi_ee.energy.none import NoSensorBackend
    from lassi_ee.energy.rapl import RaplBackend, rapl_unavailable_reason

    reason = rapl_unavailable_reason()
    if reason is None:
        return RaplBackend(device.lock_name)
    return NoSensorBackend(device.lock_name, reason)


def describe_devices(max_per_kind: int = 64) -> list[str]:
    """One line per device this machine can measure on, and how; or why a kind is missing."""
    from lassi_ee.devices import resolve_device
    from lassi_ee.errors import UsageError

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


__all__ = [
    "Confirmation",
    "Decision",
    "DecisionRule",
    "EnergyMeasurement",
    "EnergyProfile",
    "Marker",
    "PairedMeasurement",
    "PaperRecipeResult",
    "PowerBackend",
    "Stats",
    "Timeline",
    "backend_for",
    "confirm",
    "decide",
    "describe_devices",
    "measure",
    "measure_paper_style",
    "paper_recipe",
    "screen_lower",
]
