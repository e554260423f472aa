"""Words and numbers the HTML page and its Markdown twin share."""

from __future__ import annotations

from lassi_ee.report.trial import TrialReport, VersionRow
from lassi_ee.report.words import no_best_words

OUTCOME_WORDS = {
    "improved": "valid, confirmed lower: new best",
    "not_lower": "valid, not lower",
    "unchanged": "unchanged: an earlier version again",
    "invalid": "invalid",
    "compile_failed": "failed to compile",
    "run_failed": "failed to run",
    "abandoned": "abandoned",
    "pending": "pending",
}


def sentence(text: str) -> str:
    """``text`` with its first letter capitalized (and nothing else changed)."""
    return text[:1].upper() + text[1:]


def outcome_words(outcome: str) -> str:
    return OUTCOME_WORDS.get(outcome, outcome)


def delta(change: float) -> str:
    """A relative change as a signed percentage: -78.3 %."""
    return f"{change * 100:+.1f} %".replace("-", "\u2212")


def _number(value: float | None, unit: str, missing: str) -> str:
    return f"{value:.4g} {unit}" if value is not None else missing


def _change(source: float | None, best: float | None) -> float | None:
    if source is None or best is None or source == 0:
        return None
    return (best - source) / source


def claim_text(report: TrialReport) -> str:
    """What the trial claims, and what the claim rests on, in one paragraph."""
    result = report.result
    evidence = f" Stage 4's re-measurement: {result.evidence}." if result.evidence else ""
    evidence += "".join(f" The trial {move}." for move in result.board_moves)
    if result.status == "improved" and result.reduction is not None:
        interval = ""
        if result.reduction_ci95 is not None:
            low, high = result.reduction_ci95
            interval = f" (95 % confidence interval {100 * low:.1f} % to {100 * high:.1f} %)"
        return (
            f"Confirmed: v{result.best_version} needs {100 * result.reduction:.1f} % less "
            f"{report.objective_name} than the source{interval}. This is the paired estimate "
            f"of Stage 4's re-measurement, best and source interleaved in one session: "
            f"{result.confirmation}.{evidence} The figures below are each version's own "
            "measurement, taken at different times; they screen candidates but back no claim."
        )
    if result.confirmation:
        return f"No gain is claimed. {result.confirmation.rstrip('.')}.{evidence}"
    if not report.finished:
        return "The trial is not finished; nothing is claimed yet."
    return "No gain is claimed: no version was confirmed lower than the source."


def no_comparison_words(report: TrialReport) -> str:
    """What stands where the comparison report would: why the LLM wrote none."""
    if report.comparison_error:
        return f"the comparison report could not be written ({report.comparison_error})"
    return no_best_words(report.result)


def glance_rows(report: TrialReport) -> list[tuple[str, str, str, float | None]]:
    """(quantity, source, best, relative change) for energy, power and runtime per run."""
    source, best = report.result.source, report.result.best
    no_sensor = "not measured (no sensor)" if report.sensor_note else "not measured"
    no_best = no_best_words(report.result)
    rows = []
    for name, key, unit in (
        ("energy per run (net of idle)", "energy_j", "J"),
        ("average power", "power_w", "W"),
        ("runtime per run", "runtime_s", "s"),
    ):
        before = getattr(source, key)
        after = getattr(best, key) if best is not None else None
        after_text = _number(after, unit, no_sensor) if best is not None else no_best
        rows.append((name, _number(before, unit, no_sensor), after_text, _change(before, after)))
    return rows


def version_figure(report: TrialReport, row: VersionRow) -> str:
    if row.objective_value is None:
        return "not measured"
    cv = f" (cv {row.objective_cv:.1%})" if row.objective_cv is not None else ""
    return f"{row.objective_value:.4g} {report.objective_unit}{cv}"


def version_notes(row: VersionRow) -> list[str]:
    """The reasons cell of a version: its verdict's reasons, what went wrong, its flags,
    what the static guards found and its interleaved re-measurement."""
    notes = [*row.reasons, *([row.problem] if row.problem else [])]
    notes += [f"flagged: {flag}" for flag in row.flags if not any(flag in n for n in notes)]
    notes += [f"guard {finding}" for finding in row.guards]
    if row.check:
        notes.append(f"output check: {row.check}")
    if row.confirmation:
        notes.append(f"confirmation: {row.confirmation}")
    return notes


def usage_rows(report: TrialReport) -> list[tuple[str, ...]]:
    usage = report.result.usage
    rows: list[tuple[str, ...]] = [
        (
            role,
            str(spent.calls),
            str(spent.tokens_in),
            str(spent.tokens_out),
            f"{spent.cost_usd:.4f}",
        )
        for role, spent in usage.by_role.items()
    ]
    rows.append(
        (
            "total",
            str(usage.calls),
            str(usage.tokens_in),
            str(usage.tokens_out),
            f"{usage.cost_usd:.4f}",
        )
    )
    return rows


def plot_captions(report: TrialReport) -> dict[str, str]:
    if report.sensor_note:
        timeline = (
            "When the source and the best version ran during their measurements (no power "
            "was sampled: this device has no power sensor here)."
        )
    else:
        timeline = (
            "Power of the source and the best version during their measurements; dashed: "
            "each one's idle level; shaded: the measured windows of back-to-back runs."
        )
    versions = (
        f"The {report.objective_name} of every version, by iteration (self-corrections just "
        "to the right); dashed: the source. Versions that failed to build or run were never "
        "measured and sit at zero."
    )
    return {"timeline": timeline, "versions": versions}
