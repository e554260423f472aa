"""What the CLI prints: profiles, results and one line per trial step."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lassi_ee.api import TrialResult
    from lassi_ee.demo.runner import DemoOutcome
    from lassi_ee.devices import Device
    from lassi_ee.energy.base import EnergyProfile

console = Console()


def print_profile(name: str, device: Device, profile: EnergyProfile, out: Path) -> None:
    table = Table(title=f"{name} on {device.spec}: {device.name}")
    for column in ("repeat", "runs", "runtime s/run", "net energy J/run", "avg power W"):
        table.add_column(column, justify="right")
    for n, m in enumerate(profile.measurements, 1):
        table.add_row(
            str(n),
            str(m.runs_in_window),
            f"{m.runtime_s:.3f}",
            f"{m.net_energy_j:.2f}" if m.net_energy_j is not None else "-",
            f"{m.avg_power_w:.1f}" if m.avg_power_w is not None else "-",
        )
    console.print(table)
    console.print(profile.summary())
    console.print(f"objective: {profile.objective}; {profile.backend}")
    console.print(f"wrote {out / 'profile.json'} and {out / 'timeline.json'}")


def progress_line(node: str, update: dict[str, Any]) -> str | None:
    """One plain line for a finished graph step (logs, non-terminal output)."""
    candidate = update.get("candidate")
    if node == "profile_source":
        if update.get("error"):
            return f"stage 0: {update['error'].splitlines()[0]}"
        reference = update["reference"]
        cached = " (cached)" if reference.from_cache else ""
        return f"stage 0: source {reference.profile.summary()}{cached}"
    if node in ("vanilla", "refactor", "fix_compile", "fix_runtime") and candidate is not None:
        return f"{node}: wrote {candidate.label}"
    if node == "compile_candidate" and candidate is not None and candidate.compile is not None:
        status = "ok" if candidate.compile.ok else "FAILED"
        return f"  compile {status} ({candidate.compile.duration_s:.1f} s)"
    if node == "run_candidate" and candidate is not None and candidate.run is not None:
        if not candidate.run.ok:
            return f"  run FAILED: {candidate.run.failure}"
        if candidate.check is None:
            return "  run ok; check: -"
        vetoing = "; ".join(guard.text for guard in candidate.check.guards if guard.vetoes)
        return f"  run ok; check: {candidate.check.finding}" + (
            f"; static guard {vetoing}" if vetoing else ""
        )
    if node == "measure_candidate" and candidate is not None:
        if candidate.profile is None:
            return f"  measured: {candidate.note}"
        screen = "; screen: lower, to be confirmed" if candidate.screened_lower else ""
        return f"  measured: {candidate.profile.summary()}{screen}"
    if node == "confirm_candidate" and candidate is not None:
        if candidate.confirmation is None:
            return f"  confirmation: {candidate.note or 'none'}"
        return f"  confirmation: {candidate.confirmation.summary()}"
    if node == "confirm_final" and update.get("final_check") is not None:
        final = update["final_check"]
        held = final.confirmation.summary() if final.confirmation else ""
        return f"stage 4: {final.note or held}"
    if node == "judge_candidate" and candidate is not None and candidate.verdict is not None:
        return f"  judge: {candidate.verdict.verdict}"
    if node == "assess" and update.get("history"):
        done = update["history"][-1]
        extra = f"; stopping: {update['stop_reason']}" if update.get("stop_reason") else ""
        temperature = (
            f", temperature {update['temperature']:.1f}" if "temperature" in update else ""
        )
        return f"  -> {done.label}: {done.outcome}{temperature}{extra}"
    if node in ("summarize_docs", "analyze_code", "plan", "compare"):
        return (
            f"{node}: done" if not update.get("stop_reason") else f"{node}: {update['stop_reason']}"
        )
    if node == "finalize":
        return f"finalize: archive in {update.get('archive_path')}"
    return None


def stop_words(result: TrialResult) -> str:
    """Why the trial stopped, or that it has not (yet)."""
    if result.status == "unfinished":
        return f"not yet (`lassi-ee resume {result.thread_id}` continues it)"
    return result.stop_reason or "done"


def no_best_words(result: TrialResult) -> str:
    """What stands where a best version would: none was better, or none was made and why."""
    if result.status == "unfinished":
        return "no version beat the source yet"
    if result.versions > 0:
        return "no version beat the source"
    why = result.error or result.stop_reason or "the trial stopped before Stage 1"
    return f"no version was made ({why.splitlines()[0]})"


def print_result(result: TrialResult) -> None:
    console.print(f"trial {result.thread_id}: [bold]{result.status}[/bold]")
    if result.error:
        console.print(result.error)
        return
    unit = "J" if result.objective == "energy" else "s"
    source = result.source.energy_j if result.objective == "energy" else result.source.runtime_s
    if result.status == "improved" and result.reduction is not None:
        interval = ""
        if result.reduction_ci95 is not None:
            low, high = result.reduction_ci95
            interval = f" (95 % CI {-high:+.1%} to {-low:+.1%})"
        console.print(
            f"{result.objective}: best v{result.best_version} {-result.reduction:+.1%} vs "
            f"source{interval}, measured interleaved with it"
        )
        if result.best is not None and source is not None:
            best = result.best.energy_j if result.objective == "energy" else result.best.runtime_s
            console.print(
                f"  separate measurements: source {source:.3g} {unit}, v{result.best_version} "
                f"{best:.3g} {unit}"
            )
    elif result.confirmation and result.status == "no_improvement":
        console.print(f"{result.objective}: no gain claimed; {result.confirmation}")
    elif source is not None:
        console.print(f"{result.objective}: source {source:.3g} {unit}; {no_best_words(result)}")
    if result.objective == "runtime":
        console.print("(no energy sensor on this device: runtime was the objective)")
    console.print(
        f"{result.versions} versions, {result.iterations} iterations, "
        f"{result.self_corrections} self-corrections; stopped: {stop_words(result)}"
    )
    console.print(
        f"LLM: {result.usage.calls} calls, {result.usage.total_tokens} tokens, "
        f"${result.usage.cost_usd:.4f}"
    )
    if result.archive_path:
        console.print(f"archive: {result.archive_path}")
    if result.archive_error:
        console.print(f"[bold]archive incomplete:[/bold] {result.archive_error}")


def print_demo(outcome: DemoOutcome) -> None:
    """The demo's last words: it was scripted, where everything is, and the real command."""
    result = outcome.result
    console.print()
    say = partial(console.print, soft_wrap=True, highlight=False, markup=False)
    console.print(
        "[bold]This was a scripted demo:[/bold] every LLM reply came from lassi-ee's scripted "
        "demo model, not from an LLM. The compiles, runs, output checks and measurements on "
        f"{outcome.device.spec} were real.",
        soft_wrap=True,
    )
    if outcome.report_html is not None:
        say(f"report:      {outcome.report_html}  (Markdown: {outcome.report_markdown})")
    else:
        say(f"report:      not written ({outcome.report_error})")
    say(f"checkpoints: {outcome.checkpoint_db}")
    say(f"             lassi-ee --checkpoints {outcome.checkpoint_db} show {result.thread_id}")
    if result.archive_path:
        say(f"archive:     {result.archive_path}")
    say("Run the real thing with an LLM:")
    for command in outcome.real_commands:
        say(f"  {command}")
