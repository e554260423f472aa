"""What a trial report shows, gathered from the trial's checkpointed state.

The state holds every version, verdict, plan and figure, so the report is
built from it alone (the archive under runs/THREAD is written from the same
state). Timelines are read from the JSON files the measurements saved; a
missing file is reported as missing, not fatal.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.energy.base import EnergyProfile, Timeline, objective_unit
from lassi_ee.llm.demo import DEMO_MODEL_NAME, SCRIPTED_MARK
from lassi_ee.result import Figures, TrialResult, figures_of, result_from_state
from lassi_ee.settings import Settings
from lassi_ee.state import Candidate, TrialState
from lassi_ee.tools.check import numbers_in, significant_lines
from lassi_ee.tools.hotspots import Hotspots
from lassi_ee.trials import read_trial

PROFILE_HEADING = "## Where the source's time goes (Stage 0 profile)"
NO_PROFILE = "Stage 0 of this trial recorded no profiler findings (it predates them)."


class VersionRow(BaseModel):
    """One version of the program as the report lists and plots it."""

    version: int
    label: str
    stage: str
    iteration: int
    attempt: int
    sibling: int = Field(0, description="which of its step's candidates; 0: the step had one")
    step_candidates: int = Field(1, description="how many candidates its step asked for")
    outcome: str
    temperature: float | None = None
    figures: Figures = Field(default_factory=Figures)
    objective_value: float | None = Field(None, description="energy J or runtime s per run")
    objective_cv: float | None = None
    verdict: str | None = None
    verdict_by: str | None = None
    reasons: list[str] = Field(default_factory=list)
    problem: str = Field("", description="why it failed: compiler, run or note, one line")
    check: str = Field("", description="the output check's status and on how many inputs")
    flags: list[str] = Field(default_factory=list, description="too good to be true, and why")
    guards: list[str] = Field(default_factory=list, description="the static guards' findings")
    confirmation: str = Field(
        "", description="its interleaved re-measurement against the best, in one line"
    )
    is_best: bool = False


class TimelineView(BaseModel):
    """The measurement timeline of one version, or why there is none."""

    label: str
    timeline: Timeline | None = None
    missing: str | None = None


class TrialReport(BaseModel):
    thread_id: str
    result: TrialResult
    finished: bool
    device_facts: str = ""
    code_lang: str = ""
    scripted: bool = Field(False, description="the replies came from the scripted demo model")
    sensor_note: str | None = Field(None, description="set when runtime was the objective")
    check_warnings: list[str] = Field(default_factory=list, description="see check_warnings()")
    versions: list[VersionRow] = Field(default_factory=list)
    source_code: str = ""
    best_code: str | None = None
    best_label: str | None = None
    docs_summary: str = ""
    analysis: str = ""
    plans: list[str] = Field(default_factory=list)
    comparison: str | None = None
    comparison_error: str | None = None
    timelines: list[TimelineView] = Field(default_factory=list)
    hotspots: Hotspots | None = Field(
        None, description="Stage 0's profiler counters and power shape of the source"
    )
    generated_unix: float = Field(default_factory=time.time)

    @property
    def objective_unit(self) -> str:
        return objective_unit(self.result.objective)

    @property
    def objective_name(self) -> str:
        return "energy per run" if self.result.objective == "energy" else "runtime per run"


def _problem(candidate: Candidate) -> str:
    """Why a version failed to build or run (an output check's veto is its verdict)."""
    if candidate.compile is not None and not candidate.compile.ok:
        first = next((line for line in candidate.compile.diagnostics.splitlines() if line), "")
        return f"does not compile: {first}".rstrip(": ")
    if candidate.run is not None and not candidate.run.ok:
        return f"run failed: {candidate.run.failure}"
    return candidate.note


def settled_outcome(candidate: Candidate) -> str:
    """A version's outcome; one that a self-correction replaced is kept in the history as
    "pending" and is shown by what went wrong with it."""
    if candidate.outcome != "pending":
        return candidate.outcome
    if candidate.compile is not None and not candidate.compile.ok:
        return "compile_failed"
    if candidate.run is not None and not candidate.run.ok:
        return "run_failed"
    return "abandoned"


def version_row(
    candidate: Candidate, objective: str | None, best_version: int | None
) -> VersionRow:
    profile = candidate.profile
    value = cv = None
    if profile is not None and objective in ("energy", "runtime"):
        try:
            stats = profile.stats_for("energy" if objective == "energy" else "runtime")
            value, cv = stats.mean, stats.cv
        except ValueError:  # measured without energy figures
            value = None
    verdict = candidate.verdict
    check = candidate.check
    return VersionRow(
        version=candidate.version,
        label=candidate.label,
        stage=candidate.stage,
        iteration=candidate.iteration,
        attempt=candidate.attempt,
        sibling=candidate.sibling,
        step_candidates=candidate.step_candidates,
        outcome=settled_outcome(candidate),
        temperature=candidate.temperature,
        figures=figures_of(profile),
        objective_value=value,
        objective_cv=cv,
        verdict=verdict.verdict if verdict else None,
        verdict_by=verdict.by if verdict else None,
        reasons=list(verdict.reasons) if verdict else [],
        problem=_problem(candidate),
        check=f"{check.status} on {check.inputs_checked} input(s)" if check else "",
        flags=list(candidate.flags),
        guards=[guard.text for guard in check.guards] if check else [],
        confirmation=candidate.confirmation.summary() if candidate.confirmation else "",
        is_best=candidate.version == best_version,
    )


def check_warnings(state: TrialState) -> list[str]:
    """What the report warns about the output check: one input only, inputs on which the
    source's results do not change, versions it had nothing to compare for, and versions
    flagged as too good to be true."""
    reference, history = state.get("reference"), state.get("history", [])
    warnings = []
    if reference is not None and not reference.other_inputs:
        warnings.append(
            "The output check ran every version on one input only: the manifest lists no "
            "smoke_args or check_args, so a version that prints this input's answer without "
            "computing it would pass the check. Add check_args (argument sets that change the "
            "answer) to the app's manifest."
        )
    if reference is not None and reference.other_inputs:
        app = state.get("app")
        ignore = app.manifest.ignore_regex if app is not None else None

        def results(stdout: str) -> list[float]:
            return [value for value, _ in numbers_in(significant_lines(stdout, ignore))]

        same = [
            recorded.input.label
            for recorded in reference.other_inputs
            if results(recorded.stdout) == results(reference.stdout)
        ]
        if same:
            warnings.append(
                f"On {', '.join(same)} the source prints the same results as on args: such an "
                "input cannot expose an answer copied from a run. Choose check_args that "
                "change the results."
            )
    inconclusive = [
        f"v{c.version}" for c in history if c.check and c.check.status == "inconclusive"
    ]
    if inconclusive:
        warnings.append(
            f"The output check had nothing to compare for {', '.join(inconclusive)}: the source "
            "prints no result numbers and writes no output file named in the manifest "
            "(outputs:), so only the judge, reading the code, stood between them and a result."
        )
    warnings += [f"v{c.version} was flagged: {'; '.join(c.flags)}" for c in history if c.flags]
    return warnings


def _timeline(label: str, profile: EnergyProfile | None) -> TimelineView:
    if profile is None:
        return TimelineView(label=label, missing="not measured")
    if profile.timeline_path is None:
        return TimelineView(label=label, missing="no timeline was saved")
    path = Path(profile.timeline_path)
    try:
        return TimelineView(label=label, timeline=Timeline.load(path))
    except (OSError, ValueError) as error:
        return TimelineView(label=label, missing=f"timeline {path} unreadable ({error})")


def is_scripted(state: TrialState) -> bool:
    """Whether the trial's LLM replies came from the scripted demo model."""
    usage = state.get("usage")
    if usage is not None and DEMO_MODEL_NAME in usage.unpriced_models:
        return True
    texts = [state.get("docs_summary"), state.get("analysis"), state.get("comparison")]
    texts += state.get("plans", [])
    return any(text and SCRIPTED_MARK in text for text in texts)


def trial_report_from_state(thread_id: str, state: TrialState, finished: bool) -> TrialReport:
    """Everything the report shows, from one trial's state (finished or not)."""
    result = result_from_state(thread_id, state, finished)
    objective = state.get("objective")
    best = state.get("best")
    reference = state.get("reference")
    device = state.get("device_info")
    app = state.get("app")
    sensor_note = None
    if objective == "runtime" and reference is not None:
        note = reference.profile.note or reference.profile.backend
        sensor_note = (
            f"No energy sensor: energy and power cannot be measured on {result.device}, so "
            f"runtime was the objective and every figure here is time. ({note})"
        )
    timelines = []
    if reference is not None:
        timelines.append(_timeline("source", reference.profile))
    if best is not None and result.best_code is not None:
        timelines.append(_timeline(f"best v{best.version}", best.profile))
    languages = {"cuda": "cuda", "hip": "cpp", "openmp": "cpp"}
    return TrialReport(
        thread_id=thread_id,
        result=result,
        finished=finished,
        device_facts=device.facts() if device is not None else str(state.get("device", "")),
        code_lang=languages.get(app.manifest.language, "") if app is not None else "",
        scripted=is_scripted(state),
        sensor_note=sensor_note,
        check_warnings=check_warnings(state),
        versions=[
            version_row(c, objective, best.version if best else None)
            for c in state.get("history", [])
        ],
        source_code=state.get("source_code", ""),
        best_code=result.best_code,
        best_label=best.label if best is not None and result.best_code is not None else None,
        docs_summary=state.get("docs_summary", ""),
        analysis=state.get("analysis", ""),
        plans=list(state.get("plans", [])),
        comparison=state.get("comparison"),
        comparison_error=state.get("comparison_error"),
        timelines=timelines,
        hotspots=reference.hotspots if reference is not None else None,
    )


def load_trial_report(thread_id: str, settings: Settings) -> TrialReport:
    """The report of a trial in the checkpoint database; an unknown thread is a UsageError."""
    stored = read_trial(thread_id, settings)
    report = trial_report_from_state(thread_id, stored.state, stored.finished)
    # the checkpoint also knows whether an outage interrupted its next step
    return report.model_copy(update={"result": stored.result})
