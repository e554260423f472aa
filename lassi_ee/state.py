"""The trial graph's state: one typed dict, its records, and its reducers.

Every node returns a partial update of ``TrialState``; LangGraph checkpoints
the whole state after each node, so what is here is exactly what a resumed
trial knows. Records are pydantic models so nodes, reports and tests share
one vocabulary.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, Field

from lassi_ee.apps import App
from lassi_ee.devices import Device
from lassi_ee.energy.base import EnergyProfile
from lassi_ee.energy.decide import DecisionRule
from lassi_ee.energy.paired import Confirmation
from lassi_ee.llm.replies import CategorizedOptimization
from lassi_ee.llm.usage import Usage, merge
from lassi_ee.tools.check import CheckResult
from lassi_ee.tools.equivalence import InputSet, RecordedOutput
from lassi_ee.tools.hotspots import Hotspots

Stage = Literal["source", "vanilla", "refactor"]
Phase = Literal["vanilla", "refactor"]
Outcome = Literal[
    "pending",  # still being compiled, run, measured or judged
    "compile_failed",  # did not build (after any self-corrections allowed)
    "run_failed",  # built, but crashed, timed out or failed its own check
    "invalid",  # ran, but the output check or the judge rejected it
    "unchanged",  # the same program as an earlier version: not built, run or measured
    "not_lower",  # valid, but its gain was not screened or not confirmed
    "improved",  # valid and confirmed lower by an interleaved re-measurement: the new best
    "abandoned",  # the trial stopped (LLM failure, budget) before it was assessed
]


class CompileSummary(BaseModel):
    ok: bool
    diagnostics: str = ""
    duration_s: float = 0.0
    binary: str | None = None
    log_path: str | None = None


class RunSummary(BaseModel):
    ok: bool
    failure: str | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float = 0.0
    isolation: str = ""
    env_names: list[str] = Field(default_factory=list, description="the variables it was given")


class Verdict(BaseModel):
    verdict: Literal["VALID", "INVALID"]
    reasons: list[str] = Field(default_factory=list)
    by: Literal["judge", "check"] = "judge"


class Candidate(BaseModel):
    """One version of the program and everything learned about it."""

    version: int = Field(description="1, 2, ... in the order versions were written")
    stage: Stage
    iteration: int = Field(0, description="Stage-3 iteration; 0 for the source and vanilla")
    attempt: int = Field(0, description="self-corrections applied to reach this version")
    sibling: int = Field(
        0,
        description="which of its Stage-3 step's candidates it is, 1 to step_candidates (a "
        "self-correction keeps its sibling's number); 0 when the step asked for one",
    )
    step_candidates: int = Field(
        1, description="how many candidates its step asked for (candidates_per_step)"
    )
    code: str
    temperature: float | None = None
    compile: CompileSummary | None = None
    run: RunSummary | None = None
    check: CheckResult | None = None
    profile: EnergyProfile | None = Field(None, description="its own measurement: the screen")
    screened_lower: bool | None = Field(
        None, description="the screen found it lower than the best: worth confirming"
    )
    verdict: Verdict | None = None
    confirmation: Confirmation | None = Field(
        None, description="best and candidate measured interleaved: what a claim rests on"
    )
    flags: list[str] = Field(
        default_factory=list, description="too good to be true, and the evidence (told the judge)"
    )
    outcome: Outcome = "pending"
    note: str = ""

    @property
    def label(self) -> str:
        if self.stage == "refactor" and self.sibling:
            return (
                f"v{self.version} (iteration {self.iteration}, sibling {self.sibling} of "
                f"{self.step_candidates}, attempt {self.attempt})"
            )
        if self.stage == "refactor":
            return f"v{self.version} (iteration {self.iteration}, attempt {self.attempt})"
        return f"v{self.version} ({self.stage}, attempt {self.attempt})"


class Limits(BaseModel):
    """The method's bounds, copied from settings when a trial starts so that a
    resumed trial stops where the original would have."""

    max_iterations: int
    max_self_corrections: int
    max_temperature: float
    max_fruitless_without_temperature: int


class ReferenceRun(BaseModel):
    """The source's measured profile and outputs: what every candidate is held to."""

    profile: EnergyProfile
    stdout: str
    output_files_dir: str | None = None
    runtime_s: float
    cache_key: str
    from_cache: bool = False
    other_inputs: list[RecordedOutput] = Field(
        default_factory=list, description="its outputs on smoke_args and each of check_args"
    )
    hotspots: Hotspots | None = Field(
        None,
        description="profiler counters per kernel and the power's shape, for Stage 2; None in "
        "cache entries and trials from before they existed",
    )

    def recorded(self, args: list[str]) -> list[RecordedOutput]:
        """Its outputs on every input set, the benchmark's ``args`` first."""
        benchmark = RecordedOutput(
            input=InputSet(label="args", args=args),
            stdout=self.stdout,
            files_dir=self.output_files_dir,
        )
        return [benchmark, *self.other_inputs]


class FinalCheck(BaseModel):
    """Stage 4's re-measurement of the best version against the source, interleaved.

    Its paired estimate and 95 % interval are the trial's reported reduction; a
    trial whose interval reaches 0 is not improved, whatever Stage 3 found.
    """

    confirmation: Confirmation | None = None
    confirmed: bool = Field(description="the 95 % interval of the reduction lies above 0")
    note: str = Field("", description="why it was not confirmed, in plain words")


class TrialInput(TypedDict, total=False):
    """What a caller (run_graph, the CLI, LangGraph Studio) starts a trial with."""

    source: str  # an app directory or a source file
    device: str  # a device spec: cuda:N, rocm:N, cpu or auto
    args: list[str] | None  # the program's arguments, instead of the manifest's


class TrialState(TrialInput, total=False):
    """Everything a trial knows; each key says which node writes it."""

    # --- Stage 0 (profile_source) ---
    app: App  # profile_source
    source_code: str  # profile_source
    device_info: Device  # profile_source
    reference: ReferenceRun  # profile_source: the source's figures and outputs
    objective: Literal["energy", "runtime"]  # profile_source
    decision_rule: DecisionRule  # profile_source: how Stage 1 and 3 confirmations decide
    final_rule: DecisionRule  # profile_source: the final re-measurement's pairs
    # --- the candidate in flight, and every finished version ---
    phase: Phase  # profile_source ("vanilla"), summarize_docs ("refactor")
    # vanilla, refactor and the fixes write a new one, next_sibling and pick_sibling put a
    # sibling in flight; the evaluation nodes (compile_, run_, measure_, judge_,
    # confirm_candidate) add to it; assess clears it
    candidate: Candidate | None
    history: Annotated[list[Candidate], operator.add]  # assess; a fix adds the failed version;
    # pick_sibling adds the siblings it did not choose
    # --- a Stage-3 step of several candidates (candidates_per_step > 1), one at a time ---
    # refactor writes the step's replies after the first (which is the candidate);
    # next_sibling takes the first; assess empties it when the trial stops
    queued_siblings: list[Candidate]
    # next_sibling holds a sibling the screen found lower and the judge VALID, until every
    # sibling is screened; pick_sibling empties it, assess when the trial stops
    screened_siblings: list[Candidate]
    next_version: int  # profile_source; each node that writes a candidate
    best: Candidate | None  # profile_source (None); assess, for a confirmed gain
    # --- Stage 2 context ---
    docs_summary: str  # summarize_docs
    analysis: str  # analyze_code
    plan: str  # plan: the current plan
    plans: Annotated[list[str], operator.add]  # plan: every plan so far
    # --- Stage 3 control ---
    limits: Limits  # profile_source, from the settings
    iteration: int  # profile_source (0); refactor
    temperature: float  # profile_source; assess raises it after a fruitless try
    temperature_applies: bool  # profile_source; refactor, from the model's reply
    fruitless: int  # profile_source; assess
    # --- how the trial runs: its settings from Stage 0 on (never the API key), and the
    # explicit changes resumes made to them ---
    trial_settings: dict[str, Any]  # profile_source; resume_graph when told to change one
    resumed_with: Annotated[list[str], operator.add]  # resume_graph (api.py)
    # measure_candidate, when the trial resumed on another board (a campaign's repin): what
    # it re-measured there before screening against it, and the figures of both boards
    board_moves: Annotated[list[str], operator.add]
    # --- Stage 4 and bookkeeping ---
    final_check: FinalCheck | None  # profile_source (None); confirm_final
    comparison: str | None  # compare: the LLM's report on what changed and why
    comparison_error: str | None  # compare: why no report was written (the LLM failed)
    categories: list[CategorizedOptimization]  # categorize
    usage: Annotated[Usage, merge]  # every node that asks an LLM adds its call's
    stop_reason: str | None  # assess (the stopping rule); any node whose LLM call failed
    error: str | None  # profile_source: why the source cannot be used
    archive_path: str | None  # finalize
    archive_error: str | None  # finalize
    started_unix: float  # profile_source
    finished_unix: float  # finalize
    running_s: Annotated[float, operator.add]  # every step's own time (graph/builder.py)
