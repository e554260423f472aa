"""Two programs measured in one settled session, their windows interleaved.

Why: a claim needs the two figures it compares to share their conditions. One
session (one lock, one settled idle level) holds both programs; their windows
(each as ``measure`` makes them: back-to-back runs aligned to counter updates)
alternate A B B A A B B A ..., pair i being "AB" when i is even and "BA" when
odd. A linear drift within a block of two pairs cancels, and each program
follows the other as often as itself, so neither inherits more of the other's
tail. Each pair's ratio is then a fair sample of candidate / baseline, and
``decide.py`` turns the pairs into a decision.

``confirm`` looks after every ``rule.pairs_per_look`` pairs and stops when the
decision is settled or at ``rule.max_pairs``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from lassi_ee.energy.base import Method, Objective, PowerBackend, objective_unit
from lassi_ee.energy.clock import Clock
from lassi_ee.energy.decide import Decision, DecisionRule, decide
from lassi_ee.energy.measure import (
    MeasurementConfig,
    MeasurementSession,
    RunBatch,
    runs_per_window,
    too_short_note,
)
from lassi_ee.errors import LassiError

Side = Literal["baseline", "candidate"]
PairOrder = Literal["AB", "BA"]


class TooShortToMeasure(LassiError):
    """A program so short that even the most back-to-back runs make too short a window."""


class PairedMeasurement(BaseModel):
    """The interleaved windows of two programs: one figure per window, per run.

    ``baseline[i]`` and ``candidate[i]`` are pair i's figures: net energy per run
    in J, or runtime per run in s where the device has no energy sensor
    (``objective``).
    """

    objective: Objective
    method: Method
    backend: str
    labels: tuple[str, str] = Field(description="what the baseline and the candidate are")
    baseline: list[float] = Field(default_factory=list)
    candidate: list[float] = Field(default_factory=list)
    baseline_runtime_s: list[float] = Field(default_factory=list)
    candidate_runtime_s: list[float] = Field(default_factory=list)
    orders: list[PairOrder] = Field(default_factory=list)
    runs_per_window: tuple[int, int] = (1, 1)
    idle_power_w: float | None = None
    idle_settled: bool | None = None
    started_at: dt.datetime | None = Field(
        None, description="when its runs began, the idle level settled (UTC)"
    )
    wall_s: float = Field(0.0, description="the whole session, from lock to last read")
    program_s: float = Field(0.0, description="time inside runs, warm-ups included")
    note: str = ""
    timeline_path: Path | None = None

    @property
    def pairs(self) -> int:
        """How many pairs were measured."""
        return len(self.orders)

    @property
    def unit(self) -> str:
        """The unit of the figures: J of energy per run, or s of runtime per run."""
        return objective_unit(self.objective)


class Confirmation(BaseModel):
    """A paired measurement and what it decided, under the rule it was decided by."""

    measurement: PairedMeasurement
    decision: Decision
    rule: DecisionRule

    def summary(self) -> str:
        """One line for logs, prompts and reports."""
        baseline, candidate = self.measurement.labels
        decision = self.decision
        if decision.ratio is None or decision.ratio_ci95 is None:
            return (
                f"{candidate} vs {baseline}, {decision.pairs} interleaved pairs: {decision.reason}"
            )
        low, high = decision.ratio_ci95
        verdict = "confirmed lower" if decision.claimed else "not confirmed"
        return (
            f"{candidate} / {baseline} = {decision.ratio:.3f} (95 % CI {low:.3f}-{high:.3f}), "
            f"{decision.pairs} interleaved pairs: {verdict}"
        )

    def evidence(self) -> str:
        """What a reviewer needs to weigh the figure: when, where, how many, how spread."""
        measurement, decision = self.measurement, self.decision
        when = (
            f"{measurement.started_at:%Y-%m-%d %H:%M} UTC"
            if measurement.started_at
            else "at an unrecorded time"
        )
        runs = measurement.runs_per_window[0]
        parts = [
            f"measured {when} on {measurement.backend}",
            f"{measurement.pairs} pairs of windows of {runs} run{'s' if runs != 1 else ''} each",
        ]
        if decision.spread is not None:
            parts.append(f"per-pair spread {100 * decision.spread:.2f} % (stdev of log-ratios)")
        if measurement.idle_power_w is not None:
            settled = "settled" if measurement.idle_settled else "not settled"
            parts.append(f"idle {measurement.idle_power_w:.1f} W ({settled})")
        return "; ".join(parts)


class _Pairs:
    """Interleaved windows of two programs inside one session."""

    def __init__(
        self,
        session: MeasurementSession,
        baseline: RunBatch,
        candidate: RunBatch,
        labels: tuple[str, str],
    ) -> None:
        self.session = session
        self.started_at = dt.datetime.now(dt.UTC)
        self.labels = labels
        self.batches: dict[Side, RunBatch] = {"baseline": baseline, "candidate": candidate}
        min_window_s = session.config.min_window_s
        self.warmup_s = {
            side: session.warm_up(self.batches[side], label) for side, label in self._sides()
        }
        # Both sides get the same runs per window (the more of the two): a window's end
        # (up to one counter period of tail) then costs both the same per run, and the
        # first warm-up's cold start (context creation) cannot make the sides differ.
        runs = max(runs_per_window(min_window_s, s) for s in self.warmup_s.values())
        self.runs: dict[Side, int] = {"baseline": runs, "candidate": runs}
        for side, label in self._sides():
            runs, runtime_s = self.runs[side], self.warmup_s[side]
            note = too_short_note(runs, runtime_s, runs * runtime_s, min_window_s)
            if note:
                raise TooShortToMeasure(f"{label}: {note}")
        self.figures: dict[Side, list[float]] = {"baseline": [], "candidate": []}
        self.runtimes_s: dict[Side, list[float]] = {"baseline": [], "candidate": []}
        self.orders: list[PairOrder] = []
        self.program_s = sum(self.warmup_s.values())
        self.objective: Objective = "runtime" if session.method == "time-only" else "energy"
        self.notes: list[str] = []

    def _sides(self) -> list[tuple[Side, str]]:
        return [("baseline", self.labels[0]), ("candidate", self.labels[1])]

    def _window(self, side: Side) -> None:
        label = self.labels[0] if side == "baseline" else self.labels[1]
        window = self.session.window(self.batches[side], self.runs[side], label)
        per_run = self.session.per_run(window)
        self.program_s += sum(window.runtimes_s)
        self.runtimes_s[side].append(per_run.runtime_s)
        if self.objective == "energy" and per_run.net_energy_j is not None:
            self.figures[side].append(per_run.net_energy_j)
        else:
            self.figures[side].append(per_run.runtime_s)

    def measure(self, pairs: int) -> None:
        for _ in range(pairs):
            order: PairOrder = "AB" if len(self.orders) % 2 == 0 else "BA"
            sides: tuple[Side, Side] = (
                ("baseline", "candidate") if order == "AB" else ("candidate", "baseline")
            )
            for side in sides:
                self._window(side)
            self.orders.append(order)

    def record(self) -> PairedMeasurement:
        session = self.session
        idle = session.idle
        return PairedMeasurement(
            objective=self.objective,
            method=session.method,
            backend=session.backend.describe(),
            labels=self.labels,
            baseline=self.figures["baseline"],
            candidate=self.figures["candidate"],
            baseline_runtime_s=self.runtimes_s["baseline"],
            candidate_runtime_s=self.runtimes_s["candidate"],
            orders=self.orders,
            runs_per_window=(self.runs["baseline"], self.runs["candidate"]),
            idle_power_w=idle.power_w if idle else None,
            idle_settled=idle.settled if idle else None,
            started_at=self.started_at,
            wall_s=session.wall_s,
            program_s=self.program_s,
            note="; ".join(session.notes()),
            timeline_path=session.timeline_path,
        )


def confirm(
    backend: PowerBackend,
    baseline: RunBatch,
    candidate: RunBatch,
    rule: DecisionRule,
    config: MeasurementConfig,
    timeline_path: Path | None,
    *,
    labels: tuple[str, str] = ("baseline", "candidate"),
    clock: Clock | None = None,
) -> Confirmation:
    """Measure both programs interleaved until ``rule`` settles the question or its pairs run out.

    ``baseline`` and ``candidate`` run a program n times back to back (as for
    ``measure``); a failing run raises through, with the timeline saved.
    """
    with MeasurementSession(backend, config, timeline_path, clock) as session:
        pairs = _Pairs(session, baseline, candidate, labels)
        while True:
            pairs.measure(min(rule.pairs_per_look, rule.max_pairs - len(pairs.orders)))
            decision = decide(pairs.figures["baseline"], pairs.figures["candidate"], rule)
            if decision.settled or len(pairs.orders) >= rule.max_pairs:
                break
    return Confirmation(measurement=pairs.record(), decision=decision, rule=rule)
