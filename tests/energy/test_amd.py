"""The AMD backends and probe, fed recorded-format outputs (there is no AMD GPU here).

Where the formats come from (the files under tests/data/amd/ were written in
these formats for these tests, not captured on a device):
- rocm-smi --json: ROCm's rocm_smi.py prints ``{"cardN": {key: "value"}}``;
  showEnergy logs "Energy counter" and "Accumulated Energy (uJ)" (= counter x
  counter_resolution, rounded to 2 decimals; resolution 15.3 uJ as a C float),
  showPower logs "Average Graphics Package Power (W)" ("N/A (Secondary die)"
  on an MI250 secondary die), MI300 rocm-smi reports "Current Socket Graphics
  Package Power (W)", showproductname gives "Card Series"/"GFX Version" (older
  releases: "Card series", no GFX Version), and a "WARNING: ... low-power
  state" line may precede the JSON. Public rocm-smi JSON samples have the same
  keys, e.g. {"card0": {"Energy counter": "3436801806", "Accumulated Energy
  (uJ)": "52583068287.32"}}, which rocm-smi_showenergycounter_mi250x_1.json
  reproduces.
- amdsmi: amdsmi_interface.py returns dicts; amdsmi_get_energy_count gives
  {"power" (before 6.2.1) or "energy_accumulator", "counter_resolution" (uJ),
  "timestamp"}, amdsmi_get_power_info {"socket_power" (ROCm 7),
  "current_socket_power" (MI300+), "average_socket_power", ...} with "N/A"
  for unsupported fields, amdsmi_get_gpu_asic_info a "target_graphics_version"
  such as "gfx942".
- rocminfo: agent blocks with "Name: gfxNNN" for GPUs.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.devices import Device
from lassi_ee.energy.amd import (
    AmdSmiBackend,
    RocmSmiBackend,
    amd_backend,
    probe_amd,
    rocm_smi_power_w,
)
from lassi_ee.errors import LassiError, UsageError

DATA = Path(__file__).parents[1] / "data" / "amd"
MI250X = Device(spec="rocm:0", kind="rocm", name="AMD INSTINCT MI250X", arch="gfx90a")


def recorded(name: str) -> str:
    return (DATA / name).read_text()


class AmdSmiException(Exception):
    pass


class FakeAmdSmi:
    """Answers the amdsmi calls the backend makes from a recorded file, readings in order."""

    AmdSmiException = AmdSmiException

    class AmdSmiMemoryType:
        VRAM = 0

    def __init__(self, name: str, energy_error: bool = False) -> None:
        self.data = json.loads(recorded(name))
        self.energy = iter(self.data["energy_count"])
        self.power = iter(self.data["power_info"] * 10)
        self.energy_error = energy_error
        self.open = 0

    def amdsmi_init(self) -> None:
        self.open += 1

    def amdsmi_shut_down(self) -> None:
        self.open -= 1

    def amdsmi_get_processor_handles(self) -> list[str]:
        return ["gpu-handle-0"]

    def amdsmi_get_gpu_asic_info(self, handle: str) -> dict[str, Any]:
        return self.data["asic_info"]

    def amdsmi_get_gpu_memory_total(self, handle: str, memory_type: int) -> int:
        assert memory_type == self.AmdSmiMemoryType.VRAM
        return self.data["memory_total_vram"]

    def amdsmi_get_energy_count(self, handle: str) -> dict[str, Any]:
        if self.energy_error:
            raise AmdSmiException("AMDSMI_STATUS_NOT_SUPPORTED")
        return next(self.energy)

    def amdsmi_get_power_info(self, handle: str) -> dict[str, Any]:
        return next(self.power)


class RecordedCommands:
    """A command runner that answers rocm-smi/rocminfo from recorded files, in order."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = {flag: list(files) for flag, files in answers.items()}
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> str:
        self.commands.append(command)
        for flag, files in self.answers.items():
            if flag in command:
                return recorded(files.pop(0) if len(files) > 1 else files[0])
        raise FileNotFoundError(command[0])


def test_amdsmi_current_api_energy_and_power():
    smi = FakeAmdSmi("amdsmi_mi300x.json")
    backend = AmdSmiBackend(MI250X, smi)  # the constructor reads the counter once
    assert backend.has_energy_counter
    second = backend.read_energy_j()
    first_ticks = smi.data["energy_count"][0]["energy_accumulator"]
    resolution = smi.data["energy_count"][0]["counter_resolution"]
    assert second == pytest.approx((first_ticks + 9829620) * resolution / 1e6)
    assert 9829620 * resolution / 1e6 == pytest.approx(150.0, rel=1e-3)  # 1 s at 150 W
    assert backend.read_power_w() == 150.0
    backend.close()
    assert smi.open == 0


def test_amdsmi_old_api_key_and_average_power():
    smi = FakeAmdSmi("amdsmi_mi210_old_api.json")
    backend = AmdSmiBackend(MI250X, smi)
    ticks = smi.data["energy_count"][1]["power"]
    assert backend.read_energy_j() == pytest.approx(ticks * 15.300000190734863 / 1e6)
    assert backend.read_power_w() == 42.0


def test_amdsmi_without_counter_or_power():
    smi = FakeAmdSmi("amdsmi_mi300x.json", energy_error=True)
    smi.power = iter([{"socket_power": "N/A", "current_socket_power": 4294967295}])
    backend = AmdSmiBackend(MI250X, smi)
    assert not backend.has_energy_counter and "no energy counter" in backend.describe()
    with pytest.raises(LassiError, match="no socket power"):
        backend.read_power_w()


def test_probe_with_amdsmi(monkeypatch):
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)
    smi = FakeAmdSmi("amdsmi_mi300x.json")
    device = probe_amd(0, smi)
    assert (device.name, device.arch, device.kind) == ("AMD Instinct MI300X", "gfx942", "rocm")
    assert device.memory_gib == pytest.approx(192.0, abs=0.1)
    assert smi.open == 0
    # amdsmi's UUID is not read: the board is this host's GPU at that index
    assert device.board == f"host {platform.node()}, GPU 0"


def test_probe_falls_back_to_rocm_smi_when_amdsmi_is_missing(monkeypatch):
    # amdsmi is really not installed here: the import fails and rocm-smi answers
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)
    run = RecordedCommands({"--showproductname": ["rocm-smi_showproductname_mi250x.json"]})
    device = probe_amd(0, run=run)
    assert (device.name, device.arch) == ("AMD INSTINCT MI250X", "gfx90a")
    assert device.memory_gib == pytest.approx(63.98, abs=0.01)
    assert run.commands[0][:3] == ["rocm-smi", "-d", "0"]


def test_probe_reads_the_gfx_target_from_rocminfo_on_old_rocm_smi(monkeypatch):
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1")
    run = RecordedCommands(
        {
            "--showproductname": ["rocm-smi_showproductname_old.json"],
            "rocminfo": ["rocminfo_vega20.txt"],
        }
    )
    device = probe_amd(0, run=run)
    assert (device.name, device.arch, device.visible_id) == ("Vega 20", "gfx906", "1")
    assert device.child_env() == {"HIP_VISIBLE_DEVICES": "1", "ROCR_VISIBLE_DEVICES": "1"}


def test_no_amd_gpu_is_a_one_line_usage_error(monkeypatch):
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)
    with pytest.raises(UsageError, match="no AMD GPU visible") as caught:
        probe_amd(0, run=RecordedCommands({}))
    assert "use --device cpu or check rocm-smi" in str(caught.value)
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "GPU-4a3f")
    with pytest.raises(UsageError, match="not an index"):
        probe_amd(0)


def test_rocm_smi_backend_reads_recorded_counter_and_power():
    run = RecordedCommands(
        {
            "--showenergycounter": [
                "rocm-smi_showenergycounter_mi250x_1.json",
                "rocm-smi_showenergycounter_mi250x_1.json",
                "rocm-smi_showenergycounter_mi250x_2.json",
            ],
            "--showpower": ["rocm-smi_showpower_mi250x.json"],
        }
    )
    backend = amd_backend(MI250X, run=run)  # amdsmi is missing here: rocm-smi it is
    assert isinstance(backend, RocmSmiBackend) and backend.has_energy_counter
    first = backend.read_energy_j()
    assert first == pytest.approx(52583068287.32 / 1e6)
    assert backend.read_energy_j() - first == pytest.approx(237.0, rel=1e-3)  # 1 s at 237 W
    assert backend.read_power_w() == 237.0
    assert ["rocm-smi", "-d", "0", "--showpower", "--json"] in run.commands
    assert "a process per read" in backend.describe()


def test_rocm_smi_power_formats():
    assert rocm_smi_power_w(recorded("rocm-smi_showpower_mi300x.json"), 0) == 152.0
    with pytest.raises(LassiError, match="Secondary die"):
        rocm_smi_power_w(recorded("rocm-smi_showpower_mi250x_secondary_die.json"), 1)
    with pytest.raises(LassiError, match="no card3"):
        rocm_smi_power_w(recorded("rocm-smi_showpower_mi250x.json"), 3)
    with pytest.raises(LassiError, match="no JSON"):
        rocm_smi_power_w("ERROR: GPU[0] : Unable to get power\n", 0)


def test_rocm_smi_backend_without_counter():
    def run(command: list[str]) -> str:
        if "--showenergycounter" in command:
            raise subprocess.CalledProcessError(2, command)
        return recorded("rocm-smi_showpower_mi250x.json")

    backend = RocmSmiBackend(MI250X, run)
    assert not backend.has_energy_counter and backend.read_power_w() == 237.0
