"""Evaluate the candidate in flight: compile -> run + check -> measure -> judge -> assess.

The check runs the candidate on every input set and reads its code (tools/equivalence.py,
tools/guards.py); a gain too good to be true gets a second look before the judge.

Each step is its own node so that a resumed trial repeats none of them; the
routes between them (self-correction, the check's veto, confirmation) are in
graph/routes.py. The measurement here is a screen; a candidate it finds lower
is confirmed by an interleaved re-measurement (nodes/confirm.py) before assess
may call it improved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from lassi_ee.energy.base import SensorError
from lassi_ee.energy.decide import screen_lower
from lassi_ee.errors import LassiError
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
from lassi_ee.settings import Settings
from lassi_ee.state import (
    Candidate,
    CompileSummary,
    Limits,
    Outcome,
    RunSummary,
    TrialState,
    Verdict,
)
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.equivalence import check_on_every_input, confirmable, gain_flag
from lassi_ee.tools.guards import GuardInput, run_guards
from lassi_ee.tools.profile import (
    MeasurementFailed,
    measure_binary,
)

SENSOR_ATTEMPTS = 2


def _in_flight(state: TrialState) -> Candidate:
    candidate = state["candidate"]
    assert candidate is not None, "an evaluation node ran with no candidate in flight"
    return candidate


def build(state: TrialState, settings: Settings, candidate: Candidate) -> CompileSummary:
    """Compile a version into its own build folder; the log goes to its archive folder."""
    build_dir = work_dir(settings) / f"v{candidate.version:02d}"
    result = compile_app(
        CompileRequest(
            app=state["app"], device=state["device_info"], build_dir=build_dir, code=candidate.code
        ),
        settings,
    )
    log_path = version_dir(settings, candidate) / "compile.log"
    log_path.write_text(" ".join(result.command) + "\n" + result.log)
    return CompileSummary(
        ok=result.ok,
        diagnostics=result.diagnostics,
        duration_s=result.duration_s,
        binary=str(result.binary) if result.binary else None,
        log_path=str(log_path),
    )


def compile_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Build the candidate; the compiler's diagnostics are what fix_compile is told."""
    candidate = _in_flight(state)
    summary = build(state, context_of(runtime).settings, candidate)
    return {"candidate": candidate.model_copy(update={"compile": summary})}


def binary_of(state: TrialState, settings: Settings, candidate: Candidate) -> Path:
    """A built version's binary; rebuilt when a resumed trial finds the scratch space gone."""
    assert candidate.compile is not None and candidate.compile.binary is not None
    binary = Path(candidate.compile.binary)
    if not binary.is_file():
        rebuilt = build(state, settings, candidate)
        if rebuilt.binary is None:
            raise LassiError(f"{candidate.label} no longer builds: {rebuilt.diagnostics[:500]}")
        binary = Path(rebuilt.binary)
    return binary


def _binary(state: TrialState, runtime: Runtime[TrialContext]) -> Path:
    return binary_of(state, context_of(runtime).settings, _in_flight(state))


def run_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Run on every input set in the sandbox, each checked against the source's outputs.

    Then read the code with the static guards.
    """
    settings = context_of(runtime).settings
    candidate = _in_flight(state)
    app, reference = state["app"], state["reference"]
    references = reference.recorded(app.manifest.args)
    outcome = check_on_every_input(
        app, state["device_info"], _binary(state, runtime), references, settings
    )
    logs = version_dir(settings, candidate)
    for index, run in enumerate(outcome.runs):
        suffix = f"-{index}" if index else ""  # stdout.txt: args; stdout-1.txt: the next set
        (logs / f"stdout{suffix}.txt").write_text(run.stdout)
        (logs / f"stderr{suffix}.txt").write_text(run.stderr)
    shown = outcome.failed_run or outcome.runs[0]
    summary = RunSummary(
        ok=shown.failure is None,
        failure=shown.failure,
        stdout=shown.stdout[-20_000:],
        stderr=shown.stderr[-20_000:],
        wall_s=outcome.runs[0].wall_s,
        isolation=outcome.runs[0].isolation,
        env_names=outcome.runs[0].env_names,
    )
    update: dict[str, Any] = {"run": summary}
    if outcome.check is not None:
        guards = run_guards(
            GuardInput(
                language=app.manifest.language,
                source_code=state["source_code"],
                candidate_code=candidate.code,
                source_outputs=[recorded.stdout for recorded in references],
                ignore_regex=app.manifest.ignore_regex,
                arg_sets=[recorded.input.args for recorded in references],
                protected_paths=[
                    str(path.resolve())
                    for path in (settings.cache_dir, settings.runs_dir, settings.work_root)
                ],
                pass_regex=app.manifest.pass_regex,
                fail_regex=app.manifest.fail_regex,
                self_check=app.manifest.self_check,
                nothing_compared=outcome.check.status == "inconclusive",
            )
        )
        update["check"] = outcome.check.model_copy(update={"guards": guards})
        update["flags"] = [*candidate.flags, *outcome.flags]
    return {"candidate": candidate.model_copy(update=update)}


def measure_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """The screen: the candidate's own measurement, and whether it looks lower than the best."""
    settings = context_of(runtime).settings
    candidate = _in_flight(state)
    timeline = version_dir(settings, candidate) / "timeline.json"
    binary = _binary(state, runtime)
    note = ""
    for attempt in range(1, SENSOR_ATTEMPTS + 1):
        try:
            profile = measure_binary(state["app"], state["device_info"], binary, settings, timeline)
            lower = screen_lower(
                best_profile(state), profile, settings.min_energy_gain, settings.noise_sigmas
            )
            update = {"profile": profile, "screened_lower": lower}
            return {"candidate": candidate.model_copy(update=update)}
        except MeasurementFailed as error:  # the program failed in a later run: a run failure
            assert candidate.run is not None
            failed_run = candidate.run.model_copy(update={"ok": False, "failure": str(error)})
            return {"candidate": candidate.model_copy(update={"run": failed_run})}
        except SensorError as error:  # the sensor, not the program: measure again
            note = f"not measured: {error} ({attempt} attempts)"
        except LassiError as error:  # e.g. the device lock timed out: left unmeasured
            return {"candidate": candidate.model_copy(update={"note": f"not measured: {error}"})}
    return {"candidate": candidate.model_copy(update={"note": note})}


def _second_look(
    state: TrialState, runtime: Runtime[TrialContext], candidate: Candidate
) -> Candidate:
    """A candidate too good to be true is flagged and run again on every input.

    It is rejected here when no check can back the gain (one input, or nothing compared) or
    when the second runs do not match. Only a candidate that passes goes to the judge, who
    is told the flag.
    """
    settings = context_of(runtime).settings
    reference = state["reference"]
    assert candidate.profile is not None and candidate.check is not None
    flag = gain_flag(reference.profile, candidate.profile, settings.suspicious_gain)
    if flag is None:
        return candidate
    unbacked = confirmable(candidate.check)
    if unbacked:
        return _rejected(
            candidate,
            flag,
            f"{flag}, and {unbacked}: such a gain counts only when the output check matched on "
            "at least two inputs (add check_args to the manifest)",
        )
    app = state["app"]
    again = check_on_every_input(
        app,
        state["device_info"],
        _binary(state, runtime),
        reference.recorded(app.manifest.args),
        settings,
    )
    failed = again.failed_run
    if failed is not None or again.check is None or again.check.vetoes:
        why = failed.failure if failed is not None else again.check.finding if again.check else ""
        return _rejected(candidate, flag, f"{flag}; run again on every input, it failed: {why}")
    looked_twice = f"{flag}; run again on all {again.check.inputs_checked} inputs, it matched again"
    return candidate.model_copy(update={"flags": [*candidate.flags, looked_twice]})


def _rejected(candidate: Candidate, flag: str, reason: str) -> Candidate:
    return candidate.model_copy(
        update={
            "flags": [*candidate.flags, flag],
            "verdict": Verdict(verdict="INVALID", reasons=[reason], by="check"),
        }
    )


def _flags_for_judge(candidate: Candidate) -> str:
    if not candidate.flags:
        return "none"
    return (
        "; ".join(candidate.flags) + ". Be sure it does all of the original's work for every "
        "input, not only for the inputs it was run on."
    )


def judge_candidate(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """LLM-as-a-Judge, told the check's and the guards' findings, any flag and the figures.

    A candidate that the second look rejects is not put to the judge.
    """
    candidate = _second_look(state, runtime, _in_flight(state))
    if candidate.verdict is not None:
        return {"candidate": candidate}
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
                    check_finding=candidate.check.summary(),
                    flags=_flags_for_judge(candidate),
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


def is_confirmed_lower(candidate: Candidate) -> bool:
    """Valid, and its interleaved re-measurement against the best claimed a gain."""
    return (
        candidate.verdict is not None
        and candidate.verdict.verdict == "VALID"
        and candidate.confirmation is not None
        and candidate.confirmation.decision.claimed
    )


def stopping_reason(
    limits: Limits, iteration: int, temperature: float, temperature_applies: bool, fruitless: int
) -> str | None:
    """The Stage-3 stopping rule; None: go on.

    It stops at the iteration cap, at the temperature past its ceiling, or after N fruitless
    tries for models that take no temperature.
    """
    if iteration >= limits.max_iterations:
        return f"iteration cap reached ({limits.max_iterations})"
    if temperature_applies and temperature > limits.max_temperature + 1e-9:
        return f"temperature {temperature:.1f} exceeded {limits.max_temperature:.1f}"
    if not temperature_applies and fruitless >= limits.max_fruitless_without_temperature:
        return f"{fruitless} tries without improvement (the model takes no temperature)"
    return None


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
    """Record the candidate's outcome; a new best, or a hotter temperature; the stopping rule.

    In a step of several candidates the temperature and the stopping rule wait for the step
    to end (no sibling queued or held for the pick); a trial that stops records the
    step's siblings that were never confirmed.
    """
    settings = context_of(runtime).settings
    candidate = state.get("candidate")
    if candidate is None:  # the LLM failed before writing anything
        return {}
    lower = is_confirmed_lower(candidate)
    outcome = classify(candidate, lower) if candidate.outcome == "pending" else candidate.outcome
    if outcome == "invalid" and candidate.verdict is None and candidate.check is not None:
        reasons = candidate.check.veto_reasons()
        candidate = candidate.model_copy(
            update={"verdict": Verdict(verdict="INVALID", reasons=reasons, by="check")}
        )
    finished = candidate.model_copy(update={"outcome": outcome})
    update: dict[str, Any] = {"history": [finished], "candidate": None}
    if outcome == "improved":
        update["best"] = finished
    if state.get("stop_reason"):
        left = _left_by_the_stop(state)
        if left:
            update["history"] = sorted([finished, *left], key=lambda version: version.version)
            update.update(queued_siblings=[], screened_siblings=[])
        return update
    if state["phase"] == "vanilla":
        return update
    if state.get("queued_siblings") or state.get("screened_siblings"):
        return update  # its step goes on with the next sibling, or the pick
    temperature, fruitless = state["temperature"], state["fruitless"]
    if _fruitless_step(state, finished):  # correct but fruitless: try hotter
        temperature = round(temperature + settings.temperature_step, 6)
        fruitless += 1
    update.update(temperature=temperature, fruitless=fruitless)
    reason = stopping_reason(
        state["limits"], state["iteration"], temperature, state["temperature_applies"], fruitless
    )
    if reason:
        update["stop_reason"] = reason
    return update


def _fruitless_step(state: TrialState, finished: Candidate) -> bool:
    """The step found nothing lower, though one of its candidates was correct or unchanged.

    Its candidates are ``finished`` and, in a step of several, its siblings already recorded.
    """
    if finished.outcome == "improved":
        return False
    siblings = [
        version
        for version in state["history"]
        if finished.sibling and version.sibling and version.iteration == finished.iteration
    ]
    return any(version.outcome in ("not_lower", "unchanged") for version in [*siblings, finished])


def _left_by_the_stop(state: TrialState) -> list[Candidate]:
    """The step's siblings the trial stopped before confirming, recorded as what they became.

    One queued is abandoned unless already decided (an earlier version again, no usable
    reply); one held for the pick is valid but not confirmed.
    """
    queued = [
        sibling.model_copy(
            update={"outcome": "abandoned", "note": "the trial stopped before it was evaluated"}
        )
        if sibling.outcome == "pending"
        else sibling
        for sibling in state.get("queued_siblings") or []
    ]
    held = [
        sibling.model_copy(
            update={
                "outcome": "not_lower",
                "note": "screened lower than the best, but the trial stopped before its step "
                "chose one to confirm",
            }
        )
        for sibling in state.get("screened_siblings") or []
    ]
    return [*queued, *held]
