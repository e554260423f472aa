"""Campaign statistics: the per-task metrics averaged over apps, per device and over all devices.

A task is one app on one device. Each trial of a task yields one outcome per stage
("vanilla": the zero-shot refactor; "full": the whole pipeline's best). For each
task, stage and k, pass@k counts valid trials among all of the task's trials, and
energy-reduction@k uses the valid trials' measurements. The device rows average
the app rows of that device; the all-devices rows (device None) average every
task, so an app measured on two devices counts twice, once per device.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lassi_ee.metrics.estimators import (
    Method,
    expected_best_of_k,
    pass_at_k,
    relative_reductions,
)

Stage = Literal["vanilla", "full"]
STAGES: tuple[Stage, ...] = ("vanilla", "full")
DEFAULT_KS: tuple[int, ...] = (1, 3, 5)


class TrialOutcome(BaseModel):
    """What one trial produced at one stage: the input of the campaign statistics.

    ``energy_j`` (the candidate) and ``source_energy_j`` (the source, as measured for
    this trial) hold whichever quantity the objective uses: joules, or runtime in
    seconds on a device with no energy sensor. The reduction is their ratio, so
    only their agreement matters. An invalid outcome's ``energy_j`` is ignored.
    """

    model_config = ConfigDict(frozen=True)

    app: str = Field(min_length=1)
    device: str = Field(min_length=1)
    trial: int = Field(ge=0)
    stage: Stage
    valid: bool
    energy_j: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    source_energy_j: float = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _valid_needs_energy(self) -> TrialOutcome:
        if self.valid and self.energy_j is None:
            raise ValueError("a valid outcome needs energy_j, the candidate's measurement")
        return self


class MetricRow(BaseModel):
    """One stage's pass@k and energy-reduction@k at one k, for one app or a mean over apps.

    ``app`` is None for a mean over apps; ``device`` is None for the mean over the
    tasks of all devices. The counts say what the figure rests on.
    """

    model_config = ConfigDict(frozen=True)

    app: str | None
    device: str | None
    stage: Stage
    k: int
    pass_at_k: float
    energy_reduction_at_k: float
    n_tasks: int
    n_trials: int
    n_valid: int


class StageComparison(BaseModel):
    """Vanilla against full at one k, over the trials that have both stages (paired by trial).

    ``app`` and ``device`` are None as in MetricRow. Deltas are full minus vanilla.
    """

    model_config = ConfigDict(frozen=True)

    app: str | None
    device: str | None
    k: int
    n_tasks: int
    n_pairs: int
    vanilla_pass_at_k: float
    full_pass_at_k: float
    delta_pass_at_k: float
    vanilla_energy_reduction_at_k: float
    full_energy_reduction_at_k: float
    delta_energy_reduction_at_k: float


def summarize(
    outcomes: Iterable[TrialOutcome],
    ks: Sequence[int] = DEFAULT_KS,
    method: Method = "exact",
    samples: int = 100_000,
    seed: int = 0,
) -> list[MetricRow]:
    """Per-app rows and their means per device and over all devices, for each stage and k.

    Order: the mean rows first (by stage, then each device and finally all devices,
    then k), then the app rows (by device, app, stage, k). Every k must be at most
    the number of trials of every task and stage; a repeated (app, device, trial,
    stage) is an error, since it would count one trial twice.
    """
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be one or more positive integers, got {list(ks)}")
    tasks = _group_by_task(outcomes)
    app_rows = [
        _app_row(app, device, stage, trials, k, method, samples, seed)
        for (device, app, stage), trials in sorted(
            tasks.items(), key=lambda item: (item[0][0], item[0][1], STAGES.index(item[0][2]))
        )
        for k in ks
    ]
    devices: list[str | None] = [*sorted({device for device, _, _ in tasks}), None]
    mean_rows = []
    for stage in STAGES:
        for device in devices:
            for k in ks:
                rows = [
                    row
                    for row in app_rows
                    if row.stage == stage
                    and row.k == k
                    and (device is None or row.device == device)
                ]
                if rows:
                    mean_rows.append(_mean_row(rows, device, stage, k))
    return mean_rows + app_rows


def compare_stages(
    outcomes: Iterable[TrialOutcome],
    ks: Sequence[int] = DEFAULT_KS,
    method: Method = "exact",
    samples: int = 100_000,
    seed: int = 0,
) -> list[StageComparison]:
    """Full minus vanilla, per app and averaged as in summarize(), over paired trials only.

    A trial counts only when it has both a vanilla and a full outcome, so a trial cut
    off between the stages does not tilt the comparison. Rows follow summarize()'s order.
    """
    outcomes = list(outcomes)
    stages_of: defaultdict[tuple[str, str, int], set[str]] = defaultdict(set)
    for outcome in outcomes:
        stages_of[(outcome.app, outcome.device, outcome.trial)].add(outcome.stage)
    paired = [o for o in outcomes if len(stages_of[(o.app, o.device, o.trial)]) == len(STAGES)]
    rows = summarize(paired, ks, method=method, samples=samples, seed=seed)
    full = {(row.app, row.device, row.k): row for row in rows if row.stage == "full"}
    comparisons = []
    for vanilla in (row for row in rows if row.stage == "vanilla"):
        best = full[(vanilla.app, vanilla.device, vanilla.k)]
        comparisons.append(
            StageComparison(
                app=vanilla.app,
                device=vanilla.device,
                k=vanilla.k,
                n_tasks=vanilla.n_tasks,
                n_pairs=vanilla.n_trials,
                vanilla_pass_at_k=vanilla.pass_at_k,
                full_pass_at_k=best.pass_at_k,
                delta_pass_at_k=best.pass_at_k - vanilla.pass_at_k,
                vanilla_energy_reduction_at_k=vanilla.energy_reduction_at_k,
                full_energy_reduction_at_k=best.energy_reduction_at_k,
                delta_energy_reduction_at_k=best.energy_reduction_at_k
                - vanilla.energy_reduction_at_k,
            )
        )
    return comparisons


def _group_by_task(
    outcomes: Iterable[TrialOutcome],
) -> dict[tuple[str, str, Stage], list[TrialOutcome]]:
    """Outcomes keyed by (device, app, stage); refuses a trial recorded twice."""
    tasks: defaultdict[tuple[str, str, Stage], list[TrialOutcome]] = defaultdict(list)
    seen: set[tuple[str, str, int, Stage]] = set()
    for outcome in outcomes:
        key = (outcome.app, outcome.device, outcome.trial, outcome.stage)
        if key in seen:
            raise ValueError(
                f"trial {outcome.trial} of app {outcome.app!r} on device {outcome.device!r} "
                f"({outcome.stage}) appears twice: keep one outcome per trial and stage"
            )
        seen.add(key)
        tasks[(outcome.device, outcome.app, outcome.stage)].append(outcome)
    return tasks


def _app_row(
    app: str,
    device: str,
    stage: Stage,
    trials: list[TrialOutcome],
    k: int,
    method: Method,
    samples: int,
    seed: int,
) -> MetricRow:
    """One task's metrics; each valid trial's reduction is against its own source measurement."""
    if k > len(trials):
        raise ValueError(
            f"k={k} exceeds the {len(trials)} trial(s) of app {app!r} on device {device!r} "
            f"({stage}): drop that k or run more trials"
        )
    reductions = [
        relative_reductions(trial.source_energy_j, [trial.energy_j])[0]
        for trial in trials
        if trial.valid and trial.energy_j is not None
    ]
    passed = pass_at_k(len(trials), len(reductions), k)
    best = expected_best_of_k(reductions, k, method=method, samples=samples, seed=seed)
    return MetricRow(
        app=app,
        device=device,
        stage=stage,
        k=k,
        pass_at_k=passed,
        energy_reduction_at_k=passed * best,
        n_tasks=1,
        n_trials=len(trials),
        n_valid=len(reductions),
    )


def _mean_row(rows: list[MetricRow], device: str | None, stage: Stage, k: int) -> MetricRow:
    """The unweighted mean over tasks: every app counts the same, however many trials it had."""
    return MetricRow(
        app=None,
        device=device,
        stage=stage,
        k=k,
        pass_at_k=math.fsum(row.pass_at_k for row in rows) / len(rows),
        energy_reduction_at_k=math.fsum(row.energy_reduction_at_k for row in rows) / len(rows),
        n_tasks=len(rows),
        n_trials=sum(row.n_trials for row in rows),
        n_valid=sum(row.n_valid for row in rows),
    )
