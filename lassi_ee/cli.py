"""The ``lassi-ee`` command line. Every failure the user can act on is one line."""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lassi_ee.cli_campaign import add_campaign_commands
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.settings import Settings, load_settings


def _settings(options: argparse.Namespace) -> Settings:
    return load_settings().with_overrides(
        repeats=getattr(options, "repeats", None),
        generate_model=getattr(options, "model", None),
        judge_model=getattr(options, "judge_model", None),
        base_url=getattr(options, "base_url", None),
        checkpoint_url=getattr(options, "checkpoints", None),
    )


# An interrupted trial is no failure, and no result yet: EX_TEMPFAIL, "try again later".
EXIT_INTERRUPTED = 75


def exit_status(trial_status: str) -> int:
    return {"failed": 1, "interrupted": EXIT_INTERRUPTED}.get(trial_status, 0)


def _args(options: argparse.Namespace) -> list[str] | None:
    if options.args is None:
        return None
    try:
        return shlex.split(options.args)
    except ValueError as error:
        raise UsageError(f"--args {options.args!r}: {error}; quote as in a shell") from None


# --- profile / devices ---------------------------------------------------------------


def cmd_profile(options: argparse.Namespace) -> int:
    from lassi_ee.apps import load_app
    from lassi_ee.energy.vendors import resolve_device
    from lassi_ee.report.console import print_profile
    from lassi_ee.tools.profile import profile_app

    settings = _settings(options)
    app = load_app(options.source, _args(options))
    device = resolve_device(options.device)
    out = Path(options.out or Path("runs") / "profiles" / app.name)
    staging = Path(tempfile.mkdtemp(prefix=f".{app.name}-", dir=_parent(out)))
    try:
        with tempfile.TemporaryDirectory(prefix="lassi-build-") as build:
            outcome = profile_app(app, device, settings, Path(build), staging / "timeline.json")
        if outcome.failure or outcome.profile is None:
            detail = outcome.compile.diagnostics or (outcome.run.stderr if outcome.run else "")
            raise LassiError(f"{outcome.failure}\n{detail}".strip())
        profile = outcome.profile.model_copy(update={"timeline_path": out / "timeline.json"})
        (staging / "profile.json").write_text(profile.model_dump_json(indent=1))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-written is left behind
    print_profile(app.name, device, profile, out)
    return 0


def _parent(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent


def cmd_calibrate(options: argparse.Namespace) -> int:
    from lassi_ee.calibrate import calibrate, record_calibration

    settings = _settings(options)
    calibration = calibrate(options.source, options.device, options.pairs, settings, _args(options))
    record_calibration(calibration, settings.calibration_log)
    for line in calibration.lines():
        print(line)
    return 0


def cmd_devices(options: argparse.Namespace) -> int:
    from lassi_ee.energy import describe_devices

    for line in describe_devices():
        print(line)
    return 0


# --- trials ----------------------------------------------------------------------------


def _print_result(result: Any) -> None:
    from lassi_ee.report.console import print_result

    print_result(result)


def cmd_run(options: argparse.Namespace) -> int:
    from lassi_ee.api import new_thread_id, run_graph
    from lassi_ee.report.live import ProgressView

    options.thread = options.thread or new_thread_id(options.source)
    title = f"{Path(options.source).name} on {options.device}"
    with ProgressView() as view:
        result = run_graph(
            options.source,
            options.device,
            thread_id=options.thread,
            settings=_settings(options),
            args=_args(options),
            on_update=view.on_update,
            on_start=lambda thread_id: view.trial_started(thread_id, title),
        )
        view.trial_finished(result)
    _print_result(result)
    return exit_status(result.status)


def cmd_resume(options: argparse.Namespace) -> int:
    from lassi_ee.api import resume_graph
    from lassi_ee.report.live import ProgressView
    from lassi_ee.trials import show_trial

    settings = load_settings().with_overrides(checkpoint_url=options.checkpoints)
    so_far = show_trial(options.thread, settings)
    title = f"{so_far.app} on {so_far.device}"
    flags = {
        "generate_model": options.model,
        "judge_model": options.judge_model,
        "base_url": options.base_url,
        "repeats": options.repeats,
    }  # the trial keeps its own settings: only what is given here changes them
    with ProgressView() as view:
        result = resume_graph(
            options.thread,
            settings=settings,
            overrides={name: value for name, value in flags.items() if value is not None},
            on_update=view.on_update,
            on_start=lambda thread_id: view.trial_started(thread_id, title, seed=so_far),
        )
        view.trial_finished(result)
    _print_result(result)
    return exit_status(result.status)


def cmd_trials(options: argparse.Namespace) -> int:
    from lassi_ee.trials import list_trials

    settings = _settings(options)
    rows = list_trials(settings)
    if not rows:
        print(
            f"no trials in {settings.checkpoint_url} yet: start one with "
            "`lassi-ee run SOURCE --device D`"
        )
    for row in rows:
        print(f"{row.thread_id:32} {row.status:15} {row.app or '-':20} {row.summary}")
    return 0


def cmd_show(options: argparse.Namespace) -> int:
    from lassi_ee.trials import show_trial

    result = show_trial(options.thread, _settings(options), rewrite_archive=options.rewrite_archive)
    if options.json:
        print(result.model_dump_json(indent=1))
    else:
        _print_result(result)
    return 0


# --- apps from suites the user has -------------------------------------------------------


def cmd_import(options: argparse.Namespace) -> int:
    from lassi_ee import adapters

    checkout = Path(options.checkout).expanduser()
    if options.suite == "hecbench":
        names = options.apps.split(",") if options.apps else None
        written = adapters.import_hecbench(checkout, Path(options.out or "apps/hecbench"), names)
    elif options.suite == "xsbench":
        written = [adapters.import_xsbench(checkout, Path(options.out or "apps/miniapps"))]
    else:
        written = [adapters.import_minimdock(checkout, Path(options.out or "apps/miniapps"))]
    for manifest in written:
        print(f"wrote {manifest}")
    return 0


# --- a local model ---------------------------------------------------------------------


def cmd_serve(options: argparse.Namespace) -> int:
    from lassi_ee.llm.local_server import ServerConfig, start_server

    config = ServerConfig(
        model=Path(options.model_file).expanduser(),
        port=options.port,
        context_tokens=options.ctx,
        threads=options.threads,
        alias=options.alias,
        sha256=options.sha256,
        python=options.python,
        kind=options.server,
    )
    # Killed or hung up, this command still stops the server: it runs in its own session,
    # which a signal to this process does not reach.
    for ending in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, lambda number, frame: sys.exit(128 + number))
    with start_server(config) as server:
        print(f"serving {server.info.summary()} with {server.kind}")
        print(f"  base URL: {server.base_url}  (model name: {server.model_name})")
        print(
            f"  lassi-ee run SOURCE --device cpu --base-url {server.base_url} "
            f"--model {server.model_name}"
        )
        print(f"  its log: {server.log_path}; Ctrl-C stops it", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            print("stopping the model server", file=sys.stderr)
            return 0
    raise LassiError(
        f"the model server exited with status {server.process.returncode}: see {server.log_path}"
    )


# --- report and demo -------------------------------------------------------------------


def cmd_report(options: argparse.Namespace) -> int:
    from lassi_ee.report.files import report_trial

    out = Path(options.out) if options.out else None
    files = report_trial(options.thread, _settings(options), out)
    print(f"wrote {files.html}")
    print(f"      {files.markdown} (with {len(files.plots)} SVG plots beside it)")
    return 0


def cmd_demo(options: argparse.Namespace) -> int:
    from lassi_ee.demo.runner import print_demo, run_demo
    from lassi_ee.report.live import ProgressView

    banner = "lassi-ee demo: the LLM replies are SCRIPTED (a demo model, not an LLM)"
    with ProgressView(banner=banner) as view:
        outcome = run_demo(options.device, Path(options.dir), on_trial_start=view.trial_started)
        view.trial_finished(outcome.result)
    print_demo(outcome)
    return 0 if outcome.result.status != "failed" else 1


# --- parser ----------------------------------------------------------------------------


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model for code generation (LASSI_GENERATE_MODEL)")
    parser.add_argument("--judge-model", help="model for the judge (LASSI_JUDGE_MODEL)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (LASSI_BASE_URL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lassi-ee",
        description="Refactor parallel programs for lower energy, decided by measurement.",
    )
    parser.add_argument("--checkpoints", help="checkpoint DB path or postgres:// URL")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    profile = commands.add_parser("profile", help="build, run and measure a program")
    profile.add_argument("source", help="a source file or an app directory with app.yaml")
    profile.add_argument("--device", default="auto", help="cuda:N, rocm:N, cpu or auto")
    profile.add_argument("--args", help='program arguments as one string, e.g. "10000 8 1"')
    profile.add_argument("--repeats", type=int, help="measured repeats (default 3)")
    profile.add_argument("--out", help="where profile.json and timeline.json go")
    profile.set_defaults(handler=cmd_profile)

    calibrate = commands.add_parser(
        "calibrate", help="the noise floor of a program: the smallest gain that can be confirmed"
    )
    calibrate.add_argument("source", help="a source file or an app directory with app.yaml")
    calibrate.add_argument("--device", default="auto", help="cuda:N, rocm:N, cpu or auto")
    calibrate.add_argument("--args", help="program arguments as one string")
    calibrate.add_argument(
        "--pairs", type=int, default=10, help="interleaved A/B window pairs (default 10)"
    )
    calibrate.set_defaults(handler=cmd_calibrate)

    devices = commands.add_parser("devices", help="what can be measured here, and how")
    devices.set_defaults(handler=cmd_devices)

    run = commands.add_parser("run", help="run one trial of the LASSI-EE pipeline")
    run.add_argument("source", help="a source file or an app directory with app.yaml")
    run.add_argument("--device", default="auto", help="cuda:N, rocm:N, cpu or auto")
    run.add_argument("--args", help="program arguments as one string")
    run.add_argument("--thread", help="thread id for the trial (default: a new one)")
    run.add_argument("--repeats", type=int, help="measured repeats (default 3)")
    _add_model_options(run)
    run.set_defaults(handler=cmd_run)

    resume = commands.add_parser(
        "resume", help="continue a trial from its last step, with the settings it started with"
    )
    resume.add_argument("thread")
    resume.add_argument(
        "--repeats", type=int, help="a resume keeps the trial's; another is refused"
    )
    _add_model_options(resume)
    resume.set_defaults(handler=cmd_resume)

    trials = commands.add_parser("trials", help="list trials and their status")
    trials.set_defaults(handler=cmd_trials)

    show = commands.add_parser("show", help="show one trial's result")
    show.add_argument("thread")
    show.add_argument("--json", action="store_true", help="print the result as JSON")
    show.add_argument(
        "--rewrite-archive", action="store_true", help="write the trial's archive again"
    )
    show.set_defaults(handler=cmd_show)

    apps = commands.add_parser("apps", help="manifests for the paper's suites from your checkout")
    suites = apps.add_subparsers(dest="apps_command", required=True, metavar="COMMAND")
    for suite in ("hecbench", "xsbench", "minimdock"):
        importer = suites.add_parser(f"import-{suite}", help=f"import apps from a {suite} checkout")
        importer.add_argument("checkout", help="path of your checkout")
        if suite == "hecbench":
            importer.add_argument("--apps", help="comma-separated names (default: the paper's 20)")
        importer.add_argument("--out", help="where the manifests go (default: apps/...)")
        importer.set_defaults(handler=cmd_import, suite=suite)

    serve = commands.add_parser(
        "serve", help="serve a local GGUF model on 127.0.0.1 (llama.cpp), for --base-url"
    )
    serve.add_argument("model_file", help="a .gguf chat model")
    serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    serve.add_argument("--ctx", type=int, help="context tokens (default: the model's, <= 32768)")
    serve.add_argument("--threads", type=int, help="CPU threads (default: every core)")
    serve.add_argument("--alias", help="the model name requests use (default: the file's stem)")
    serve.add_argument("--sha256", help="the file's pinned SHA-256; refused if it differs")
    serve.add_argument(
        "--server",
        choices=["llama-server", "llama-cpp-python"],
        help="default: llama-server if on the PATH, else llama-cpp-python",
    )
    serve.add_argument("--python", help="a Python with llama-cpp-python[server] (default: this)")
    serve.set_defaults(handler=cmd_serve)

    add_campaign_commands(commands)  # cli_campaign.py: campaign run|status|report|export
    report = commands.add_parser("report", help="write a trial's HTML and Markdown report")
    report.add_argument("thread")
    report.add_argument("--out", help="folder for the report (default: the trial's archive)")
    report.set_defaults(handler=cmd_report)

    demo = commands.add_parser(
        "demo", help="one whole trial of a bundled program with a scripted (not LLM) model"
    )
    demo.add_argument("--device", default="auto", help="auto (a GPU if visible), cpu or cuda:N")
    demo.add_argument("--dir", default="runs/demo", help="the demo's checkpoints and archive")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        return int(options.handler(options))
    except LassiError as error:
        message = str(error)
        first, _, rest = message.partition("\n")
        print(f"lassi-ee: {first}", file=sys.stderr)
        if rest.strip():  # details (compiler diagnostics, say) under the one-line message
            print(rest.rstrip(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        thread = getattr(options, "thread", None) or "THREAD"
        print(
            f"lassi-ee: interrupted; `lassi-ee resume {thread}` continues the trial",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
