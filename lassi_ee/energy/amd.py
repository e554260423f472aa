"""AMD GPUs through the amdsmi library, or the ``rocm-smi`` command when it is missing.

amdsmi (ROCm 6+): ``amdsmi_get_energy_count(handle)`` returns the accumulator
in ticks of ``counter_resolution`` microjoules; the key was ``power`` before
amdsmi 6.2.1 and is ``energy_accumulator`` since. ``amdsmi_get_power_info``
reports watts under ``socket_power`` (ROCm 7), ``current_socket_power``
(MI300 and later) or ``average_socket_power`` (MI200 and earlier, Navi);
fields a card does not support read "N/A" (or UINT32_MAX).

rocm-smi: ``--showenergycounter --json`` gives "Accumulated Energy (uJ)",
``--showpower --json`` "Average Graphics Package Power (W)" or, on MI300,
"Current Socket Graphics Package Power (W)"; a secondary die of an MI250
reads "N/A (Secondary die)" (its primary die reports both). Every read starts
a process (~0.1-0.3 s), so this fallback is coarse and says so.

Both the library and the command runner are parameters, so tests feed recorded
outputs (tests/data/amd/).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

from lassi_ee.devices import Device, host_board, visible_id_for
from lassi_ee.energy.base import SensorError
from lassi_ee.errors import LassiError, UsageError

CommandRunner = Callable[[list[str]], str]
"""Runs a command and returns its stdout; raises OSError or CalledProcessError on failure."""

_HINT = "use --device cpu or check rocm-smi"
_UNSUPPORTED = 0xFFFF_FFFF
_POWER_KEYS = ("socket_power", "current_socket_power", "average_socket_power")
_ROCM_POWER_KEYS = (
    "Current Socket Graphics Package Power (W)",
    "Average Graphics Package Power (W)",
)


def run_command(command: list[str]) -> str:
    """Run a rocm-smi (or rocminfo) command; any failure is the sensor's (SensorError)."""
    try:
        return subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (subprocess.SubprocessError, OSError) as err:
        raise SensorError(f"{' '.join(command)} failed: {err}") from None


def _load_amdsmi(smi: Any | None) -> Any:
    """The amdsmi module, initialised; raises LassiError when it cannot be used."""
    if smi is None:
        try:
            import amdsmi
        except Exception as err:  # ImportError, or OSError when libamd_smi.so is missing
            raise LassiError(f"amdsmi cannot be loaded ({err})") from None
        smi = amdsmi
    try:
        smi.amdsmi_init()
    except smi.AmdSmiException as err:
        raise LassiError(f"amdsmi did not start ({err})") from None
    return smi


def physical_index(device: Device) -> int:
    """The index amdsmi and rocm-smi use: the HIP_VISIBLE_DEVICES entry when it is a number."""
    if device.visible_id is not None and device.visible_id.isdigit():
        return int(device.visible_id)
    return device.index


def _number(value: Any) -> float | None:
    """A reading as a float, or None for "N/A"-style placeholders."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _power(value: Any) -> float | None:
    """A power reading in W, or None when unsupported ("N/A", 0 or UINT32_MAX)."""
    number = _number(value)
    return number if number is not None and 0 < number < _UNSUPPORTED else None


class AmdSmiBackend:
    """One AMD GPU through the amdsmi Python library."""

    name = "amd"
    has_power_sensor = True
    update_period_s = 0.001  # the SMU's accumulator; alignment uses observed changes

    def __init__(self, device: Device, smi: Any | None = None) -> None:
        """Open the amdsmi handle of ``device`` and learn whether it has an energy counter."""
        self._smi = _load_amdsmi(smi)
        handles = self._smi.amdsmi_get_processor_handles()
        index = physical_index(device)
        if index >= len(handles):
            self._smi.amdsmi_shut_down()
            raise UsageError(f"no AMD GPU at index {index}: amdsmi sees {len(handles)}; {_HINT}")
        self._handle = handles[index]
        self.lock_name = device.lock_name
        self._device_name = device.name
        try:
            self.read_energy_j()
            self.has_energy_counter = True
        except (SensorError, KeyError):
            self.has_energy_counter = False

    def read_energy_j(self) -> float:
        """The energy accumulator in joules."""
        try:
            info = self._smi.amdsmi_get_energy_count(self._handle)
        except self._smi.AmdSmiException as err:
            raise SensorError(f"amdsmi energy read failed on {self._device_name}: {err}") from None
        ticks = info["energy_accumulator"] if "energy_accumulator" in info else info["power"]
        return float(ticks) * float(info["counter_resolution"]) / 1e6

    def read_power_w(self) -> float:
        """The socket power in watts, from whichever key the card reports."""
        try:
            info = self._smi.amdsmi_get_power_info(self._handle)
        except self._smi.AmdSmiException as err:
            raise SensorError(f"amdsmi power read failed on {self._device_name}: {err}") from None
        for key in _POWER_KEYS:
            value = _power(info.get(key))
            if value is not None:
                return value
        raise LassiError(f"amdsmi reports no socket power for {self._device_name}: {info}")

    def describe(self) -> str:
        """What is measured on this card, and how."""
        if self.has_energy_counter:
            how = "amdsmi energy accumulator + 10 ms power samples"
        else:
            how = "amdsmi socket power every 10 ms, integrated (no energy counter)"
        return f"{self._device_name}: {how}"

    def close(self) -> None:
        """Shut amdsmi down."""
        self._smi.amdsmi_shut_down()


def parse_rocm_smi_json(stdout: str) -> dict[str, dict[str, str]]:
    """rocm-smi's --json output; it may print warnings before the JSON."""
    start = stdout.find("{")
    if start < 0:
        raise LassiError(f"rocm-smi printed no JSON: {stdout.strip()[:200]}")
    try:
        data = json.loads(stdout[start:])
    except json.JSONDecodeError as err:
        raise LassiError(f"rocm-smi printed malformed JSON ({err})") from None
    return {key: value for key, value in data.items() if isinstance(value, dict)}


def _card(data: dict[str, dict[str, str]], index: int) -> dict[str, str]:
    card = data.get(f"card{index}")
    if card is None:
        raise LassiError(f"rocm-smi has no card{index} (it lists {', '.join(data) or 'none'})")
    return card


def rocm_smi_energy_j(stdout: str, index: int) -> float:
    """Card ``index``'s accumulated energy in joules from ``rocm-smi --showenergycounter``."""
    card = _card(parse_rocm_smi_json(stdout), index)
    value = _number(card.get("Accumulated Energy (uJ)"))
    if value is None:
        raise LassiError(f"rocm-smi reports no energy counter for card{index}")
    return value / 1e6


def rocm_smi_power_w(stdout: str, index: int) -> float:
    """Card ``index``'s power in watts from ``rocm-smi --showpower``."""
    card = _card(parse_rocm_smi_json(stdout), index)
    for key in _ROCM_POWER_KEYS:
        value = _power(card.get(key))
        if value is not None:
            return value
    shown = "; ".join(f"{k}: {v}" for k, v in card.items() if "Power" in k) or "nothing"
    raise LassiError(f"rocm-smi reports no power for card{index} ({shown})")


class RocmSmiBackend:
    """One AMD GPU through the rocm-smi command: coarse (a process per read), but everywhere."""

    name = "rocm-smi"
    has_power_sensor = True
    update_period_s = 0.25  # about one rocm-smi call

    def __init__(self, device: Device, run: CommandRunner = run_command) -> None:
        """Check that rocm-smi reads this card's energy counter; ``run`` runs the command."""
        self._run = run
        self._index = physical_index(device)
        self.lock_name = device.lock_name
        self._device_name = device.name
        try:
            self.read_energy_j()
            self.has_energy_counter = True
        except (LassiError, OSError, subprocess.SubprocessError):
            self.has_energy_counter = False

    def read_energy_j(self) -> float:
        """The accumulated energy in joules (one rocm-smi call)."""
        stdout = self._run(["rocm-smi", "-d", str(self._index), "--showenergycounter", "--json"])
        return rocm_smi_energy_j(stdout, self._index)

    def read_power_w(self) -> float:
        """The power in watts (one rocm-smi call)."""
        stdout = self._run(["rocm-smi", "-d", str(self._index), "--showpower", "--json"])
        return rocm_smi_power_w(stdout, self._index)

    def describe(self) -> str:
        """What is measured on this card, and that each read starts a process."""
        what = "energy counter" if self.has_energy_counter else "power, integrated"
        return (
            f"{self._device_name}: rocm-smi {what} (a process per read: ~0.1-0.3 s timing "
            "uncertainty; install amdsmi for better figures)"
        )

    def close(self) -> None:
        """Nothing to release: every read is its own command."""
        return None


def amd_backend(
    device: Device, smi: Any | None = None, run: CommandRunner = run_command
) -> AmdSmiBackend | RocmSmiBackend:
    """The amdsmi backend where the library loads, else rocm-smi."""
    try:
        return AmdSmiBackend(device, smi)
    except LassiError as err:
        if isinstance(err, UsageError):
            raise
        return RocmSmiBackend(device, run)


def gfx_from_rocminfo(stdout: str, index: int) -> str | None:
    """The gfx target of the index-th GPU agent in ``rocminfo`` output."""
    targets = re.findall(r"^\s*Name:\s+(gfx[0-9a-f]+)\s*$", stdout, flags=re.MULTILINE)
    return targets[index] if index < len(targets) else None


def probe_amd(index: int, smi: Any | None = None, run: CommandRunner = run_command) -> Device:
    """Describe logical HIP device ``index`` via amdsmi, else rocm-smi (+ rocminfo)."""
    visible = visible_id_for(index, "HIP_VISIBLE_DEVICES")
    if not visible.isdigit():
        raise UsageError(
            f"HIP_VISIBLE_DEVICES entry '{visible}' is not an index: lassi-ee maps AMD GPUs "
            "by index, so list indexes there"
        )
    physical = int(visible)
    try:
        name, arch, memory_gib = _probe_amdsmi(physical, smi)
    except LassiError as library_error:
        try:
            name, arch, memory_gib = _probe_rocm_smi(physical, run)
        except (LassiError, OSError, subprocess.SubprocessError) as command_error:
            raise UsageError(
                f"no AMD GPU visible: {library_error}; rocm-smi: {command_error}; {_HINT}"
            ) from None
    return Device(
        spec=f"rocm:{index}",
        kind="rocm",
        index=index,
        name=name,
        arch=arch,
        memory_gib=memory_gib,
        visible_id=visible,
        board=host_board(visible),
    )


def _probe_amdsmi(index: int, smi: Any | None) -> tuple[str, str, float | None]:
    smi = _load_amdsmi(smi)
    try:
        handles = smi.amdsmi_get_processor_handles()
        if index >= len(handles):
            raise LassiError(f"amdsmi sees {len(handles)} GPU(s), none at index {index}")
        asic = smi.amdsmi_get_gpu_asic_info(handles[index])
        arch = str(asic.get("target_graphics_version", "")).split(":")[0].lower()
        if not arch.startswith("gfx"):
            raise LassiError(f"amdsmi gives no gfx target ({asic.get('target_graphics_version')})")
        vram = smi.amdsmi_get_gpu_memory_total(handles[index], smi.AmdSmiMemoryType.VRAM)
        return str(asic.get("market_name", "AMD GPU")), arch, vram / 2**30
    except smi.AmdSmiException as err:
        raise LassiError(f"amdsmi failed ({err})") from None
    finally:
        smi.amdsmi_shut_down()


def _probe_rocm_smi(index: int, run: CommandRunner) -> tuple[str, str, float | None]:
    command = ["rocm-smi", "-d", str(index), "--showproductname", "--showmeminfo", "vram"]
    stdout = run([*command, "--json"])
    card = _card(parse_rocm_smi_json(stdout), index)
    name = card.get("Card Series") or card.get("Card series") or "AMD GPU"
    arch = card.get("GFX Version", "").lower()
    if not arch.startswith("gfx"):
        arch = gfx_from_rocminfo(run(["rocminfo"]), index) or ""
    if not arch:
        raise LassiError(f"cannot tell the gfx target of card{index} (rocm-smi, rocminfo)")
    vram = _number(card.get("VRAM Total Memory (B)"))
    return name, arch, vram / 2**30 if vram else None
