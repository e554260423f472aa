"""The campaign report as one self-contained HTML page and its Markdown twin.

The page follows the trial report's conventions (lassi_ee/report/html.py): plots
inline as SVG data URIs, each marked ``data-rendered`` by the browser and summed
up on the body as ``data-plots-rendered``; each figure also carries the numbers
it plots as ``data-values``.
"""

from __future__ import annotations

import time
from html import escape

from lassi_ee.campaign.tables import Table
from lassi_ee.report.campaign import CampaignReport, Section
from lassi_ee.report.html import CHECK_SCRIPT, STYLE, plot_figure


def summary_line(report: CampaignReport) -> str:
    """Trials, apps, devices, outcomes and the objective, in one line."""
    finished = (
        f"{report.trials} of {report.planned_trials} trial(s) finished"
        if report.planned_trials is not None
        else f"{report.trials} trial(s) finished"
    )
    ks = ", ".join(map(str, report.ks)) or "none"
    return (
        f"{finished} · {len(report.apps)} app(s) on {', '.join(report.devices)} · "
        f"{report.improved} confirmed a gain · {report.failed} failed · k = {ks}"
    )


def notes(report: CampaignReport) -> list[str]:
    """What the reader should know before reading the figures."""
    found = [
        "Which reduction is which: the plots and Table 4's ER@k columns follow the paper, "
        "taking each valid version's own measurement against the source's at face value "
        "(measurements taken at different times, so drift can count as gain). Table 4's "
        "confirmed ER@k and Table 2's paired column count only gains that an interleaved "
        "re-measurement (best and source in one session) confirmed: rely on those."
    ]
    if report.sensor_note:
        found.append(report.sensor_note)
    found += report.conditions
    if report.planned_trials is not None and report.trials < report.planned_trials:
        found.append(
            f"The campaign is not finished: {report.planned_trials - report.trials} trial(s) "
            "have no result yet, and the figures cover the finished ones."
        )
    if report.dropped_ks and report.trials > report.failed:
        found.append(
            f"k = {', '.join(map(str, report.dropped_ks))} left out: some app has fewer "
            "finished trials."
        )
    return found


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(c.header)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td{'' if column.format == 'text' else ' class=num'}>{escape(cell)}</td>"
            for column, cell in zip(table.columns, table.cells(row), strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    notes_html = "".join(f"<p class='meta'>{escape(note)}</p>" for note in table.notes)
    return (
        f"<h3>{escape(table.title)}</h3>"
        f'<div style="overflow-x:auto"><table id="{table.name}"><tr>{head}</tr>{rows}</table>'
        f"</div>{notes_html}"
    )


def _html_section(section: Section, svgs: dict[str, str]) -> str:
    heading = f"<h2>{escape(section.heading)}</h2>"
    if section.plot is None:
        return f'{heading}<p class="missing">{escape(section.missing or "")}</p>'
    plot = section.plot
    return heading + plot_figure(plot.name, svgs[plot.name], plot.caption, plot.values_json())


def _html_categories(report: CampaignReport) -> str:
    if not any(scope.total for scope in report.categories):
        return ""
    head = "<tr><th>scope</th><th>trials</th>" + "".join(
        f"<th>{code}</th>" for code in report.categories[0].counts
    )
    rows = "".join(
        f"<tr><td>{escape(scope.scope)}</td><td class=num>{scope.trials}</td>"
        + "".join(f"<td class=num>{count}</td>" for count in scope.counts.values())
        + "</tr>"
        for scope in report.categories
    )
    return f"<table id='category-counts'>{head}</tr>{rows}</table>"


def render_campaign_html(report: CampaignReport, svgs: dict[str, str]) -> str:
    """The whole page; ``svgs`` maps each plot's name to its SVG text."""
    sections = [_html_section(section, svgs) for section in report.sections]
    sections[-1] += _html_categories(report)
    banners = "".join(f'<div class="banner sensor">{escape(n)}</div>' for n in notes(report))
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.generated_unix))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lassi-ee campaign: {escape(report.name)}</title>
<style>{STYLE} p.missing {{ padding: .6rem .9rem; background: #f5f5f5; border-radius: 6px; }}
</style></head>
<body>
<h1>lassi-ee campaign report: {escape(report.name)}</h1>
<p class="meta">{escape(summary_line(report))}</p>
{banners}
{"".join(sections)}
<h2>Tables</h2>
{"".join(_html_table(table) for table in report.tables)}
<p class="meta">Generated {generated} by <code>lassi-ee campaign report</code>.</p>
<script>{CHECK_SCRIPT}</script>
</body></html>
"""


def _markdown_section(section: Section, plot_files: dict[str, str]) -> str:
    heading = f"## {section.heading}"
    if section.plot is None:
        return f"{heading}\n\n{section.missing}"
    plot = section.plot
    return f"{heading}\n\n![{plot.title}]({plot_files[plot.name]})\n\n{plot.caption}"


def _markdown_categories(report: CampaignReport) -> str:
    if not any(scope.total for scope in report.categories):
        return ""
    codes = list(report.categories[0].counts)
    lines = [
        "| scope | trials | " + " | ".join(codes) + " |",
        "|---|---:|" + "---:|" * len(codes),
    ]
    lines += [
        f"| {scope.scope} | {scope.trials} | "
        + " | ".join(str(count) for count in scope.counts.values())
        + " |"
        for scope in report.categories
    ]
    return "\n".join(lines)


def render_campaign_markdown(report: CampaignReport, plot_files: dict[str, str]) -> str:
    """The report in Markdown; ``plot_files`` maps plot names to paths relative to it."""
    parts = [f"# lassi-ee campaign report: {report.name}", summary_line(report)]
    parts += [f"> {note}" for note in notes(report)]
    parts += [_markdown_section(section, plot_files) for section in report.sections]
    categories = _markdown_categories(report)
    if categories:
        parts.append(categories)
    parts.append("## Tables")
    parts += [table.markdown().rstrip() for table in report.tables]
    return "\n\n".join(parts) + "\n"
