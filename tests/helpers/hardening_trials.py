"""Helpers of the hardening tests: run a scripted trial on the cpu device and read
what it left behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lassi_ee.api import TrialResult, run_graph
from lassi_ee.settings import Settings
from lassi_ee.trials import read_trial


def run_trial(
    source: Path,
    settings: Settings,
    model: Any,
    thread_id: str = "t1",
    device: str = "cpu",
    **options: Any,
) -> tuple[TrialResult, dict[str, Any]]:
    """Run a whole trial (on the cpu device by default); its result and final state."""
    result = run_graph(
        source, device, thread_id=thread_id, settings=settings, models=model, **options
    )
    return result, trial_state(settings, thread_id)


def trial_state(settings: Settings, thread_id: str) -> dict[str, Any]:
    return dict(read_trial(thread_id, settings).state)


def outcomes(state: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    return [(c.stage, c.iteration, c.attempt, c.outcome) for c in state["history"]]


def files_under(*roots: Path) -> list[Path]:
    return [path for root in roots if root.exists() for path in root.rglob("*") if path.is_file()]


def files_containing(needles: list[str], *roots: Path) -> list[str]:
    """Every file under the roots (or a root that is a file) holding any of the needles."""
    found = []
    for path in [r for r in roots if r.is_file()] + files_under(*roots):
        data = path.read_bytes()
        found += [f"{path}: {needle}" for needle in needles if needle.encode() in data]
    return found
