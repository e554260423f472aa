"""Live progress of running trials: a rich panel on a terminal, plain lines otherwise.

One trial (``lassi-ee run``)::

    with ProgressView() as view:
        view.trial_started(thread_id, "jacobi2d on cuda:0")
        result = run_graph(..., thread_id=thread_id, on_update=view.on_update)
        view.trial_finished(result)

A campaign passes ``total_trials`` and gives each trial the callback that
``trial_started`` returns (trials may run side by side, one per GPU); the
panel then shows trials done and left. On a terminal every step's line still
scrolls above the panel; elsewhere (logs, pipes) only those lines are printed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lassi_ee.energy.base import objective_unit
from lassi_ee.graph.names import STAGE_OF, NodeName
from lassi_ee.report.steps import STAGE_WORDS, step_words

if TYPE_CHECKING:
    from lassi_ee.api import OnUpdate
    from lassi_ee.result import TrialResult
    from lassi_ee.state import Candidate

STATUS_COLUMNS = (
    "trial", "stage", "last step", "iteration", "temperature", "self-corrections", "best so far",
)  # fmt: skip


@dataclass
class TrialProgress:
    """What is known about one running trial, from the steps it has finished."""

    thread_id: str
    title: str = ""
    stage: str = "starting"
    step: str = ""
    iteration: int = 0
    sibling: str = ""  # "sibling 2 of 4" while a step of several candidates is evaluated
    temperature: float | None = None
    self_corrections: int = 0
    versions: int = 0
    unit: str = ""
    source_value: float | None = None
    best_value: float | None = None
    best_version: int | None = None

    def best_text(self) -> str:
        if self.source_value is None:
            return "-"
        source = f"{self.source_value:.4g} {self.unit}"
        if self.best_value is None:
            return f"source {source}; nothing better yet"
        change = (self.best_value - self.source_value) / self.source_value
        return f"v{self.best_version}: {self.best_value:.4g} {self.unit} ({change:+.1%} vs source)"

    def apply(self, node: NodeName, update: dict[str, Any]) -> None:
        """Take in what a finished step changed."""
        candidate: Candidate | None = update.get("candidate")
        stage = STAGE_OF[node]
        if stage is not None:
            self.stage = STAGE_WORDS[stage]
        if node == "profile_source" and "reference" in update:
            profile = update["reference"].profile
            self.unit = objective_unit(profile.objective)
            self.source_value = profile.objective_stats.mean
        if "iteration" in update:
            self.iteration = update["iteration"]
        if candidate is not None:
            self.sibling = (
                f"sibling {candidate.sibling} of {candidate.step_candidates}"
                if candidate.sibling
                else ""
            )
        if "temperature" in update:
            self.temperature = update["temperature"]
        elif candidate is not None and candidate.temperature is not None:
            self.temperature = candidate.temperature
        if "next_version" in update:
            self.versions = update["next_version"] - 1
        if node in ("fix_compile", "fix_runtime") and candidate is not None:
            self.self_corrections += 1
        best: Candidate | None = update.get("best")
        if best is not None and best.profile is not None:
            self.best_value = best.profile.objective_stats.mean
            self.best_version = best.version
        self.step = step_words(node, update).brief

    def seed(self, result: TrialResult) -> None:
        """Start from a checkpointed trial's figures (on resume)."""
        self.unit = objective_unit(result.objective)
        key = "energy_j" if result.objective == "energy" else "runtime_s"
        self.source_value = getattr(result.source, key)
        if result.best is not None:
            self.best_value = getattr(result.best, key)
            self.best_version = result.best_version
        self.iteration = result.iterations
        self.self_corrections = result.self_corrections
        self.versions = result.versions


class ProgressView:
    """Shows running trials; see the module docstring."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        total_trials: int = 1,
        live: bool | None = None,
        banner: str | None = None,
    ) -> None:
        self.console = console or Console()
        self.total_trials = total_trials
        self.banner = banner
        self.done = 0
        self._live_wanted = (
            live
            if live is not None
            else self.console.is_terminal and not self.console.is_dumb_terminal
        )
        self._live: Live | None = None
        self._running: dict[str, TrialProgress] = {}
        self._finished: list[str] = []  # one line per finished trial, latest last
        self._latest: str | None = None
        self._lock = threading.Lock()

    # --- context manager: the live panel exists between enter and exit ---

    def __enter__(self) -> ProgressView:
        if self.banner and not self._live_wanted:  # the live panel shows it
            self.console.print(Text(self.banner))
        if self._live_wanted:
            self._live = Live(
                console=self.console,
                get_renderable=self.render,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- what trials report ---

    def trial_started(
        self, thread_id: str, title: str = "", seed: TrialResult | None = None
    ) -> OnUpdate:
        """Show a new (or resumed) trial; returns the on_update callback for it."""
        progress = TrialProgress(thread_id=thread_id, title=title)
        if seed is not None:
            progress.seed(seed)
        with self._lock:
            self._running[thread_id] = progress
            self._latest = thread_id
        position = f" ({self.done + 1}/{self.total_trials})" if self.total_trials > 1 else ""
        self._say(f"trial {thread_id} started{position}: {title}".rstrip(": "))
        return lambda node, update: self._update(thread_id, node, update)

    def on_update(self, node: NodeName, update: dict[str, Any]) -> None:
        """The callback of the trial started last (one trial at a time)."""
        if self._latest is not None:
            self._update(self._latest, node, update)

    def trial_finished(self, result: TrialResult) -> None:
        figure = (
            f", {result.objective} {-result.reduction:+.1%} vs source" if result.reduction else ""
        )
        summary = f"trial {result.thread_id} {result.status}{figure}"
        with self._lock:
            self._running.pop(result.thread_id, None)
            self._finished.append(summary)
            self.done += 1
        left = self.total_trials - self.done
        counts = f" ({self.done} done, {left} left)" if self.total_trials > 1 else ""
        self._say(summary + counts)

    def _update(self, thread_id: str, node: NodeName, update: dict[str, Any]) -> None:
        with self._lock:
            progress = self._running.get(thread_id)
            if progress is not None:
                progress.apply(node, update)
        line = step_words(node, update).line
        if line:
            prefix = f"[{thread_id}] " if self.total_trials > 1 else ""
            self._say(prefix + line)

    def _say(self, line: str) -> None:
        # on a terminal the line scrolls above the live panel; elsewhere it is the log
        self.console.print(Text(line), soft_wrap=not self._live_wanted)

    # --- the panel ---

    def render(self) -> RenderableType:
        left = self.total_trials - self.done
        parts: list[RenderableType] = []
        if self.banner:
            parts.append(Text(self.banner, style="bold yellow"))
        parts.append(Text(f"trials: {self.done} done, {left} left of {self.total_trials}"))
        with self._lock:
            running = list(self._running.values())
            finished = self._finished[-3:]
        if running:
            table = Table(expand=True)
            for column in STATUS_COLUMNS:
                table.add_column(column, overflow="fold")
            for p in running:
                table.add_row(
                    p.title or p.thread_id,
                    p.stage,
                    p.step,
                    f"{p.iteration} ({p.sibling})" if p.sibling else str(p.iteration),
                    f"{p.temperature:.1f}" if p.temperature is not None else "-",
                    str(p.self_corrections),
                    p.best_text(),
                )
            parts.append(table)
        parts += [Text(f"finished: {line}", style="dim") for line in finished]
        return Group(*parts)
