"""Write a report: report.html (self-contained) and report.md with its plots, for one trial
or a whole campaign (which adds its tables as Markdown and CSV)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from lassi_ee.campaign.tables import write_tables
from lassi_ee.report.campaign import CampaignReport
from lassi_ee.report.campaign_pages import render_campaign_html, render_campaign_markdown
from lassi_ee.report.campaign_plots import bars_svg
from lassi_ee.report.html import render_html
from lassi_ee.report.markdown import render_markdown
from lassi_ee.report.plots import candidates_svg, timeline_svg
from lassi_ee.report.trial import TrialReport, load_trial_report
from lassi_ee.settings import Settings
from lassi_ee.thread_ids import check_thread_id


class ReportFiles(BaseModel):
    html: Path
    markdown: Path
    plots: list[Path]


def write_trial_report(report: TrialReport, out_dir: Path) -> ReportFiles:
    """Draw the plots and write both pages into ``out_dir`` (created if needed)."""
    plots = {"timeline": timeline_svg(report.timelines), "versions": candidates_svg(report)}
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_files = {name: f"report-{name}.svg" for name in plots}
    for name, svg in plots.items():
        (out_dir / plot_files[name]).write_text(svg)
    html = out_dir / "report.html"
    html.write_text(render_html(report, plots))
    markdown = out_dir / "report.md"
    markdown.write_text(render_markdown(report, plot_files))
    return ReportFiles(
        html=html, markdown=markdown, plots=[out_dir / name for name in plot_files.values()]
    )


def report_trial(thread_id: str, settings: Settings, out_dir: Path | None = None) -> ReportFiles:
    """The report of a checkpointed trial, written beside its archive unless told otherwise."""
    report = load_trial_report(check_thread_id(thread_id), settings)
    return write_trial_report(report, out_dir or Path(settings.runs_dir) / thread_id)


class CampaignReportFiles(ReportFiles):
    tables: list[Path]


def write_campaign_report(report: CampaignReport, out_dir: Path) -> CampaignReportFiles:
    """Draw the plots, write both pages and the tables (Markdown and CSV) into ``out_dir``."""
    plots = {plot.name: bars_svg(plot) for plot in report.plots}
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_files = {name: f"report-{name}.svg" for name in plots}
    for name, svg in plots.items():
        (out_dir / plot_files[name]).write_text(svg)
    html = out_dir / "report.html"
    html.write_text(render_campaign_html(report, plots))
    markdown = out_dir / "report.md"
    markdown.write_text(render_campaign_markdown(report, plot_files))
    heading = f"Campaign {report.name}: {report.trials} trials"
    return CampaignReportFiles(
        html=html,
        markdown=markdown,
        plots=[out_dir / name for name in plot_files.values()],
        tables=write_tables(report.tables, out_dir, heading),
    )
