"""The paper's Tables 2, 3 and 4 from a campaign's trial records, as Markdown and CSV.

- Table 2: per app and device, the source against LASSI-EE's best version (energy,
  power, runtime and their deltas), averaged over the trials that were valid and
  reduced the objective: those whose status is "improved", i.e. whose gain Stage 4's
  interleaved re-measurement confirmed; and each such trial's paired estimate with
  its 95 % interval.
- Table 3: per app and device, the best trial's self-corrections and the iteration
  that found its best version, and the mean pipeline time of all trials.
- Table 4: pass@k and energy-reduction@k per device and over all devices, vanilla
  (Stage 1) against the full pipeline (its lowest valid version), paired by trial.
  The paper's energy-reduction@k takes each valid version's separate measurement at
  face value; the *confirmed* energy-reduction@k counts only gains an interleaved
  re-measurement confirmed (any other valid version counts as no reduction).

Trials whose source could not be used (status "failed") are left out of every
table, and each table says how many there were. Where a device has no energy
sensor the objective is runtime, and the titles say so.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from lassi_ee.calibrate import Calibration
from lassi_ee.campaign.store import TrialRecord, Version
from lassi_ee.metrics import Stage, TrialOutcome, compare_stages

Format = Literal["text", "int", "figure", "pct", "delta_pct", "points"]
ReductionBasis = Literal["paper", "confirmed"]
QUANTITIES = (("energy_j", "energy (J)"), ("power_w", "power (W)"), ("runtime_s", "runtime (s)"))
ALL_DEVICES = "all"
PAIRING: tuple[tuple[Stage, Version], ...] = (("vanilla", "vanilla"), ("full", "final"))


class Column(BaseModel):
    key: str  # the CSV header and the row's key
    header: str  # the Markdown header
    format: Format = "text"


class Table(BaseModel):
    """One table: Markdown for people, CSV (raw numbers, fractions not percents) for tools."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    notes: list[str] = []

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(c.header for c in self.columns) + " |")
        lines.append(
            "|" + "|".join("---" if c.format == "text" else "---:" for c in self.columns) + "|"
        )
        for row in self.rows:
            cells = [cell.replace("|", "\\|") for cell in self.cells(row)]
            lines.append("| " + " | ".join(cells) + " |")
        if not self.rows:
            lines.append("| " + " | ".join("" for _ in self.columns) + " |")
        lines += ["", *(f"{note}" for note in self.notes)]
        return "\n".join(lines).rstrip() + "\n"

    def cells(self, row: dict[str, Any]) -> list[str]:
        """One row as people read it: percentages, '-' where there is no value."""
        return [_cell(row.get(c.key), c.format) for c in self.columns]

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer,
            fieldnames=[c.key for c in self.columns],
            extrasaction="ignore",
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()


def _cell(value: Any, form: Format) -> str:
    if value is None:
        return "-"
    if form == "int":
        return str(int(value))
    if form == "figure":
        return f"{value:.4g}"
    if form == "pct":
        return f"{100 * value:.1f}%"
    if form == "delta_pct":
        return f"{value:+.1f}%"
    if form == "points":
        return f"{100 * value:+.1f} pp"
    return str(value)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def _delta_pct(before: float | None, after: float | None) -> float | None:
    """(after - before) / before in percent: negative is a reduction."""
    if before is None or after is None or before == 0:
        return None
    return 100 * (after - before) / before


def device_objectives(records: Iterable[TrialRecord]) -> dict[str, str]:
    """Each device's objective, as its trials measured it."""
    objectives: dict[str, str] = {}
    for record in records:
        if record.objective is not None:
            objectives.setdefault(record.device, record.objective)
    return objectives


def objective_phrase(objectives: dict[str, str]) -> str:
    """Plain words for the title: which devices compare runtime instead of energy."""
    runtime = sorted(device for device, objective in objectives.items() if objective == "runtime")
    if not runtime:
        return "objective: energy"
    devices = ", ".join(runtime)
    if len(runtime) == len(objectives):
        return f"objective: RUNTIME, not energy: no energy sensor on {devices}"
    return f"objective: energy, but RUNTIME on {devices}: no energy sensor there"


def _failed_note(failed: int) -> list[str]:
    if not failed:
        return []
    return [f"{failed} trial(s) whose source could not be built, run or measured are left out."]


def _by_task(records: Iterable[TrialRecord]) -> dict[tuple[str, str], list[TrialRecord]]:
    tasks: defaultdict[tuple[str, str], list[TrialRecord]] = defaultdict(list)
    for record in records:
        tasks[(record.device, record.app)].append(record)
    return dict(sorted(tasks.items()))


def table2(records: Sequence[TrialRecord]) -> Table:
    usable = [r for r in records if r.status != "failed"]
    objectives = device_objectives(usable)
    columns = [
        Column(key="device", header="device"),
        Column(key="app", header="app"),
        Column(key="objective", header="objective"),
        Column(key="trials", header="trials", format="int"),
        Column(key="reducing", header="reducing", format="int"),
    ]
    for quantity, label in QUANTITIES:
        columns += [
            Column(key=f"source_{quantity}", header=f"source {label}", format="figure"),
            Column(key=f"lassi_{quantity}", header=f"LASSI-EE {label}", format="figure"),
            Column(key=f"delta_{quantity}_pct", header="Δ", format="delta_pct"),
        ]
    columns.append(Column(key="paired", header="paired reduction [95 % CI] per trial"))
    rows = []
    for (device, app), trials in _by_task(usable).items():
        reducing = [r for r in trials if r.status == "improved"]
        row: dict[str, Any] = {
            "device": device,
            "app": app,
            "objective": objectives.get(device),
            "trials": len(trials),
            "reducing": len(reducing),
        }
        for quantity, _ in QUANTITIES:
            source = _mean(r.figure("source", quantity) for r in reducing)
            lassi = _mean(r.figure("best", quantity) for r in reducing)
            row[f"source_{quantity}"] = source
            row[f"lassi_{quantity}"] = lassi
            row[f"delta_{quantity}_pct"] = _delta_pct(source, lassi)
        row["paired"] = "; ".join(_paired(r) for r in reducing)
        rows.append(row)
    notes = [
        "Means over the trials whose gain Stage 4 confirmed ('reducing'): the best version "
        "and the source re-measured interleaved in one session, the 95 % interval of the "
        "reduction above 0. The energy, power and runtime columns are each version's own "
        "measurement (as the paper reports them); the last column is each reducing trial's "
        "paired estimate, what the claim rests on. Δ = (LASSI-EE - source) / source. Energy "
        "is net of idle, per run; '-' where a device has no energy sensor.",
        *_failed_note(len(records) - len(usable)),
    ]
    return Table(
        name="table2",
        title="Table 2: source vs LASSI-EE, energy, power and runtime "
        f"({objective_phrase(objectives)})",
        columns=columns,
        rows=rows,
        notes=notes,
    )


def _paired(record: TrialRecord) -> str:
    """'#3: 12.4 % [10.1, 14.6]': one trial's paired reduction and its 95 % interval."""
    if record.reduction is None:
        return f"#{record.trial}: -"
    interval = ""
    if record.reduction_ci_low is not None and record.reduction_ci_high is not None:
        interval = f" [{100 * record.reduction_ci_low:.1f}, {100 * record.reduction_ci_high:.1f}]"
    return f"#{record.trial}: {100 * record.reduction:.1f} %{interval}"


def best_trial(trials: Iterable[TrialRecord]) -> TrialRecord | None:
    """The trial with the largest reduction among those that improved (lowest index on ties)."""
    improved = [r for r in trials if r.status == "improved" and r.reduction is not None]
    return min(improved, key=lambda r: (-(r.reduction or 0.0), r.trial), default=None)


def table3(records: Sequence[TrialRecord]) -> Table:
    usable = [r for r in records if r.status != "failed"]
    objectives = device_objectives(usable)
    columns = [
        Column(key="device", header="device"),
        Column(key="app", header="app"),
        Column(key="objective", header="objective"),
        Column(key="trials", header="trials", format="int"),
        Column(key="best_trial", header="best trial", format="int"),
        Column(key="best_reduction", header="its reduction", format="pct"),
        Column(key="self_corrections", header="self-corrections", format="int"),
        Column(key="best_iteration", header="iteration of the best", format="int"),
        Column(key="mean_pipeline_s", header="mean pipeline time (s)", format="figure"),
    ]
    rows = []
    for (device, app), trials in _by_task(usable).items():
        best = best_trial(trials)
        rows.append(
            {
                "device": device,
                "app": app,
                "objective": objectives.get(device),
                "trials": len(trials),
                "best_trial": best.trial if best else None,
                "best_reduction": best.reduction if best else None,
                "self_corrections": best.self_corrections if best else None,
                "best_iteration": best.best_iteration if best else None,
                "mean_pipeline_s": _mean(r.pipeline_s for r in trials),
            }
        )
    notes = [
        "The best trial reduced the objective most; its self-corrections count every compile "
        "or runtime fix in the trial, and iteration 0 means the vanilla version (Stage 1) was "
        "the best. The mean pipeline time is over all the app's trials.",
        *_failed_note(len(records) - len(usable)),
    ]
    return Table(
        name="table3",
        title=f"Table 3: the best trial and the pipeline time ({objective_phrase(objectives)})",
        columns=columns,
        rows=rows,
        notes=notes,
    )


def _confirmed_ratio(record: TrialRecord, stage: Stage) -> float:
    """best / source as confirmed by an interleaved re-measurement; 1 where none held."""
    if stage == "vanilla":
        reduction = record.vanilla_confirmed_reduction
    else:
        reduction = record.reduction if record.status == "improved" else None
    return 1.0 - reduction if reduction is not None else 1.0


def trial_outcomes(
    records: Iterable[TrialRecord], basis: ReductionBasis = "paper"
) -> list[TrialOutcome]:
    """Each usable trial as two outcomes, vanilla and full.

    ``paper``: in the objective's unit, each valid version's own measurement against
    the source's. ``confirmed``: the source as 1 and a valid version as its confirmed
    ratio, so only confirmed gains reduce anything.
    """
    outcomes = []
    for record in records:
        source = record.figure("source")
        if record.status == "failed" or not source:
            continue
        for stage, version in PAIRING:
            valid = record.vanilla_valid if stage == "vanilla" else record.final_valid
            if basis == "confirmed":
                value = _confirmed_ratio(record, stage) if valid else None
                source = 1.0
            else:
                value = record.figure(version) if valid else None
            outcomes.append(
                TrialOutcome(
                    app=record.app,
                    device=record.device,
                    trial=record.trial,
                    stage=stage,
                    valid=value is not None,
                    energy_j=value,
                    source_energy_j=source,
                )
            )
    return outcomes


def usable_ks(outcomes: Sequence[TrialOutcome], ks: Sequence[int]) -> list[int]:
    """The ks every task has enough paired trials for (a campaign may be unfinished)."""
    stages: defaultdict[tuple[str, str, int], int] = defaultdict(int)
    for outcome in outcomes:
        stages[(outcome.device, outcome.app, outcome.trial)] += 1
    per_task: defaultdict[tuple[str, str], int] = defaultdict(int)
    for (device, app, _), count in stages.items():
        per_task[(device, app)] += count == 2
    fewest = min(per_task.values(), default=0)
    return [k for k in sorted(set(ks)) if k <= fewest]


def table4(records: Sequence[TrialRecord], ks: Sequence[int]) -> Table:
    usable = [r for r in records if r.status != "failed"]
    objectives = device_objectives(usable)
    outcomes = trial_outcomes(usable)
    kept = usable_ks(outcomes, ks)
    comparisons = compare_stages(outcomes, kept) if kept else []
    confirmed = compare_stages(trial_outcomes(usable, "confirmed"), kept) if kept else []
    confirmed_by_key = {(row.device, row.k): row for row in confirmed if row.app is None}
    columns = [
        Column(key="device", header="device"),
        Column(key="objective", header="objective"),
        Column(key="k", header="k", format="int"),
        Column(key="tasks", header="apps", format="int"),
        Column(key="trials", header="trials", format="int"),
        Column(key="vanilla_pass_at_k", header="pass@k vanilla", format="pct"),
        Column(key="full_pass_at_k", header="pass@k LASSI-EE", format="pct"),
        Column(key="delta_pass_at_k", header="Δ", format="points"),
        Column(key="vanilla_energy_reduction_at_k", header="ER@k vanilla", format="pct"),
        Column(key="full_energy_reduction_at_k", header="ER@k LASSI-EE", format="pct"),
        Column(key="delta_energy_reduction_at_k", header="Δ", format="points"),
        Column(
            key="vanilla_confirmed_reduction_at_k", header="confirmed ER@k vanilla", format="pct"
        ),
        Column(key="full_confirmed_reduction_at_k", header="confirmed ER@k LASSI-EE", format="pct"),
    ]
    rows = []
    for row in comparisons:
        if row.app is not None:
            continue
        device = row.device or ALL_DEVICES
        objective = (
            objectives.get(device) if row.device else "/".join(sorted(set(objectives.values())))
        )
        rows.append(
            {
                "device": device,
                "objective": objective,
                "k": row.k,
                "tasks": row.n_tasks,
                "trials": row.n_pairs,
                **{
                    key: getattr(row, key)
                    for key in (
                        "vanilla_pass_at_k",
                        "full_pass_at_k",
                        "delta_pass_at_k",
                        "vanilla_energy_reduction_at_k",
                        "full_energy_reduction_at_k",
                        "delta_energy_reduction_at_k",
                    )
                },
                "vanilla_confirmed_reduction_at_k": confirmed_by_key[
                    (row.device, row.k)
                ].vanilla_energy_reduction_at_k,
                "full_confirmed_reduction_at_k": confirmed_by_key[
                    (row.device, row.k)
                ].full_energy_reduction_at_k,
            }
        )
    notes = [
        "Vanilla is the zero-shot refactor (Stage 1); LASSI-EE is the full pipeline's lowest "
        "valid version, paired by trial. ER@k = pass@k x the expected best relative reduction "
        "among k valid trials (energy-reduction@k; runtime reduction where the objective is "
        "runtime). Devices average their apps; 'all' averages every app on every device. "
        "Δ is LASSI-EE minus vanilla, in percentage points.",
        "ER@k is the paper's metric: each valid version's own measurement against the "
        "source's, taken at different times, so measurement drift counts as gain. Confirmed "
        "ER@k counts only gains an interleaved re-measurement confirmed (vanilla: its Stage-1 "
        "confirmation; LASSI-EE: Stage 4's paired estimate), every other valid version as "
        "no reduction: the figure to rely on.",
        *_failed_note(len(records) - len(usable)),
    ]
    dropped = sorted(set(ks) - set(kept))
    if dropped:
        notes.append(
            f"k = {', '.join(map(str, dropped))} left out: some app has fewer finished trials."
        )
    return Table(
        name="table4",
        title="Table 4: pass@k and energy-reduction@k, vanilla vs LASSI-EE "
        f"({objective_phrase(objectives)})",
        columns=columns,
        rows=rows,
        notes=notes,
    )


def noise_floor_table(
    records: Sequence[TrialRecord], calibrations: Mapping[tuple[str, str], Calibration]
) -> Table:
    """Each app's noise floor on each device, where ``lassi-ee calibrate`` measured one."""
    columns = [
        Column(key="device", header="device"),
        Column(key="app", header="app"),
        Column(key="measured", header="calibrated"),
        Column(key="pairs", header="pairs", format="int"),
        Column(key="spread", header="paired spread", format="pct"),
        Column(key="detectable", header="min. detectable gain (95 %)", format="pct"),
        Column(key="trial_detectable", header="confirmable in a trial", format="pct"),
    ]
    rows = []
    missing = []
    for device, app in sorted({(r.device, r.app) for r in records}):
        calibration = calibrations.get((app, device))
        if calibration is None:
            missing.append(f"{app} on {device}")
            continue
        rows.append(
            {
                "device": device,
                "app": app,
                "measured": time.strftime("%Y-%m-%d %H:%M", time.gmtime(calibration.measured_unix))
                + " UTC",
                "pairs": calibration.pairs,
                "spread": calibration.spread,
                "detectable": calibration.minimum_detectable_gain,
                "trial_detectable": calibration.trial_detectable_gain,
            }
        )
    notes = [
        "From `lassi-ee calibrate APP --device D`: the same binary measured as A and B, "
        "interleaved as a confirmation measures best and candidate. The paired spread is the "
        "stdev of ln(B/A) per pair; the minimum detectable gain is the smallest gain those "
        "pairs would confirm at 95 % (min_energy_gain included); 'confirmable in a trial' "
        "uses a trial's own rule (its most pairs, at its corrected level). A reduction below "
        "these cannot be told from noise on that device."
    ]
    if missing:
        notes.append(f"Not calibrated: {', '.join(missing)}.")
    return Table(
        name="noise_floor",
        title="Noise floor per app and device (lassi-ee calibrate)",
        columns=columns,
        rows=rows,
        notes=notes,
    )


def build_tables(
    records: Sequence[TrialRecord],
    ks: Sequence[int],
    calibrations: Mapping[tuple[str, str], Calibration] | None = None,
) -> list[Table]:
    tables = [table2(records), table3(records), table4(records, ks)]
    if calibrations:
        tables.append(noise_floor_table(records, calibrations))
    return tables


def write_tables(tables: Sequence[Table], out_dir: Path, heading: str) -> list[Path]:
    """``NAME.md`` and ``NAME.csv`` per table, and ``tables.md`` with all of them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        for suffix, text in ((".md", table.markdown()), (".csv", table.csv())):
            path = out_dir / f"{table.name}{suffix}"
            path.write_text(text)
            written.append(path)
    combined = out_dir / "tables.md"
    combined.write_text(f"# {heading}\n\n" + "\n".join(t.markdown() for t in tables))
    return [combined, *written]
