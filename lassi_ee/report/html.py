"""The trial report as one self-contained HTML page (plots inline, no network).

Each plot is an SVG embedded as a data URI. A small script marks each plot
``data-rendered`` once the browser has decoded it and sums them up on the
body (``data-plots-rendered="2/2"``), so a headless browser can check that
every plot rendered.
"""

from __future__ import annotations

import base64
import difflib
import time
from html import escape

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

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222;
       padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .banner { padding: .6rem .9rem; border-radius: 6px; margin: .8rem 0; }
.scripted { background: #fff4d6; border: 1px solid #e0b84a; }
.sensor { background: #e8f1fb; border: 1px solid #8fb3de; }
.warning { background: #fff0e0; border: 1px solid #e09a4a; }
.error { background: #fbe9e7; border: 1px solid #e57373; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.better { color: #1e7b34; font-weight: 600; } .worse { color: #b03a2e; }
img.plot { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
pre.text { white-space: pre-wrap; background: #fafafa; border: 1px solid #eee; padding: .7rem;
           border-radius: 4px; }
.outcome-improved { color: #1e7b34; font-weight: 600; } .outcome-invalid { color: #b03a2e; }
.outcome-compile_failed, .outcome-run_failed, .outcome-abandoned { color: #666; }
table.diff { font: 12px/1.3 ui-monospace, monospace; width: 100%; }
.diff_next { display: none; } table.diff td { border: none; padding: 0 .3rem; }
.diff_header { background: #f0f0f0; color: #888; } td.diff_header { text-align: right; }
.diff_add { background: #d9f2dd; }
.diff_chg { background: #fff1b8; } .diff_sub { background: #f9d6d3; }
"""

CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var plots = document.querySelectorAll("img.plot");
  var rendered = 0;
  plots.forEach(function (img) {
    var ok = img.complete && img.naturalWidth > 0 && img.naturalHeight > 0;
    img.dataset.rendered = ok ? "yes" : "no";
    if (ok) { rendered += 1; }
  });
  document.body.dataset.plotsRendered = rendered + "/" + plots.length;
});
"""


def _pre(text: str) -> str:
    return f'<pre class="text">{escape(text)}</pre>'


def plot_figure(name: str, svg: str, caption: str, values: str | None = None) -> str:
    """One plot as ``<figure>``: the SVG inline as a data URI, which the check script marks.
    ``values`` (JSON) goes on the figure as ``data-values``: the numbers the plot shows,
    for tools and tests to read back."""
    data = base64.b64encode(svg.encode()).decode()
    attributes = f' data-values="{escape(values)}"' if values is not None else ""
    return (
        f'<figure id="figure-{name}"{attributes}><img class="plot" id="plot-{name}" '
        f'alt="{escape(caption)}" src="data:image/svg+xml;base64,{data}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _banners(report: TrialReport) -> str:
    parts = []
    if report.scripted:
        parts.append(
            '<div class="banner scripted"><b>Scripted demo.</b> The LLM replies in this trial '
            "came from lassi-ee's scripted demo model, not from an LLM. The compiles, runs, "
            "output checks and measurements are real.</div>"
        )
    if report.sensor_note:
        parts.append(f'<div class="banner sensor">{escape(report.sensor_note)}</div>')
    parts += [f'<div class="banner warning">{escape(w)}</div>' for w in report.check_warnings]
    if report.result.error:
        parts.append(f'<div class="banner error">{escape(report.result.error)}</div>')
    if not report.finished:
        parts.append(
            '<div class="banner error">This trial is not finished: `lassi-ee resume '
            f"{escape(report.thread_id)}` continues it.</div>"
        )
    return "\n".join(parts)


def _glance(report: TrialReport) -> str:
    best = f"best ({report.best_label})" if report.best_label else "best"
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td class='num'>{escape(source)}</td>"
        f"<td class='num'>{escape(best_value)}</td>{_delta_cell(change)}</tr>"
        for name, source, best_value, change in glance_rows(report)
    )
    return (
        f"<table><tr><th></th><th>source</th><th>{escape(best)}</th><th>change</th></tr>"
        f"{rows}</table>"
    )


def _delta_cell(change: float | None) -> str:
    if change is None:
        return "<td class='num'>-</td>"
    css = "better" if change < 0 else "worse"
    return f"<td class='num {css}'>{escape(delta(change))}</td>"


def _versions(report: TrialReport) -> str:
    head = (
        "<tr><th>version</th><th>temperature</th><th>outcome</th>"
        f"<th>{escape(report.objective_name)}</th><th>verdict</th><th>reasons / problem</th></tr>"
    )
    rows = []
    for row in report.versions:
        reasons = "".join(f"<li>{escape(r)}</li>" for r in version_notes(row))
        verdict = f"{row.verdict} ({row.verdict_by})" if row.verdict else "-"
        temperature = f"{row.temperature:.1f}" if row.temperature is not None else "-"
        star = " ★ best" if row.is_best else ""
        rows.append(
            f"<tr><td>{escape(row.label)}{star}</td><td class='num'>{temperature}</td>"
            f"<td class='outcome-{row.outcome}'>{escape(outcome_words(row.outcome))}</td>"
            f"<td class='num'>{escape(version_figure(report, row))}</td>"
            f"<td>{escape(verdict)}</td><td><ul>{reasons}</ul></td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _profile(report: TrialReport) -> str:
    """Stage 0's profiler findings: every kernel's figures, then the notes around them."""
    if report.hotspots is None:
        return f"<p>{escape(NO_PROFILE)}</p>"
    rows = report.hotspots.kernel_rows()
    table = ""
    if rows:
        head = "".join(f"<th>{escape(cell)}</th>" for cell in KERNEL_TABLE_HEAD)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
        )
        table = (
            f'<div style="overflow-x:auto"><table id="kernels"><tr>{head}</tr>{body}</table></div>'
        )
    notes = "".join(f"<p>{escape(note)}</p>" for note in report.hotspots.report_notes())
    return table + notes


def _diff(report: TrialReport) -> str:
    if report.best_code is None:
        nothing = f"{sentence(no_best_words(report.result))}, so there is nothing to compare."
        return f"<p>{escape(nothing)}</p>"
    table = difflib.HtmlDiff(wrapcolumn=72).make_table(
        report.source_code.splitlines(),
        report.best_code.splitlines(),
        "source",
        report.best_label or "best",
        context=True,
        numlines=4,
    )
    return f'<div style="overflow-x:auto">{table}</div>'


def _usage(report: TrialReport) -> str:
    rows = "".join(
        "<tr>" + "".join(f"<td class='num'>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in usage_rows(report)
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("role", "calls", "tokens in", "tokens out", "cost (USD)")
    )
    notes = []
    usage = report.result.usage
    if usage.unpriced_models:
        notes.append(
            f"No price is set for {', '.join(usage.unpriced_models)}: their cost counts as $0 "
            "(LASSI_PRICES_PER_MTOK sets prices)."
        )
    if any(r.estimated_calls for r in usage.by_role.values()):
        notes.append("Some servers reported no token counts; those were estimated as chars / 4.")
    note = "".join(f"<p class='meta'>{escape(n)}</p>" for n in notes)
    return f"<table><tr>{head}</tr>{rows}</table>{note}"


def render_html(report: TrialReport, plots: dict[str, str]) -> str:
    """The whole page; ``plots`` maps plot names ("timeline", "versions") to SVG text."""
    result = report.result
    captions = plot_captions(report)
    title = f"{result.app or 'trial'} on {result.device or '?'}"
    plans = (
        "".join(f"<h3>Plan {n}</h3>{_pre(plan)}" for n, plan in enumerate(report.plans, 1))
        or "<p>No plan was written.</p>"
    )
    comparison = (
        _pre(report.comparison)
        if report.comparison
        else f"<p>No comparison: {escape(no_comparison_words(report))}.</p>"
    )
    context = ""
    if report.docs_summary or report.analysis:
        context = (
            "<h2>Context the plans were written from</h2>"
            "<details><summary>Summary of the programming notes</summary>"
            f"{_pre(report.docs_summary)}</details>"
            f"<details><summary>Latest code analysis</summary>{_pre(report.analysis)}</details>"
        )
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.generated_unix))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lassi-ee: {escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>lassi-ee trial report: {escape(title)}</h1>
<p class="meta">trial <code>{escape(report.thread_id)}</code> · {escape(report.device_facts)} ·
status <b>{escape(result.status)}</b> · objective: {escape(report.objective_name)} ·
{result.versions} versions, {iterations_words(result)}, {result.self_corrections}
self-corrections · stopped: {escape(stop_words(result))}</p>
{_banners(report)}
<h2>Outcome at a glance</h2>
<p class="claim">{escape(claim_text(report))}</p>
{_glance(report)}
<h2>{"Measurement timeline (no power sensor)" if report.sensor_note else "Power timeline"}</h2>
{plot_figure("timeline", plots["timeline"], captions["timeline"])}
<h2>{escape(PROFILE_HEADING.lstrip("# "))}</h2>
{_profile(report)}
<h2>Every version</h2>
{plot_figure("versions", plots["versions"], captions["versions"])}
<h2>Versions, verdicts and reasons</h2>
{_versions(report)}
<h2>Best version against the source</h2>
{_diff(report)}
<h2>Refactoring plans</h2>
{plans}
<h2>Comparison analysis</h2>
{comparison}
{context}
<h2>Tokens and cost</h2>
{_usage(report)}
<p class="meta">Generated {generated} by <code>lassi-ee report {escape(report.thread_id)}</code>;
archive: {escape(result.archive_path or "-")}</p>
<script>{CHECK_SCRIPT}</script>
</body></html>
"""
