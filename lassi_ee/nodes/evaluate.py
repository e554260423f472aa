"""Evaluate the candidate in flight: compile -> run + check -> measure -> judge -> assess.

Each step is its own node so that a resumed trial repeats none of them; the
routes between them (self-correction, the check's veto) are in graph/routes.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.energy.base import SensorError
from lassi_ee.energy.measure import is_lower_energy
from lassi_ee.errors import LassiError
from lassi_ee.graph.routes import stopping_reason
from lassi_ee.llm.errors import LLMError, NoUsableReply
from lassi_ee.nodes.common import (
    TrialContext,
    best_profile,
    context_of,
    figures,
    llm_failure,
    prompt_vars,
    version_dir,
    work_dir,
)
from lassi_ee.state import Candidate, CompileSummary, Outcome, RunSummary, TrialState, Verdict
from lassi_ee.tools.check import CheckRequest, ProgramOutput, compare_outputs, read_output_files
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.profile import (
    MeasurementFailed,
    measure_binary,
    run_request,
)
from lassi_ee.tools.run import run_program

SENSOR_ATTEMPTS = 2


def _in_flight(state: TrialState) -> Candidate:
    candidate = state["candidate"]
    assert candidate is not None, "an evaluation node ran with no candidate in flight"
    return candidate


def compile_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    settings = context_of(runtime).settings
    candidate = _in_flight(state)
    build_dir = work_dir(settings) / f"v{candidate.version:02d}"
    result = compile_app(
        CompileRequest(
            app=state["app"], device=state["device_info"], build_dir=build_dir, code=candidate.code
        ),
        settings,
    )
    log_path = version_dir(settings, candidate) / "compile.log"
    log_path.write_text(" ".join(result.command) + "\n" + result.log)
    summary = CompileSummary(
        ok=result.ok,
        diagnostics=result.diagnostics,
        duration_s=result.duration_s,
        binary=str(result.binary) if result.binary else None,
        log_path=str(log_path),
    )
    return {"candidate": candidate.model_copy(update={"compile": summary})}


def _binary(state: TrialState, runtime: Runtime[TrialContext]) -> Path:
    """The candidate's binary; rebuilt when a resumed trial finds the scratch space gone."""
    candidate = _in_flight(state)
    assert candidate.compile is not None and candidate.compile.binary is not None
    binary = Path(candidate.compile.binary)
    if not binary.is_file():
        rebuilt = compile_candidate(state, runtime)["candidate"].compile
        binary = Path(rebuilt.binary)
    return binary


def run_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Run once in the sandbox, then check the outputs against the source's."""
    settings = context_of(runtime).settings
    candidate = _in_flight(state)
    app, reference = state["app"], state["reference"]
    result = run_program(
        run_request(app, state["device_info"], _binary(state, runtime), settings), settings
    )
    logs = version_dir(settings, candidate)
    (logs / "stdout.txt").write_text(result.stdout)
    (logs / "stderr.txt").write_text(result.stderr)
    failure = result.failure()
    summary = RunSummary(
        ok=failure is None,
        failure=failure,
        stdout=result.stdout[-20_000:],
        stderr=result.stderr[-20_000:],
        wall_s=result.wall_s,
        isolation=result.isolation.summary(),
        env_names=result.env_names,
    )
    update: dict[str, Any] = {"run": summary}
    if failure is None:
        reference_files = {}
        if reference.output_files_dir:
            reference_files = read_output_files(
                Path(reference.output_files_dir),
                app.manifest.output_files,
                settings.max_output_bytes,
            )
        candidate_files = read_output_files(
            result.workdir, app.manifest.output_files, settings.max_output_bytes
        )
        update["check"] = compare_outputs(
            CheckRequest(
                reference=ProgramOutput(stdout=reference.stdout, files=reference_files),
                candidate=ProgramOutput(stdout=result.stdout, files=candidate_files),
                rtol=settings.check_rtol,
                atol=settings.check_atol,
                pass_regex=app.manifest.pass_regex,
                fail_regex=app.manifest.fail_regex,
                ignore_regex=app.manifest.ignore_regex,
            )
        )
    result.discard()
    return {"candidate": candidate.model_copy(update=update)}


def measure_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    settings = context_of(runtime).settings
    candidate = _in_flight(state)
    timeline = version_dir(settings, candidate) / "timeline.json"
    binary = _binary(state, runtime)
    note = ""
    for attempt in range(1, SENSOR_ATTEMPTS + 1):
        try:
            profile = measure_binary(state["app"], state["device_info"], binary, settings, timeline)
            return {"candidate": candidate.model_copy(update={"profile": profile})}
        except MeasurementFailed as error:  # the program failed in a later run: a run failure
            assert candidate.run is not None
            failed_run = candidate.run.model_copy(update={"ok": False, "failure": str(error)})
            return {"candidate": candidate.model_copy(update={"run": failed_run})}
        except SensorError as error:  # the sensor, not the program: measure again
            note = f"not measured: {error} ({attempt} attempts)"
        except LassiError as error:  # e.g. the device lock timed out: left unmeasured
            return {"candidate": candidate.model_copy(update={"note": f"not measured: {error}"})}
    return {"candidate": candidate.model_copy(update={"note": note})}


def judge_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """LLM-as-a-Judge, told the check's finding and both sets of figures."""
    candidate = _in_flight(state)
    reference = state["reference"]
    assert candidate.run is not None and candidate.check is not None
    try:
        reply = (
            context_of(runtime)
            .llm()
            .judge(
                prompt_vars(
                    state,
                    source=state["source_code"],
                    candidate=candidate.code,
                    source_output=reference.stdout[-8000:],
                    candidate_output=candidate.run.stdout[-8000:],
                    check_finding=candidate.check.finding,
                    source_figures=figures(reference.profile),
                    candidate_figures=figures(candidate.profile),
                ),
                usage=state["usage"],
            )
        )
    except NoUsableReply as error:  # no readable verdict: not shown to be equivalent
        verdict = Verdict(verdict="INVALID", reasons=[f"no verdict from the judge: {error}"])
        return {
            "candidate": candidate.model_copy(update={"verdict": verdict}),
            "usage": error.usage,
        }
    except LLMError as error:
        return llm_failure(error, candidate)
    verdict = Verdict(verdict=reply.verdict, reasons=reply.reasons)
    return {"candidate": candidate.model_copy(update={"verdict": verdict}), "usage": reply.usage}


def classify(candidate: Candidate, lower: bool) -> Outcome:
    """What became of a candidate, from the facts gathered about it."""
    if candidate.compile is None:
        return "abandoned"
    if not candidate.compile.ok:
        return "compile_failed"
    if candidate.run is None:
        return "abandoned"
    if not candidate.run.ok:
        return "run_failed"
    if candidate.check is not None and candidate.check.vetoes:
        return "invalid"
    if candidate.profile is None or candidate.verdict is None:
        return "abandoned"
    if candidate.verdict.verdict == "INVALID":
        return "invalid"
    return "improved" if lower else "not_lower"


def assess(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Record the candidate's outcome; a new best, or a hotter temperature; the stopping rule."""
    settings = context_of(runtime).settings
    candidate = state.get("candidate")
    if candidate is None:  # the LLM failed before writing anything
        return {}
    lower = (
        candidate.profile is not None
        and candidate.verdict is not None
        and candidate.verdict.verdict == "VALID"
        and is_lower_energy(
            best_profile(state), candidate.profile, settings.min_energy_gain, settings.noise_sigmas
        )
    )
    outcome = classify(candidate, lower) if candidate.outcome == "pending" else candidate.outcome
    if outcome == "invalid" and candidate.verdict is None and candidate.check is not None:
        candidate = candidate.model_copy(
            update={
                "verdict": Verdict(verdict="INVALID", reasons=[candidate.check.finding], by="check")
            }
        )
    finished = candidate.model_copy(update={"outcome": outcome})
    update: dict[str, Any] = {"history": [finished], "candidate": None}
    if outcome == "improved":
        update["best"] = finished
    if state["phase"] == "vanilla" or state.get("stop_reason"):
        return update
    temperature, fruitless = state["temperature"], state["fruitless"]
    if outcome == "not_lower":
        temperature = round(temperature + settings.temperature_step, 6)
        fruitless += 1
    update.update(temperature=temperature, fruitless=fruitless)
    reason = stopping_reason(
        state["limits"], state["iteration"], temperature, state["temperature_applies"], fruitless
    )
    if reason:
        update["stop_reason"] = reason
    return update
