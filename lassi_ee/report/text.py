"""Words and numbers the HTML page and its Markdown twin share."""

from __future__ import annotations

from lassi_ee.report.console import no_best_words, stop_words
from lassi_ee.report.trial import TrialReport, VersionRow

__all__ = ["no_best_words", "stop_words"]  # the pages' words, shared with the console

OUTCOME_WORDS = {
    "improved": "valid, lower: new best",
    "not_lower": "valid, not lower",
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
