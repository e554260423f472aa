"""The trial report's Markdown twin: the same sections, plots as SVG files beside it."""

from __future__ import annotations

import difflib

from lassi_ee.report.text import (
    claim_text,
    delta,
    glance_rows,
    no_comparison_words,
    outcome_words,
    plot_captions,
    sentence,
    usage_rows,
    version_figure,
    version_notes,
)
from lassi_ee.report.trial import NO_PROFILE, PROFILE_HEADING, TrialReport
from lassi_ee.report.words import iterations_words, no_best_words, stop_words
from lassi_ee.tools.hotspots import KERNEL_TABLE_HEAD


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fenced(text: str, lang: str = "text") -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _profile(report: TrialReport) -> list[str]:
    """Stage 0's profiler findings: every kernel's figures, then the notes around them."""
    if report.hotspots is None:
        return [NO_PROFILE]
    rows = report.hotspots.kernel_rows()
    table = [_table(KERNEL_TABLE_HEAD, rows)] if rows else []
    return table + report.hotspots.report_notes()


def render_markdown(report: TrialReport, plot_files: dict[str, str]) -> str:
    """The report in Markdown; ``plot_files`` maps plot names to paths relative to it."""
    result = report.result
    captions = plot_captions(report)
    parts = [
        f"# lassi-ee trial report: {result.app or 'trial'} on {result.device or '?'}",
        f"Trial `{report.thread_id}` · {report.device_facts} · status **{result.status}** · "
        f"objective: {report.objective_name} · {result.versions} versions, "
        f"{iterations_words(result)}, {result.self_corrections} self-corrections · stopped: "
        f"{stop_words(result)}",
    ]
    if report.scripted:
        parts.append(
            "> **Scripted demo.** The LLM replies in this trial came from lassi-ee's scripted "
            "demo model, not from an LLM. The compiles, runs, output checks and measurements "
            "are real."
        )
    if report.sensor_note:
        parts.append(f"> {report.sensor_note}")
    parts += [f"> **Output check:** {warning}" for warning in report.check_warnings]
    if result.error:
        parts.append(f"> **Error:** {result.error}")
    if not report.finished:
        parts.append(f"> This trial is not finished: `lassi-ee resume {report.thread_id}`.")

    best = f"best ({report.best_label})" if report.best_label else "best"
    parts.append("## Outcome at a glance")
    parts.append(claim_text(report))
    parts.append(
        _table(
            ["", "source", best, "change"],
            [
                [name, source, after, delta(change) if change is not None else "-"]
                for name, source, after, change in glance_rows(report)
            ],
        )
    )
    parts.append(
        "## Measurement timeline (no power sensor)" if report.sensor_note else "## Power timeline"
    )
    parts.append(f"![{captions['timeline']}]({plot_files['timeline']})\n\n{captions['timeline']}")
    parts.append(PROFILE_HEADING)
    parts += _profile(report)
    parts.append("## Every version")
    parts.append(f"![{captions['versions']}]({plot_files['versions']})\n\n{captions['versions']}")

    parts.append("## Versions, verdicts and reasons")
    rows = []
    for row in report.versions:
        notes = version_notes(row)
        rows.append(
            [
                row.label + (" ★ best" if row.is_best else ""),
                f"{row.temperature:.1f}" if row.temperature is not None else "-",
                outcome_words(row.outcome),
                version_figure(report, row),
                f"{row.verdict} ({row.verdict_by})" if row.verdict else "-",
                "; ".join(notes),
            ]
        )
    parts.append(
        _table(
            ["version", "temperature", "outcome", report.objective_name, "verdict", "reasons"],
            rows,
        )
    )

    parts.append("## Best version against the source")
    if report.best_code is None:
        parts.append(f"{sentence(no_best_words(result))}, so there is nothing to compare.")
    else:
        diff = difflib.unified_diff(
            report.source_code.splitlines(),
            report.best_code.splitlines(),
            "source",
            report.best_label or "best",
            lineterm="",
        )
        parts.append(_fenced("\n".join(diff), "diff"))

    parts.append("## Refactoring plans")
    parts += [f"### Plan {n}\n\n{plan.strip()}" for n, plan in enumerate(report.plans, 1)] or [
        "No plan was written."
    ]
    parts.append("## Comparison analysis")
    parts.append(report.comparison or f"No comparison: {no_comparison_words(report)}.")
    if report.docs_summary or report.analysis:
        parts.append("## Context the plans were written from")
        parts.append(f"### Summary of the programming notes\n\n{report.docs_summary.strip()}")
        parts.append(f"### Latest code analysis\n\n{report.analysis.strip()}")

    parts.append("## Tokens and cost")
    parts.append(
        _table(
            ["role", "calls", "tokens in", "tokens out", "cost (USD)"],
            [list(row) for row in usage_rows(report)],
        )
    )
    if result.usage.unpriced_models:
        parts.append(
            f"No price is set for {', '.join(result.usage.unpriced_models)}: their cost counts "
            "as $0 (LASSI_PRICES_PER_MTOK sets prices)."
        )
    return "\n\n".join(parts) + "\n"
