"""Do confirmations claim gains that are not there, and find the ones that are?

Three parts, each printing a Markdown table (and, with --out, one JSON line per
decision):

null   the same binary as baseline and candidate: every claim is false. Each
       decision is one confirmation with a trial's own rule
       (DecisionRule.for_trial: confirm_pairs per look up to confirm_max_pairs,
       at the Bonferroni-corrected level).
power  a program against itself doing less work (busy_gpu / busy_cpu with a
       shorter load): the realized ratio is estimated from all pairs pooled, and
       the share of decisions that confirm it is the power.
table  the null and power tables again, from the lines --out recorded
       (to merge the device calls of one session).
replay the recorded decisions taken again, look by look, by today's rule: what a
       change of the rule would have claimed, and after how many pairs.
cost   device time of finished trials from their archives: what their screens
       took (today's procedure) and what the confirmations added.
simulate  the same confirmations on a simulated board (no device): the share of
       decisions that claim, by true ratio and per-window noise.
siblings  whole trials of equal programs on a simulated board (no device), with one
       and with several candidates per Stage-3 step: each sibling screened by its own
       measurement, the lowest screen confirmed afresh. The share of trials that claim
       a gain (every claim is false), with its Clopper-Pearson interval, against the
       trial's false_claim_rate.

    python benchmarks/decisions.py --device cuda:0 null busy:0.1 busy:0.3 \
        examples/jacobi2d@smoke --decisions 7 --out null.jsonl
    python benchmarks/decisions.py --device cuda:0 power --seconds 1.5 \
        --gains 0.05 0.1 --decisions 20
    python benchmarks/decisions.py cost campaigns/null-gpu/runs
    python benchmarks/decisions.py simulate --decisions 400
    python benchmarks/decisions.py siblings --trials 2000 --candidates 1 4

A program is an app directory (``@smoke`` for its smoke arguments) or
``busy:SECONDS``: benchmarks/busy_gpu.cu on a GPU, benchmarks/busy_cpu.cpp on
the cpu device, a load of that many seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lassi_ee.apps import App, load_app  # noqa: E402
from lassi_ee.devices import Device  # noqa: E402
from lassi_ee.energy import backend_for  # noqa: E402
from lassi_ee.energy.decide import DecisionRule, decide, log_ratios  # noqa: E402
from lassi_ee.energy.paired import Confirmation, confirm  # noqa: E402
from lassi_ee.energy.vendors import resolve_device  # noqa: E402
from lassi_ee.settings import Settings  # noqa: E402
from lassi_ee.tools.compile import CompileRequest, compile_app  # noqa: E402
from lassi_ee.tools.profile import batch_runner, decision_rule, measurement_config  # noqa: E402

BUSY = {"cuda": ROOT / "benchmarks" / "busy_gpu.cu", "cpu": ROOT / "benchmarks" / "busy_cpu.cpp"}


def program_app(spec: str, device: Device) -> App:
    """An app from 'busy:SECONDS', 'DIR' or 'DIR@smoke'."""
    if spec.startswith("busy:"):
        source = BUSY["cpu" if device.kind == "cpu" else "cuda"]
        return load_app(source, [spec.split(":", 1)[1]])
    path, _, variant = spec.partition("@")
    app = load_app(path)
    if variant == "smoke" and app.manifest.smoke_args is not None:
        app = load_app(path, list(app.manifest.smoke_args))
    return app


def build(app: App, device: Device, settings: Settings, root: Path) -> Path:
    built = compile_app(
        CompileRequest(app=app, device=device, build_dir=root / f"{app.name}-build"), settings
    )
    if not built.ok or built.binary is None:
        raise SystemExit(f"{app.name} does not build: {built.diagnostics.strip()[:400]}")
    return built.binary


def record(part: str, program: str, device: Device, result: Confirmation) -> dict[str, Any]:
    decision, measurement = result.decision, result.measurement
    return {
        "part": part,
        "program": program,
        "device": device.spec,
        "device_name": device.name,
        "unix": time.time(),
        "pairs": decision.pairs,
        "ratio": decision.ratio,
        "ratio_ci95": decision.ratio_ci95,
        "ratio_upper": decision.ratio_upper,
        "claimed": decision.claimed,
        "confidence": result.rule.confidence,
        "objective": measurement.objective,
        "runs_per_window": measurement.runs_per_window,
        "baseline": measurement.baseline,
        "candidate": measurement.candidate,
        "wall_s": measurement.wall_s,
        "program_s": measurement.program_s,
        "idle_power_w": measurement.idle_power_w,
        "note": measurement.note,
    }


def write(out: Path | None, rows: list[dict[str, Any]]) -> None:
    if out is not None:
        with out.open("a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


def _ratio_range(rows: list[dict[str, Any]]) -> str:
    ratios = [row["ratio"] for row in rows if row["ratio"] is not None]
    return f"{min(ratios):.4f}-{max(ratios):.4f}" if ratios else "-"


class Budget:
    """Stops starting decisions that would not finish inside ``seconds`` (a device call's limit).

    Parts take their decisions round-robin, so a budget that runs out leaves every
    program (or gain) with about the same number of decisions, and the tables are
    printed from whatever finished.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.start = time.monotonic()
        self.longest_s = 0.0

    def allows_another(self) -> bool:
        if self.seconds is None:
            return True
        return time.monotonic() - self.start + self.longest_s <= self.seconds

    def took(self, seconds: float) -> None:
        self.longest_s = max(self.longest_s, seconds)


def decide_once(
    device: Device, baseline: Any, candidate: Any, rule: DecisionRule, settings: Settings,
    labels: tuple[str, str],
) -> Confirmation:  # fmt: skip
    backend = backend_for(device)
    try:
        config = measurement_config(settings)
        return confirm(backend, baseline, candidate, rule, config, None, labels=labels)
    finally:
        backend.close()


def keep(row: dict[str, Any], rows: list[dict[str, Any]], budget: Budget, out: Path | None) -> None:
    """One finished decision: counted against the budget, kept for the table, recorded."""
    budget.took(row["wall_s"])
    rows.append(row)
    write(out, [row])


def run_null(options: argparse.Namespace, device: Device, settings: Settings) -> None:
    rule = decision_rule(settings)
    budget = Budget(options.budget_s)
    rows: list[dict[str, Any]] = []
    print(
        f"null decisions on {device.spec} ({device.name}), {dt.date.today()}: the same binary "
        f"as A and B; rule: {rule.pairs_per_look} pairs per look up to {rule.max_pairs}, "
        f"one-sided {100 * rule.confidence:.4f} % per look, min gain {rule.min_gain:.0%}"
    )
    with tempfile.TemporaryDirectory(prefix="lassi-decisions-") as scratch:
        programs = []
        for spec in options.programs:
            app = program_app(spec, device)
            programs.append((spec, app, build(app, device, settings, Path(scratch))))
        for spec, app, binary in programs * options.decisions:  # round-robin
            if not budget.allows_another():
                break
            runner = batch_runner(app, device, binary, settings, "A")
            result = decide_once(device, runner, runner, rule, settings, ("A", "B"))
            row = record("null", spec, device, result)
            keep(row, rows, budget, options.out)
            print(
                f"  {spec}: {row['pairs']} pairs, B/A {row['ratio']:.4f}, "
                f"{'CLAIMED' if row['claimed'] else 'no claim'}, {row['wall_s']:.1f} s",
                flush=True,
            )
    print_null_table(rows)


def print_null_table(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| program | decisions | false claims | pairs (mean) | B/A range | highest upper bound "
        "| device s/decision | runs per window (A/B) |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---|")
    for spec in dict.fromkeys(row["program"] for row in rows):
        mine = [row for row in rows if row["program"] == spec]
        uppers = [r["ratio_upper"] for r in mine if r["ratio_upper"] is not None]
        highest = f"{max(uppers):.4f}" if uppers else "-"
        windows = sorted({"/".join(map(str, r["runs_per_window"])) for r in mine})
        print(
            f"| {spec} | {len(mine)} | {sum(r['claimed'] for r in mine)} | "
            f"{statistics.fmean(r['pairs'] for r in mine):.1f} | {_ratio_range(mine)} | "
            f"{highest} | {statistics.fmean(r['wall_s'] for r in mine):.1f} | "
            f"{', '.join(windows)} |"
        )
    claims = sum(row["claimed"] for row in rows)
    programs = len({row["program"] for row in rows})
    print(f"\nall: {len(rows)} decisions over {programs} programs, {claims} false claims")


def run_power(options: argparse.Namespace, device: Device, settings: Settings) -> None:
    rule = decision_rule(settings)
    budget = Budget(options.budget_s)
    rows: list[dict[str, Any]] = []
    print(
        f"power on {device.spec} ({device.name}), {dt.date.today()}: busy:{options.seconds} "
        f"against a shorter load; rule as in a trial ({100 * rule.confidence:.4f} % per look)"
    )
    with tempfile.TemporaryDirectory(prefix="lassi-decisions-") as scratch:
        baseline_app = program_app(f"busy:{options.seconds}", device)
        binary = build(baseline_app, device, settings, Path(scratch))
        shorter = [
            (gain, program_app(f"busy:{options.seconds * (1 - gain):.4f}", device))
            for gain in options.gains
        ]
        for gain, shorter_app in shorter * options.decisions:  # round-robin
            if not budget.allows_another():
                break
            baseline = batch_runner(baseline_app, device, binary, settings, "full")
            candidate = batch_runner(shorter_app, device, binary, settings, "less work")
            result = decide_once(device, baseline, candidate, rule, settings, ("full", "less work"))
            row = record("power", f"{gain:.0%} less work", device, result)
            row["work_gain"] = gain
            keep(row, rows, budget, options.out)
            print(
                f"  {gain:.0%}: {row['pairs']} pairs, ratio {row['ratio']:.4f}, "
                f"{'confirmed' if row['claimed'] else 'not confirmed'}, {row['wall_s']:.1f} s",
                flush=True,
            )
    print_power_table(rows)


def print_power_table(rows: list[dict[str, Any]]) -> None:
    """Share confirmed per gain, and the realized ratio from all pairs pooled.

    The pooled interval is Student's t on the per-pair log-ratios (scipy), the same
    statistic a decision uses, here at a plain 95 %.
    """
    from scipy import stats

    print("\n| less work | decisions | confirmed | realized ratio (pooled, 95 % CI) | pairs (mean) "
          "| device s/decision |")  # fmt: skip
    print("|---:|---:|---:|---|---:|---:|")
    for gain in dict.fromkeys(row["work_gain"] for row in rows):
        mine = [row for row in rows if row["work_gain"] == gain]
        diffs = [d for row in mine for d in (log_ratios(row["baseline"], row["candidate"]) or [])]
        test = stats.ttest_1samp(diffs, 0.0)
        low, high = test.confidence_interval(0.95)
        confirmed = sum(r["claimed"] for r in mine)
        print(
            f"| {gain:.0%} | {len(mine)} | {confirmed} ({confirmed / len(mine):.0%}) | "
            f"{math.exp(statistics.fmean(diffs)):.4f} ({math.exp(low):.4f}-{math.exp(high):.4f})"
            f" | {statistics.fmean(r['pairs'] for r in mine):.1f} | "
            f"{statistics.fmean(r['wall_s'] for r in mine):.1f} |"
        )


def read_recorded(paths: list[Path]) -> list[dict[str, Any]]:
    """The decisions that --out recorded in these files, one JSON line each."""
    rows = [
        json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()
    ]
    if not rows:
        raise SystemExit("no recorded decisions in " + ", ".join(map(str, paths)))
    return rows


def run_table(options: argparse.Namespace) -> None:
    """Reprint the tables from recorded lines (the calls of one session, merged)."""
    rows = read_recorded(options.recorded)
    null_rows = [row for row in rows if row["part"] == "null"]
    power_rows = [row for row in rows if row["part"] == "power"]
    first, last = min(r["unix"] for r in rows), max(r["unix"] for r in rows)
    when = dt.datetime.fromtimestamp
    print(
        f"{len(rows)} decisions on {rows[0]['device']} ({rows[0]['device_name']}), "
        f"{when(first, dt.UTC):%Y-%m-%d %H:%M}-{when(last, dt.UTC):%H:%M} UTC"
    )
    if null_rows:
        print_null_table(null_rows)
    if power_rows:
        print_power_table(power_rows)


def redecide(row: dict[str, Any]) -> tuple[bool, int]:
    """A recorded decision taken again, look by look, by today's rule at its own level."""
    settings = Settings()
    rule = DecisionRule(
        min_gain=settings.min_energy_gain,
        confidence=row["confidence"],
        pairs_per_look=settings.confirm_pairs,
        max_pairs=settings.confirm_max_pairs,
    )
    baseline, candidate = row["baseline"], row["candidate"]
    pairs = 0
    while pairs < len(baseline):
        pairs = min(pairs + rule.pairs_per_look, len(baseline))
        decision = decide(baseline[:pairs], candidate[:pairs], rule)
        if decision.settled:
            break
    return decision.claimed, pairs


def run_replay(options: argparse.Namespace) -> None:
    """Recorded decisions taken again by today's rule: what a change of the rule would have done."""
    rows = read_recorded(options.recorded)
    print("| part | program | decisions | claimed then | claimed now | pairs then | pairs now |")
    print("|---|---|---:|---:|---:|---:|---:|")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["part"], row["program"]), []).append(row)
    for (part, program), group in groups.items():
        now = [redecide(row) for row in group]
        print(
            f"| {part} | {program} | {len(group)} | {sum(r['claimed'] for r in group)} "
            f"| {sum(claimed for claimed, _ in now)} "
            f"| {statistics.fmean(r['pairs'] for r in group):.1f} "
            f"| {statistics.fmean(pairs for _, pairs in now):.1f} |"
        )


def trial_device_time(archive: Path) -> dict[str, float] | None:
    """Device time of one finished trial: its screens, its confirmations, its final check."""
    manifest_path = archive / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    reference = manifest.get("reference") or {}
    stage0 = (
        0.0 if reference.get("from_cache") else (reference.get("profile") or {}).get("wall_s", 0.0)
    )
    screens = confirmations = 0.0
    confirmed = confirmed_count = 0
    for version in manifest.get("versions", []):
        entry = json.loads((Path(version["folder"]) / "record.json").read_text())
        screens += (entry.get("profile") or {}).get("wall_s", 0.0)
        confirmation = entry.get("confirmation") or {}
        if confirmation:
            confirmed_count += 1
            confirmed += bool((confirmation.get("decision") or {}).get("claimed"))
            confirmations += (confirmation.get("measurement") or {}).get("wall_s", 0.0)
    final = ((manifest.get("final_check") or {}).get("confirmation") or {}).get("measurement")
    final_s = (final or {}).get("wall_s", 0.0)
    return {
        "stage0_s": stage0,
        "screens_s": screens,
        "confirmations_s": confirmations,
        "confirmations": confirmed_count,
        "confirmed": confirmed,
        "final_s": final_s,
    }


def run_cost(options: argparse.Namespace) -> None:
    trials = {}
    for runs_dir in options.runs:
        for archive in sorted(Path(runs_dir).iterdir()):
            figures = trial_device_time(archive)
            if figures is not None:
                trials[archive.name] = figures
    if not trials:
        raise SystemExit("no finished trial archives found")
    print(
        "| trial | Stage 0 s | screens s | confirmations s (count: confirmed) | final s "
        "| ratio to today |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    ratios = []
    extra_s = 0.0
    confirmed = 0
    for name, f in trials.items():
        today = f["stage0_s"] + f["screens_s"]
        now = today + f["confirmations_s"] + f["final_s"]
        ratio = now / today if today else math.nan
        ratios.append(ratio)
        extra_s += f["confirmations_s"] + f["final_s"]
        confirmed += int(f["confirmed"])
        print(
            f"| {name} | {f['stage0_s']:.1f} | {f['screens_s']:.1f} | {f['confirmations_s']:.1f} "
            f"({int(f['confirmations'])}: {int(f['confirmed'])}) | {f['final_s']:.1f} "
            f"| {ratio:.2f}x |"
        )
    print(f"\nmean device-time ratio to today's procedure: {statistics.fmean(ratios):.2f}x "
          f"over {len(ratios)} trials")  # fmt: skip
    if confirmed:
        print(f"extra device time per confirmed gain (confirmations and final checks): "
              f"{extra_s / confirmed:.1f} s over {confirmed}")  # fmt: skip


def run_simulate(options: argparse.Namespace) -> None:
    """Claim rates of a trial's rule on simulated windows: runtime = ratio x (1 + noise x t5)."""
    import numpy as np

    from lassi_ee.energy.clock import FakeClock
    from lassi_ee.energy.none import NoSensorBackend

    settings = Settings(min_window_s=0.5)
    config = measurement_config(settings)
    rule = decision_rule(settings)
    rng = np.random.default_rng(options.seed)
    clock = FakeClock()
    backend = NoSensorBackend("simulated-0", "a simulated board")

    def program(ratio: float, noise: float) -> Any:
        def run_batch(runs: int) -> list[float]:
            runtimes = [
                ratio * max(1 + noise * float(rng.standard_t(5)), 0.05) for _ in range(runs)
            ]
            clock.sleep(sum(runtimes))
            return runtimes

        return run_batch

    noises = (0.01, 0.02, 0.03, 0.05)
    print(
        f"simulated confirmations ({options.decisions} per cell; per-window noise: Student t, "
        f"5 degrees of freedom); rule: {rule.pairs_per_look} pairs per look up to "
        f"{rule.max_pairs}, {100 * rule.confidence:.4f} % per look, min gain {rule.min_gain:.0%}"
    )
    print("\n| true ratio | " + " | ".join(f"noise {n:.0%}" for n in noises) + " |")
    print("|---:|" + "---:|" * len(noises))
    for ratio in (1.0, 0.97, 0.95, 0.9, 0.85):
        cells = []
        for noise in noises:
            results = [
                confirm(backend, program(1.0, noise), program(ratio, noise), rule, config,
                        None, clock=clock)
                for _ in range(options.decisions)
            ]  # fmt: skip
            claimed = sum(r.decision.claimed for r in results)
            pairs = statistics.fmean(r.decision.pairs for r in results)
            cells.append(f"{claimed / len(results):.0%} ({pairs:.1f} pairs)")
        print(f"| {ratio:.2f} | " + " | ".join(cells) + " |", flush=True)


def run_siblings(options: argparse.Namespace) -> None:
    """False claims of whole trials whose every version equals the source, by candidates per step.

    A trial is Stage 1's one candidate, then ``max_iterations`` steps of n siblings (all of
    them: a real trial stops earlier, with fewer confirmations). A screen is ``repeats``
    windows of one measurement, each window ``1 + noise x t5``, the whole measurement
    moved by a drift ``1 + drift x N(0, 1)`` of its own (figures taken minutes apart moved
    3-8 % on the H200), against the best's screen (the source's, or a falsely confirmed
    version's). The siblings the screen finds lower (``screen_lower``, the trial's margins)
    are picked from as pick_sibling does, the lowest screen, and that one is confirmed
    with the trial's rule on fresh interleaved windows (``confirm``, no drift inside one
    session). A claim makes the sibling the best, as in a trial.
    """
    import numpy as np
    from scipy import stats

    from lassi_ee.energy.base import EnergyMeasurement, EnergyProfile, Stats
    from lassi_ee.energy.clock import FakeClock
    from lassi_ee.energy.decide import screen_lower
    from lassi_ee.energy.none import NoSensorBackend

    rng = np.random.default_rng(options.seed)
    clock = FakeClock()
    backend = NoSensorBackend("simulated-0", "a simulated board")

    def window() -> float:
        return max(1 + options.noise * float(rng.standard_t(5)), 0.05)

    def screen(repeats: int) -> EnergyProfile:
        """One measurement of the program: its own drift, then ``repeats`` windows."""
        drift = 1 + options.drift * float(rng.standard_normal())
        runtimes = [drift * window() for _ in range(repeats)]
        windows = [
            EnergyMeasurement(method="time-only", runs_in_window=1, runtime_s=r, window_s=r)
            for r in runtimes
        ]
        return EnergyProfile(
            objective="runtime", method="time-only", backend=backend.describe(),
            measurements=windows, runs_per_window=1, warmup_runtime_s=runtimes[0],
            runtime_s=Stats.of(runtimes), wall_s=sum(runtimes), program_s=sum(runtimes),
            overhead_s=0.0,
        )  # fmt: skip

    def run_batch(runs: int) -> list[float]:
        runtimes = [window() for _ in range(runs)]
        clock.sleep(sum(runtimes))
        return runtimes

    def trial(settings: Settings, siblings: int) -> tuple[int, int]:
        """(confirmations, false claims) of one trial."""
        rule = decision_rule(settings)
        config = measurement_config(settings)
        best = screen(settings.repeats)  # Stage 0: the source's own measurement
        confirmations = claims = 0
        for step_size in [1] + [siblings] * settings.max_iterations:
            screens = [screen(settings.repeats) for _ in range(step_size)]
            lower = [
                profile
                for profile in screens
                if screen_lower(best, profile, settings.min_energy_gain, settings.noise_sigmas)
            ]
            if not lower:
                continue
            chosen = min(lower, key=lambda profile: profile.objective_stats.mean)
            confirmations += 1
            result = confirm(backend, run_batch, run_batch, rule, config, None, clock=clock)
            if result.decision.claimed:
                claims += 1
                best = chosen
        return confirmations, claims

    print(
        f"simulated trials of equal programs ({options.trials} per row): per-window noise "
        f"{options.noise:.0%} (Student t, 5 degrees of freedom), each measurement's drift "
        f"{options.drift:.0%} (normal); every step of max_iterations taken"
    )
    print(
        "\n| false_claim_rate | min_energy_gain | candidates per step | confirmations per trial "
        "| false claims per confirmation (95 % CI) | trials with a false claim (95 % CI) "
        "| within the rate |"
    )
    print("|---:|---:|---:|---:|---|---|---|")
    for level in options.levels:
        rate, min_gain = (float(part) for part in level.split(":"))
        settings = Settings(min_window_s=0.5, false_claim_rate=rate, min_energy_gain=min_gain)
        for siblings in options.candidates:
            outcomes = [trial(settings, siblings) for _ in range(options.trials)]
            confirmations = sum(done for done, _ in outcomes)
            claims = sum(claimed for _, claimed in outcomes)
            false_trials = sum(claimed > 0 for _, claimed in outcomes)
            per_trial = stats.binomtest(false_trials, options.trials).proportion_ci(
                confidence_level=0.95, method="exact"
            )
            per_confirmation = _share(claims, confirmations)
            within = "yes" if per_trial.high <= rate else "not shown"
            print(
                f"| {rate:.0%} | {min_gain:.0%} | {siblings} | "
                f"{confirmations / options.trials:.2f} | "
                f"{per_confirmation} | {false_trials / options.trials:.2%} "
                f"({per_trial.low:.2%}-{per_trial.high:.2%}) | {within} |",
                flush=True,
            )


def _share(count: int, total: int) -> str:
    """count / total with its Clopper-Pearson 95 % interval (scipy's exact binomial)."""
    if total == 0:
        return "-"
    from scipy import stats

    interval = stats.binomtest(count, total).proportion_ci(confidence_level=0.95, method="exact")
    return f"{count / total:.2%} ({interval.low:.2%}-{interval.high:.2%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="append one JSON line per decision here")
    parts = parser.add_subparsers(dest="part", required=True)
    null = parts.add_parser("null")
    null.add_argument("programs", nargs="+")
    null.add_argument("--decisions", type=int, default=7, help="decisions per program")
    null.add_argument("--budget-s", type=float, help="start no decision that would end later")
    power = parts.add_parser("power")
    power.add_argument("--seconds", type=float, default=1.5, help="the full load")
    power.add_argument("--gains", type=float, nargs="+", default=[0.05, 0.1])
    power.add_argument("--decisions", type=int, default=20, help="decisions per gain")
    power.add_argument("--budget-s", type=float, help="start no decision that would end later")
    cost = parts.add_parser("cost")
    cost.add_argument("runs", nargs="+", help="runs directories holding trial archives")
    simulate = parts.add_parser("simulate")
    simulate.add_argument("--decisions", type=int, default=400, help="decisions per cell")
    simulate.add_argument("--seed", type=int, default=0)
    siblings = parts.add_parser("siblings")
    siblings.add_argument("--trials", type=int, default=1000, help="trials per row")
    siblings.add_argument("--candidates", type=int, nargs="+", default=[1, 4])
    siblings.add_argument(
        "--levels", nargs="+", default=["0.01:0.02", "0.2:0"],
        help="false_claim_rate:min_energy_gain of the trials, one set of rows each; the "
        "defaults' own, and a loose pair under which claims are seen at all",
    )  # fmt: skip
    siblings.add_argument("--noise", type=float, default=0.01, help="per-window noise")
    siblings.add_argument("--drift", type=float, default=0.03, help="per-measurement drift")
    siblings.add_argument("--seed", type=int, default=0)
    table = parts.add_parser("table")
    table.add_argument("recorded", nargs="+", type=Path, help="JSON lines written with --out")
    replay = parts.add_parser("replay")
    replay.add_argument("recorded", nargs="+", type=Path, help="JSON lines written with --out")
    options = parser.parse_args()
    if options.part == "table":
        run_table(options)
        return
    if options.part == "replay":
        run_replay(options)
        return
    if options.part == "cost":
        run_cost(options)
        return
    if options.part == "simulate":
        run_simulate(options)
        return
    if options.part == "siblings":
        run_siblings(options)
        return
    settings = Settings()
    device = resolve_device(options.device)
    if options.part == "null":
        run_null(options, device, settings)
    else:
        run_power(options, device, settings)


if __name__ == "__main__":
    main()
