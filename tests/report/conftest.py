"""One run of `lassi-ee demo` on the cpu device, shared by the demo, report and progress tests.

The trial is real (compiled, run, checked and timed on the cpu device) with the scripted
demo model, and it runs once per test session, as a user runs it: the command line, in a
folder of its own, with the demo's own settings. The demo command test reads what it
printed; the report and progress tests read the trial it left in runs/demo.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.cli import main
from lassi_ee.demo.runner import demo_settings
from lassi_ee.devices import cpu_device
from lassi_ee.result import TrialResult
from lassi_ee.settings import Settings
from lassi_ee.trials import open_trials, read_trial
from tests.helpers.scratch import sandbox_work_dir


@dataclass
class FinishedTrial:
    result: TrialResult
    settings: Settings
    updates: list[tuple[str, dict[str, Any]]]  # every (node, update) of its steps, in order
    printed: str  # what `lassi-ee demo` printed
    folder: Path  # where it ran: runs/demo is below


def steps_of(settings: Settings, thread_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The (node, update) of every step, in order, as the trial's checkpoints keep them:
    what its live progress was told while it ran."""
    with open_trials(settings, create=False) as trials:
        history = trials.history(thread_id)
    return [
        (task.name, task.result)
        for snapshot in reversed(history)  # oldest first
        for task in snapshot.tasks
        if task.name != "__start__" and isinstance(task.result, dict)
    ]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FinishedTrial]:
    folder = tmp_path_factory.mktemp("demo")
    work = sandbox_work_dir()
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):  # no LASSI_* variable or key of the machine
            if name.startswith(("LASSI_", "OPENAI_")):
                patch.delenv(name)
        patch.setenv("LASSI_CONFIG", os.devnull)
        patch.setenv("LASSI_WORK_ROOT", str(work))
        patch.setenv("LASSI_LOCK_DIR", str(folder / "locks"))
        patch.chdir(folder)
        with contextlib.redirect_stdout(printed):
            code = main(["demo", "--device", "cpu"])
        assert code == 0, printed.getvalue()
        settings = demo_settings(folder / "runs" / "demo", cpu_device(), Settings())
    report = re.search(r"^report: +(\S+)", printed.getvalue(), re.M)
    assert report is not None, printed.getvalue()
    thread_id = Path(report.group(1)).parent.name
    yield FinishedTrial(
        result=read_trial(thread_id, settings).result,
        settings=settings,
        updates=steps_of(settings, thread_id),
        printed=printed.getvalue(),
        folder=folder,
    )
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def finished_trial(demo_run: FinishedTrial, monkeypatch: pytest.MonkeyPatch) -> FinishedTrial:
    """The demo's trial, read from the folder the demo ran in, as its user would: the
    archive's paths (timelines) are relative to it, as `lassi-ee demo` wrote them."""
    monkeypatch.chdir(demo_run.folder)
    return demo_run
