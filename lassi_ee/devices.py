"""Which device a program runs and is measured on: the facts, and the specs users type.

A device spec is what users type: ``cuda:0``, ``rocm:1``, ``cpu`` or ``auto``.
A ``Device`` holds what compile flags, prompts and the sandbox need (name,
architecture, memory, the id that pins a child to it). This is a leaf: asking
a vendor's library what a GPU is happens in ``energy/vendors.py``
(``resolve_device``), the one module that knows the vendors.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from lassi_ee.errors import UsageError

DeviceKind = Literal["cuda", "rocm", "cpu"]
ProgrammingModel = Literal["cuda", "hip", "openmp"]

_SPEC = re.compile(r"^(cuda|rocm|cpu|auto)(?::(\d+))?$")


class Device(BaseModel):
    """A resolved device: enough to compile for it, run on it and describe it to an LLM."""

    spec: str
    kind: DeviceKind
    index: int = 0
    name: str
    arch: str  # sm_90, gfx90a, x86_64
    memory_gib: float | None = None
    visible_id: str | None = None  # value for CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES
    # The physical board a figure is measured on: an NVIDIA GPU's UUID, an AMD GPU's host
    # and index, the CPU's host. Two boards of one model differ by more than a gain may;
    # None on a device recorded before boards were.
    board: str | None = None

    @property
    def programming_model(self) -> ProgrammingModel:
        return {"cuda": "cuda", "rocm": "hip", "cpu": "openmp"}[self.kind]  # type: ignore[return-value]

    @property
    def lock_name(self) -> str:
        """Name of the per-device measurement lock; one physical device, one lock."""
        return f"{self.kind}-{self.visible_id or self.index}"

    def child_env(self) -> dict[str, str]:
        """Environment that pins a child program to exactly this device."""
        if self.kind == "cuda" and self.visible_id is not None:
            return {"CUDA_VISIBLE_DEVICES": self.visible_id}
        if self.kind == "rocm" and self.visible_id is not None:
            return {"HIP_VISIBLE_DEVICES": self.visible_id, "ROCR_VISIBLE_DEVICES": self.visible_id}
        return {}

    def facts(self) -> str:
        """One line for prompts and reports."""
        memory = f", {self.memory_gib:.0f} GiB memory" if self.memory_gib else ""
        model = self.programming_model.upper()
        return f"{self.name} ({self.arch}{memory}), programming model {model}"


def parse_device_spec(spec: str) -> tuple[str, int]:
    """Split ``cuda:1`` into ("cuda", 1); raise a one-line UsageError on anything else."""
    match = _SPEC.match(spec.strip().lower())
    if not match:
        raise UsageError(
            f"unknown device '{spec}': use cuda:N, rocm:N, cpu or auto (see `lassi-ee devices`)"
        )
    return match.group(1), int(match.group(2) or 0)


def visible_id_for(index: int, env_var: str) -> str:
    """The physical id behind logical index ``index`` under a *_VISIBLE_DEVICES variable."""
    visible = os.environ.get(env_var)
    if not visible:
        return str(index)
    ids = [part.strip() for part in visible.split(",") if part.strip()]
    if index >= len(ids):
        raise UsageError(
            f"device index {index} is not visible: {env_var}={visible} lists {len(ids)} device(s)"
        )
    return ids[index]


def host_board(gpu_index: str | None = None) -> str:
    """The board of a device known by its host (the CPU), or by host and index (an AMD GPU).

    The host's name stands for the CPU: RAPL measures the packages of the machine it runs
    on. A container that gets a new name at each start is a new board to it (a
    re-measurement too many, never a figure of another machine taken for this one's).
    """
    host = platform.node() or "this host"
    return f"host {host}" if gpu_index is None else f"host {host}, GPU {gpu_index}"


def cpu_device() -> Device:
    """The host CPU, named from /proc/cpuinfo where it can be read."""
    name = platform.processor() or "CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    if hasattr(os, "sysconf"):
        try:
            memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        except (ValueError, OSError):
            memory_gib = None
    cores = os.cpu_count() or 1
    return Device(
        spec="cpu",
        kind="cpu",
        name=f"{name} ({cores} cores)",
        arch=platform.machine() or "host",
        memory_gib=memory_gib,
        board=host_board(),
    )
