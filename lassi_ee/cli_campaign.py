"""``lassi-ee campaign run|status|report|export FILE``: wired into lassi_ee.cli by
``add_campaign_commands``. Bad input raises UsageError/LassiError (one line)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI starts fast: the graph stack loads only when a command runs
    from lassi_ee.campaign.runner import TrialEvent

ENGINES = ("local", "ray")


def add_campaign_commands(commands: Any) -> None:
    """Add ``campaign`` and its subcommands to the top-level subparsers."""
    campaign = commands.add_parser("campaign", help="apps x devices x n trials, and their tables")
    actions = campaign.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")

    run = actions.add_parser("run", help="run every unfinished trial (finished ones are skipped)")
    run.add_argument("file", help="campaign file (YAML or TOML)")
    run.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: one worker per device here; ray: one task per trial on a Ray cluster",
    )
    run.add_argument(
        "--address",
        help="--engine ray: the cluster (auto, HOST:PORT, ray://HOST:10001; local: a new "
        "Ray instance here); default RAY_ADDRESS, else a cluster `ray start`ed here, else local",
    )
    run.set_defaults(handler=cmd_campaign_run)

    status = actions.add_parser("status", help="finished, cut-off and pending trials")
    status.add_argument("file")
    status.set_defaults(handler=cmd_campaign_status)

    report = actions.add_parser(
        "report", help="HTML and Markdown report with plots, and Tables 2, 3 and 4 as CSV"
    )
    report.add_argument("file")
    report.add_argument("--out", help="folder for the report (default: DIRECTORY/report)")
    report.set_defaults(handler=cmd_campaign_report)

    export = actions.add_parser("export", help="every trial record as CSV or Parquet")
    export.add_argument("file")
    export.add_argument("--format", choices=("csv", "parquet"), default="csv")
    export.add_argument("--out", help="output file (default: DIRECTORY/results.FORMAT)")
    export.set_defaults(handler=cmd_campaign_export)


def _event_line(event: TrialEvent) -> str:
    trial = event.trial
    label = f"[{trial.device}] {trial.app} #{trial.index}"
    if event.kind == "started":
        where = f" on {event.where}" if event.where else ""
        return f"{label} {'resumed from its checkpoint' if event.resumed else 'started'}{where}"
    if event.kind == "error":
        return f"{label} ERROR: {event.message}"
    record = event.record
    assert record is not None
    text = f"{label} {record.status}"
    if record.reduction is not None:
        text += (
            f", {record.objective} {-record.reduction:+.1%} at iteration {record.best_iteration}"
        )
    if record.error:
        text += f": {record.error.splitlines()[0]}"
    if record.pipeline_s is not None:
        text += f" ({record.pipeline_s:.0f} s)"
    return text


def cmd_campaign_run(options: argparse.Namespace) -> int:
    from lassi_ee.campaign.runner import RunSummary, run_local
    from lassi_ee.campaign.spec import load_campaign
    from lassi_ee.errors import UsageError

    if options.address and options.engine != "ray":
        raise UsageError("--address is for --engine ray; add it, or drop --address")
    campaign = load_campaign(options.file)
    total = len(campaign.trials())
    print(
        f"campaign {campaign.name}: {len(campaign.apps)} app(s) x {len(campaign.devices)} "
        f"device(s) x {campaign.spec.trials} = {total} trials; results in {campaign.store_path}",
        flush=True,
    )

    def on_event(event: TrialEvent) -> None:
        print(_event_line(event), flush=True)

    summary: RunSummary
    try:
        if options.engine == "ray":
            from lassi_ee.campaign.ray_engine import run_ray

            summary = run_ray(campaign, address=options.address, on_event=on_event)
        else:
            summary = run_local(campaign, on_event=on_event)
    except KeyboardInterrupt:
        print(
            f"interrupted: finished trials are stored; `lassi-ee campaign run {options.file}` "
            "continues (cut-off trials resume from their checkpoints)"
        )
        return 130
    print(
        f"{summary.finished} trial(s) finished now, {summary.skipped} already done, "
        f"{summary.errors} with errors"
    )
    if summary.workers_lost:
        print(f"the worker of {', '.join(summary.workers_lost)} died; see the lines above")
    if summary.errors or summary.workers_lost:
        print(f"rerun `lassi-ee campaign run {options.file}` to retry the trials left")
        return 1
    return 0


def cmd_campaign_status(options: argparse.Namespace) -> int:
    from lassi_ee.campaign.runner import campaign_status
    from lassi_ee.campaign.spec import load_campaign
    from lassi_ee.campaign.store import ResultsStore

    campaign = load_campaign(options.file)
    # a status is read-only: a campaign that never ran gets no folder or database from it
    ran = campaign.store_path.exists()
    tasks = campaign_status(campaign, ResultsStore(campaign.store_path) if ran else None)
    header = ("device", "app", "finished", "improved", "failed", "cut off", "pending")
    print(f"campaign {campaign.name} ({campaign.store_path})")
    print(f"{header[0]:10} {header[1]:24} " + " ".join(f"{h:>9}" for h in header[2:]))
    for task in tasks:
        counts = (
            f"{task.finished}/{task.trials}",
            task.improved,
            task.failed,
            task.cut_off,
            task.pending,
        )
        print(f"{task.device:10} {task.app:24} " + " ".join(f"{c:>9}" for c in counts))
    finished = sum(task.finished for task in tasks)
    print(f"{finished} of {sum(task.trials for task in tasks)} trials finished")
    return 0


def cmd_campaign_report(options: argparse.Namespace) -> int:
    from lassi_ee.calibrate import latest_calibrations
    from lassi_ee.campaign.runner import campaign_records
    from lassi_ee.campaign.spec import load_campaign
    from lassi_ee.campaign.store import ResultsStore
    from lassi_ee.errors import LassiError
    from lassi_ee.report.campaign import build_campaign_report
    from lassi_ee.report.files import write_campaign_report

    campaign = load_campaign(options.file)
    records = campaign_records(campaign, ResultsStore(campaign.store_path))
    if not records:
        raise LassiError(
            f"campaign {campaign.name} has no finished trials yet: "
            f"`lassi-ee campaign run {options.file}` first"
        )
    report = build_campaign_report(
        campaign.name,
        records,
        campaign.ks,
        planned_trials=len(campaign.trials()),
        calibrations=latest_calibrations(campaign.settings().calibration_log),
    )
    out = Path(options.out) if options.out else campaign.directory / "report"
    files = write_campaign_report(report, out)
    for table in report.tables:
        print(table.markdown())
    for section in report.sections:
        if section.missing:
            print(f"{section.heading}: {section.missing}")
    print(f"wrote {files.html} and {files.markdown}")
    print(f"  plots: {', '.join(path.name for path in files.plots) or 'none'}")
    print(f"  tables: {', '.join(path.name for path in files.tables)}")
    return 0


def cmd_campaign_export(options: argparse.Namespace) -> int:
    from lassi_ee.campaign.spec import load_campaign
    from lassi_ee.campaign.store import ResultsStore, export_csv, export_parquet

    campaign = load_campaign(options.file)
    records = ResultsStore(campaign.store_path).records(campaign.name)
    out = Path(options.out or campaign.directory / f"results.{options.format}")
    export = export_csv if options.format == "csv" else export_parquet
    print(f"wrote {len(records)} trial(s) to {export(records, out)}")
    return 0
