"""What every energy backend offers, and the typed results of a measurement.

A backend reads one physical device: a cumulative energy counter where the
hardware has one, an instantaneous power reading, or neither (time only). The
measurement procedure (``measure.py``) is written against this interface only,
so NVIDIA, AMD, RAPL and recorded traces are measured the same way.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from lassi_ee.errors import LassiError

Method = Literal["counter", "power-integration", "time-only"]
Objective = Literal["energy", "runtime"]


def objective_unit(objective: Objective | None) -> str:
    """The unit of an objective's figures: J of energy per run, else s of runtime per run."""
    return "J" if objective == "energy" else "s"


class SensorError(LassiError):
    """The device's sensor failed mid-measurement (an NVML or amdsmi error), not the program."""


@runtime_checkable
class PowerBackend(Protocol):
    """One device's power/energy sensor.

    ``update_period_s`` is how often the sensor's value changes (nominal; the
    procedure aligns to observed changes and uses it only for waits and
    timeouts). ``lock_name`` names the physical device, so that two
    measurements never share it.
    """

    name: str
    has_energy_counter: bool
    has_power_sensor: bool
    update_period_s: float
    lock_name: str

    def read_energy_j(self) -> float:
        """Cumulative energy in joules; raises if the device has no counter."""
        ...

    def read_power_w(self) -> float:
        """Current power draw in watts; raises if the device has no power sensor."""
        ...

    def describe(self) -> str:
        """One line: what is measured and how."""
        ...

    def close(self) -> None:
        """Release the sensor; the backend is not used afterwards."""


class Stats(BaseModel):
    """Mean, sample standard deviation and coefficient of variation of repeats."""

    mean: float
    stdev: float = Field(description="sample standard deviation; 0 for a single repeat")
    cv: float = Field(description="stdev / |mean|; 0 when the mean is 0")
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        """The statistics of ``values`` (at least one)."""
        if not values:
            raise ValueError("no values to summarize")
        mean = statistics.fmean(values)
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        cv = stdev / abs(mean) if mean else 0.0
        return cls(mean=mean, stdev=stdev, cv=cv, n=len(values))


class EnergyMeasurement(BaseModel):
    """One repeat: a window of ``runs_in_window`` back-to-back runs.

    Energies are PER RUN (the window's figure divided by the number of runs);
    ``window_s`` and ``avg_power_w`` describe the whole window.
    """

    method: Method
    runs_in_window: int
    runtime_s: float = Field(description="mean wall time of one run in this window")
    window_s: float = Field(description="time between the two counter reads (or clock reads)")
    gross_energy_j: float | None = Field(None, description="per run, idle included")
    net_energy_j: float | None = Field(None, description="per run, idle subtracted")
    avg_power_w: float | None = Field(None, description="device power over the window")
    idle_power_w: float | None = None
    timeline_path: Path | None = None
    note: str = ""


class EnergyProfile(BaseModel):
    """A whole measurement of one program on one device: repeats and their spread."""

    objective: Objective = Field(description="what 'better' means here: energy, or runtime")
    method: Method
    backend: str = Field(description="the backend's describe() line")
    note: str = Field("", description="plain words on anything that limits the figures")
    measurements: list[EnergyMeasurement]
    runs_per_window: int
    warmup_runtime_s: float
    idle_power_w: float | None = None
    idle_settled: bool | None = Field(None, description="False: settling timed out")
    settle_s: float = Field(0.0, description="time spent waiting for a settled idle level")
    net_energy_j: Stats | None = Field(None, description="per run, over repeats")
    runtime_s: Stats
    avg_power_w: Stats | None = None
    wall_s: float = Field(description="whole procedure, from lock to last read")
    program_s: float = Field(description="time spent inside runs, warm-up included")
    overhead_s: float = Field(description="wall_s - program_s")
    timeline_path: Path | None = None
    board: str | None = Field(
        None,
        description="the physical board measured (devices.Device.board): an NVIDIA GPU's UUID, "
        "an AMD GPU's host and index, the CPU's host; None when not recorded",
    )

    def stats_for(self, objective: Objective) -> Stats:
        """The repeats' statistics of the quantity an objective compares."""
        if objective == "energy":
            if self.net_energy_j is None:
                raise ValueError(f"no energy figures: {self.note or self.backend}")
            return self.net_energy_j
        return self.runtime_s

    @property
    def objective_stats(self) -> Stats:
        """The statistics of the quantity this profile's objective compares."""
        return self.stats_for(self.objective)

    def summary(self) -> str:
        """One line for logs, prompts and reports."""
        runs = f"{len(self.measurements)} repeats x {self.runs_per_window} run(s)"
        runtime = f"{self.runtime_s.mean:.3f} s/run (cv {self.runtime_s.cv:.1%})"
        if self.net_energy_j is None:
            return f"runtime {runtime}, {runs}; {self.note}"
        energy = self.net_energy_j
        power = f", {self.avg_power_w.mean:.0f} W avg" if self.avg_power_w else ""
        idle = f", idle {self.idle_power_w:.1f} W" if self.idle_power_w is not None else ""
        if self.idle_settled is False:
            idle += " (not settled)"
        text = (
            f"net {energy.mean:.2f} J/run (cv {energy.cv:.1%}), {runtime}{power}{idle}, "
            f"{runs}, {self.method}"
        )
        return f"{text}; {self.note}" if self.note else text


class Marker(BaseModel):
    """An event on the timeline: window start/end, run start/end, the idle level."""

    t_s: float
    event: str
    value: float | None = None
    label: str = Field("", description="which program a window belongs to, when two take turns")


class Timeline(BaseModel):
    """Everything sampled during one procedure, times relative to its start."""

    backend: str
    started_unix: float
    sample_period_s: float
    samples: list[tuple[float, float]] = Field(
        default_factory=list, description="(t_s, power_w) from the sampler thread"
    )
    counter: list[tuple[float, float]] = Field(
        default_factory=list, description="(t_s, energy_j) at each observed counter update"
    )
    markers: list[Marker] = Field(default_factory=list)
    idle_power_w: float | None = None

    def save(self, path: Path) -> None:
        """Write the timeline as JSON (the reports plot it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json())

    @classmethod
    def load(cls, path: Path) -> Timeline:
        """A timeline that ``save`` wrote."""
        return cls.model_validate_json(path.read_text())

    def marker_times(self, event: str) -> list[float]:
        """The times of every marker of one kind (``window_start``, ...)."""
        return [marker.t_s for marker in self.markers if marker.event == event]


class PaperRecipeResult(BaseModel):
    """The paper's figure for one run: sampled power integrated minus a local idle."""

    runtime_s: float
    gross_energy_j: float
    idle_power_w: float = Field(description="mean of the samples 1 s before and 1.5 s after")
    net_energy_j: float = Field(description="gross - idle x runtime, clamped at 0")
    clamped: bool = Field(description="True when the unclamped figure was negative")
