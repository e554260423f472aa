"""What a campaign report shows, from a campaign's trial records: the paper's Figures 2-4
as bar plots, per-app bars, and Tables 2-4.

- pass@k by k, vanilla (Stage 1) against LASSI-EE (the full pipeline), a panel per device
  and one for all devices (Figure 2);
- energy-reduction@k the same way (Figure 3); runtime-reduction@k where a device has no
  energy sensor and the objective is runtime;
- per app, each device's reduction@k at the smallest k, vanilla against LASSI-EE;
- the best versions' optimizations by category, MHO/ACE/DST/PTM, overall and per device
  (Figure 4), from the categories each improved trial's Stage 4 recorded.

The numbers come from the same functions as Table 4 (``compare_stages`` over the
trials paired by stage), so the plots and the tables cannot disagree. A plot with
nothing to show is left out, and the page says why in plain words.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import get_args

from pydantic import BaseModel, Field

from lassi_ee.calibrate import Calibration
from lassi_ee.campaign.store import TrialRecord
from lassi_ee.campaign.tables import (
    Table,
    build_tables,
    device_objectives,
    objective_phrase,
    trial_outcomes,
    usable_ks,
)
from lassi_ee.llm.replies import CATEGORY_NAMES, Category
from lassi_ee.metrics import StageComparison, compare_stages

CATEGORIES: tuple[Category, ...] = get_args(Category)
ALL_DEVICES = "all devices"
STAGE_SERIES = (("vanilla", "vanilla (Stage 1)"), ("full", "LASSI-EE (full pipeline)"))


class Series(BaseModel):
    """One set of bars: a value per x label (a fraction, 0.4 = 40 %) and the text over each."""

    name: str
    values: list[float]
    texts: list[str]


class Panel(BaseModel):
    title: str
    y_label: str
    x_labels: list[str]
    series: list[Series]


class BarPlot(BaseModel):
    """One figure of grouped bars in one or more panels; ``name`` names its file and element."""

    name: str
    title: str
    caption: str
    panels: list[Panel]
    y_max: float | None = Field(None, description="fixed top of the y axis; None: fit the bars")

    def values_json(self) -> str:
        """The plotted numbers, as the page carries them in ``data-values``."""
        return json.dumps(
            [
                {
                    "title": panel.title,
                    "x": panel.x_labels,
                    "series": {s.name: s.values for s in panel.series},
                }
                for panel in self.panels
            ]
        )


class CategoryCounts(BaseModel):
    """How many of the best versions' optimizations fell in each category, in one scope."""

    scope: str = Field(description="a device, or 'all devices'")
    counts: dict[Category, int]
    trials: int = Field(description="improved trials whose optimizations were categorized")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, category: Category) -> float:
        return self.counts[category] / self.total if self.total else 0.0


class Section(BaseModel):
    """One figure of the page: its plot, or why there is none."""

    heading: str
    plot: BarPlot | None = None
    missing: str | None = None


class CampaignReport(BaseModel):
    name: str
    trials: int = Field(description="finished trials")
    planned_trials: int | None = Field(None, description="trials the campaign file asks for")
    failed: int
    improved: int
    apps: list[str]
    devices: list[str]
    objectives: dict[str, str] = Field(description="device -> energy or runtime")
    ks: list[int] = Field(description="the ks plotted (those every task has trials for)")
    dropped_ks: list[int]
    comparisons: list[StageComparison] = Field(description="Table 4's numbers, with apps")
    categories: list[CategoryCounts]
    uncategorized: int = Field(description="improved trials with no categories recorded")
    sections: list[Section]
    tables: list[Table]
    conditions: list[str] = Field(
        default_factory=list, description="when and on what Stage 4 re-measured, per device"
    )
    generated_unix: float = Field(default_factory=time.time)

    @property
    def plots(self) -> list[BarPlot]:
        return [section.plot for section in self.sections if section.plot is not None]

    @property
    def sensor_note(self) -> str | None:
        """Plain words when some device had no energy sensor (runtime was its objective)."""
        runtime = sorted(d for d, objective in self.objectives.items() if objective == "runtime")
        if not runtime:
            return None
        return (
            f"No energy sensor on {', '.join(runtime)}: runtime was the objective there, so "
            "its figures are runtime-reductions, not energy-reductions."
        )


def reduction_metric(objectives: Sequence[str]) -> str:
    """What a reduction is called for these objectives: energy-, runtime- or both."""
    kinds = set(objectives)
    if kinds == {"runtime"}:
        return "runtime-reduction"
    if kinds == {"energy"} or not kinds:
        return "energy-reduction"
    return "energy/runtime-reduction"


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def build_campaign_report(
    name: str,
    records: Sequence[TrialRecord],
    ks: Sequence[int],
    planned_trials: int | None = None,
    calibrations: Mapping[tuple[str, str], Calibration] | None = None,
) -> CampaignReport:
    """The report of campaign ``name`` over its finished ``records`` at ``ks``, with the
    noise floor of each (app, device) that ``calibrations`` holds."""
    usable = [r for r in records if r.status != "failed"]
    objectives = device_objectives(usable)
    outcomes = trial_outcomes(usable)
    kept = usable_ks(outcomes, ks)
    comparisons = compare_stages(outcomes, kept) if kept else []
    devices = sorted({r.device for r in records})
    categories, uncategorized = _category_counts(usable, devices)
    report = CampaignReport(
        name=name,
        trials=len(records),
        planned_trials=planned_trials,
        failed=len(records) - len(usable),
        improved=sum(r.status == "improved" for r in usable),
        apps=sorted({r.app for r in records}),
        devices=devices,
        objectives=objectives,
        ks=kept,
        dropped_ks=sorted(set(ks) - set(kept)),
        comparisons=comparisons,
        categories=categories,
        uncategorized=uncategorized,
        sections=[],
        tables=build_tables(records, ks, calibrations),
        conditions=[_conditions(device, records) for device in devices],
    )
    report.sections = _sections(report, ks)
    return report


def _conditions(device: str, records: Sequence[TrialRecord]) -> str:
    """When and with which sensor, driver and power limit Stage 4 re-measured on ``device``.

    A claim is only as good as its conditions: one line per device lets a reader see
    that its trials shared them, and says so plainly where they did not.
    """
    measured = [r for r in records if r.device == device and r.final_measured_at]
    if not measured:
        return (
            f"No Stage-4 re-measurement on {device} is recorded with its time and sensor "
            "(nothing was confirmed there, or the store is from before lassi-ee recorded it)."
        )
    times = sorted(dt.datetime.fromisoformat(r.final_measured_at or "") for r in measured)
    sensors = sorted({r.final_sensor or "an unnamed sensor" for r in measured})
    line = (
        f"Stage 4 re-measured {len(measured)} trial(s) on {device} from "
        f"{times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M} UTC, "
    )
    if len(sensors) == 1:
        line += f"all with {sensors[0]}."
    else:
        line += (
            f"but not all under the same conditions ({'; '.join(sensors)}): compare its trials "
            "with care."
        )
    others = sum(1 for r in records if r.device == device and r.status != "failed") - len(measured)
    if others > 0:
        line += (
            f" {others} other trial(s) have none: nothing confirmed to re-measure, or a store "
            "from before lassi-ee recorded it."
        )
    return line


def _category_counts(
    records: Sequence[TrialRecord], devices: list[str]
) -> tuple[list[CategoryCounts], int]:
    """Counts over all devices (when there are several) and per device; and how many
    improved trials recorded no category."""
    per_device: dict[str, Counter[str]] = {device: Counter() for device in devices}
    trials: Counter[str] = Counter()
    uncategorized = 0
    for record in records:
        codes = [c.strip() for c in record.categories.split(",") if c.strip() in CATEGORIES]
        if codes:
            per_device[record.device].update(codes)
            trials[record.device] += 1
        elif record.status == "improved":
            uncategorized += 1
    scopes = [(device, per_device[device], trials[device]) for device in devices]
    if len(devices) > 1:
        overall = sum(per_device.values(), Counter())
        scopes.insert(0, (ALL_DEVICES, overall, sum(trials.values())))
    counts = [
        CategoryCounts(scope=scope, counts={c: counter[c] for c in CATEGORIES}, trials=n)
        for scope, counter, n in scopes
    ]
    return counts, uncategorized


def _sections(report: CampaignReport, asked_ks: Sequence[int]) -> list[Section]:
    metric = reduction_metric(list(report.objectives.values()))
    headings = (
        "pass@k, vanilla vs LASSI-EE (Figure 2)",
        f"{metric}@k, vanilla vs LASSI-EE (Figure 3)",
        f"{metric} per app",
    )
    missing = _no_metrics(report, asked_ks)
    if missing is not None:
        metric_sections = [Section(heading=h, missing=missing) for h in headings]
    else:
        metric_sections = [
            Section(heading=headings[0], plot=_pass_plot(report)),
            Section(heading=headings[1], plot=_reduction_plot(report, metric)),
            Section(heading=headings[2], plot=_per_app_plot(report, metric)),
        ]
    heading = "Optimization categories (Figure 4)"
    categorized = [c for c in report.categories if c.total]
    if categorized:
        category_section = Section(heading=heading, plot=_category_plot(report, categorized))
    elif report.improved == 0:
        category_section = Section(
            heading=heading,
            missing="No trial beat the source, so there are no optimizations to categorize.",
        )
    else:
        category_section = Section(
            heading=heading,
            missing=f"{report.improved} trial(s) beat the source, but none recorded categories "
            "(Stage 4's categorize step found none, or its model failed).",
        )
    return [*metric_sections, category_section]


def _no_metrics(report: CampaignReport, asked_ks: Sequence[int]) -> str | None:
    """Why pass@k and the reductions cannot be plotted; None when they can."""
    if report.trials == report.failed:
        return (
            f"All {report.trials} finished trial(s) failed before Stage 1 (their source could "
            "not be built, run or measured): there is nothing to compare."
        )
    if not report.comparisons:
        return (
            f"No k of {', '.join(map(str, asked_ks))} can be computed yet: some app has fewer "
            "finished trials than the smallest k. Run the campaign further."
        )
    return None


def _metric_scopes(report: CampaignReport) -> list[tuple[str | None, str]]:
    """(device, panel title) per panel: each device, then all devices when there are several."""
    scopes: list[tuple[str | None, str]] = [
        (device, _device_title(device, report.objectives.get(device)))
        for device in report.devices
        if device in report.objectives
    ]
    if len(scopes) > 1:
        scopes.append((None, ALL_DEVICES))
    return scopes


def _device_title(device: str, objective: str | None) -> str:
    return f"{device} (runtime: no energy sensor)" if objective == "runtime" else device


def _stage_series(rows: list[StageComparison], quantity: str) -> list[Series]:
    series = []
    for stage, label in STAGE_SERIES:
        values = [float(getattr(row, f"{stage}_{quantity}")) for row in rows]
        series.append(Series(name=label, values=values, texts=[percent(v) for v in values]))
    return series


def _mean_rows(report: CampaignReport, device: str | None) -> list[StageComparison]:
    rows = [r for r in report.comparisons if r.app is None and r.device == device]
    return sorted(rows, key=lambda row: row.k)


def _by_k_panels(
    report: CampaignReport, quantity: str, y_label: Callable[[list[str]], str]
) -> list[Panel]:
    """A panel per scope with a bar per k; ``y_label`` names the metric for the scope's
    objectives."""
    panels = []
    for device, title in _metric_scopes(report):
        rows = _mean_rows(report, device)
        objectives = [report.objectives[device]] if device else list(report.objectives.values())
        panels.append(
            Panel(
                title=title,
                y_label=y_label(objectives),
                x_labels=[f"k={row.k}" for row in rows],
                series=_stage_series(rows, quantity),
            )
        )
    return panels


def _pass_plot(report: CampaignReport) -> BarPlot:
    return BarPlot(
        name="pass_at_k",
        title="pass@k by k: vanilla vs LASSI-EE",
        caption="pass@k: the chance that at least one of k trials yields a valid version. "
        "Vanilla is the zero-shot refactor (Stage 1), LASSI-EE the full pipeline's lowest "
        "valid version, paired by trial. A device averages its apps; 'all devices' averages "
        "every app on every device.",
        panels=_by_k_panels(report, "pass_at_k", lambda _: "pass@k"),
        y_max=1.0,
    )


def _reduction_plot(report: CampaignReport, metric: str) -> BarPlot:
    panels = _by_k_panels(
        report, "energy_reduction_at_k", lambda objectives: f"{reduction_metric(objectives)}@k"
    )
    return BarPlot(
        name="reduction_at_k",
        title=f"{metric}@k by k: vanilla vs LASSI-EE ({objective_phrase(report.objectives)})",
        caption=f"{metric}@k = pass@k × the expected best relative reduction, clamped at 0, "
        "among k valid trials (the paper's energy-reduction@k; the runtime's where a device "
        "has no energy sensor). Vanilla against the full pipeline, paired by trial.",
        panels=panels,
    )


def _per_app_plot(report: CampaignReport, metric: str) -> BarPlot:
    k = min(report.ks)
    panels = []
    for device, title in _metric_scopes(report):
        if device is None:
            continue
        rows = sorted(
            (r for r in report.comparisons if r.device == device and r.app and r.k == k),
            key=lambda row: str(row.app),
        )
        objective = report.objectives[device]
        panels.append(
            Panel(
                title=title,
                y_label=f"{objective}-reduction@{k}",
                x_labels=[str(row.app) for row in rows],
                series=_stage_series(rows, "energy_reduction_at_k"),
            )
        )
    return BarPlot(
        name="per_app",
        title=f"{metric}@{k} per app: vanilla vs LASSI-EE",
        caption=f"Each app's {metric}@{k}: the expected reduction of one trial, counting "
        "invalid trials as none, vanilla against the full pipeline.",
        panels=panels,
    )


def _category_plot(report: CampaignReport, scopes: list[CategoryCounts]) -> BarPlot:
    panels = []
    for scope in scopes:
        shares = [scope.share(c) for c in CATEGORIES]
        texts = [f"{scope.counts[c]} ({percent(scope.share(c))})" for c in CATEGORIES]
        title = scope.scope
        if scope.scope != ALL_DEVICES:
            title = _device_title(scope.scope, report.objectives.get(scope.scope))
        panels.append(
            Panel(
                title=f"{title}: {scope.total} in {scope.trials} trial(s)",
                y_label="share of optimizations",
                x_labels=list(CATEGORIES),
                series=[Series(name="optimizations", values=shares, texts=texts)],
            )
        )
    names = "; ".join(f"{code} {words}" for code, words in CATEGORY_NAMES.items())
    empty = [c.scope for c in report.categories if not c.total]
    caption = (
        "The optimizations in the best version of each trial that beat the source, as Stage 4 "
        f"categorized them ({names}); count and share over each bar."
    )
    if empty:
        caption += f" No optimization was categorized on {', '.join(empty)}."
    if report.uncategorized:
        caption += f" {report.uncategorized} improved trial(s) recorded no categories."
    return BarPlot(
        name="categories",
        title="Optimization categories of the best versions",
        caption=caption,
        panels=panels,
        y_max=1.0,
    )
