"""What the CLI prints: profiles and results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from lassi_ee.energy.base import objective_unit
from lassi_ee.report.words import iterations_words, no_best_words, stop_words

if TYPE_CHECKING:
    from lassi_ee.devices import Device
    from lassi_ee.energy.base import EnergyProfile
    from lassi_ee.result import TrialResult

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


def print_result(result: TrialResult) -> None:
    console.print(f"trial {result.thread_id}: [bold]{result.status}[/bold]")
    if result.error:
        console.print(result.error)
        return
    unit = objective_unit(result.objective)
    source = result.source.energy_j if result.objective == "energy" else result.source.runtime_s
    if result.status == "improved" and result.reduction is not None:
        interval = ""
        if result.reduction_ci95 is not None:
            low, high = result.reduction_ci95
            interval = f" (95 % CI {-high:+.1%} to {-low:+.1%})"
        sibling = (
            f" (iteration {result.best_iteration}, sibling {result.best_sibling} of "
            f"{result.candidates_per_step})"
            if result.best_sibling
            else ""
        )
        console.print(
            f"{result.objective}: best v{result.best_version}{sibling} "
            f"{-result.reduction:+.1%} vs source{interval}, measured interleaved with it"
        )
        if result.evidence:
            console.print(f"  {result.evidence}", highlight=False)
        if result.best is not None and source is not None:
            best = result.best.energy_j if result.objective == "energy" else result.best.runtime_s
            console.print(
                f"  separate measurements: source {source:.3g} {unit}, v{result.best_version} "
                f"{best:.3g} {unit}"
            )
    elif result.confirmation and result.status == "no_improvement":
        console.print(f"{result.objective}: no gain claimed; {result.confirmation}")
        if result.evidence:
            console.print(f"  {result.evidence}", highlight=False)
    elif source is not None:
        console.print(f"{result.objective}: source {source:.3g} {unit}; {no_best_words(result)}")
    if result.objective == "runtime":
        console.print("(no energy sensor on this device: runtime was the objective)")
    for move in result.board_moves:  # the trial resumed on another board of its model
        console.print(move, highlight=False, markup=False)
    console.print(
        f"{result.versions} versions, {iterations_words(result)}, "
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
