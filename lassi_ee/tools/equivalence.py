"""Equivalence on several inputs: the source's outputs on each, a candidate checked on all.

A program that prints the benchmark input's answer without computing it passes a
comparison on that one input. The manifest's ``smoke_args`` and ``check_args`` are
further inputs: the source's outputs on each are recorded once, with its Stage-0
profile, and a candidate runs on every one of them before it is measured; the first
mismatch vetoes and names the input. Across inputs the check also sees results that
stay put while the source's change (zeros within the absolute tolerance), and
``gain_flag`` says when a measured gain is too large to take on trust.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.apps import App, AppManifest
from lassi_ee.devices import Device
from lassi_ee.energy.base import EnergyProfile
from lassi_ee.errors import LassiError
from lassi_ee.settings import Settings
from lassi_ee.tools.check import (
    CheckRequest,
    CheckResult,
    ProgramOutput,
    compare_outputs,
    numbers_in,
    read_output_files,
    significant_lines,
)
from lassi_ee.tools.profile import run_request, self_check_failure
from lassi_ee.tools.run import RunResult, run_program

ONE_INPUT_WARNING = (
    "on one input only: the manifest lists no smoke_args or check_args, so a program that "
    "prints this input's answer without computing it would pass"
)


class InputSet(BaseModel):
    """One set of program arguments, named after the manifest field it comes from."""

    label: str = Field(description="args, smoke_args, check_args[0], ...")
    args: list[str]

    def describe(self) -> str:
        """The input set as a user would name it: ``check_args[0] (64 40)``."""
        return f"{self.label} ({' '.join(self.args) or 'no arguments'})"


class RecordedOutput(BaseModel):
    """What the source printed, and the output files it wrote, on one input set."""

    input: InputSet
    stdout: str
    files_dir: str | None = Field(None, description="its output files (the manifest's outputs)")


class InputRun(BaseModel):
    """One run of a candidate on one input set."""

    input: InputSet
    stdout: str
    stderr: str
    wall_s: float
    failure: str | None = None
    isolation: str = ""
    env_names: list[str] = Field(default_factory=list, description="the variables it was given")


class EquivalenceResult(BaseModel):
    """A candidate's runs on the input sets, up to the first that failed or mismatched."""

    runs: list[InputRun]
    check: CheckResult | None = Field(None, description="None when a run failed")
    flags: list[str] = Field(default_factory=list, description="too good to be true, and why")

    @property
    def failed_run(self) -> InputRun | None:
        """The first run that failed, if any."""
        return next((run for run in self.runs if run.failure), None)


def input_sets(manifest: AppManifest) -> list[InputSet]:
    """The benchmark's ``args`` first, then ``smoke_args`` and each of ``check_args``.

    A set equal to an earlier one is left out.
    """
    sets = [InputSet(label="args", args=manifest.args)]
    extra = [("smoke_args", manifest.smoke_args)] if manifest.smoke_args is not None else []
    extra += [(f"check_args[{n}]", args) for n, args in enumerate(manifest.check_args)]
    for label, args in extra:
        if all(args != known.args for known in sets):
            sets.append(InputSet(label=label, args=args))
    return sets


def _run(app: App, device: Device, binary: Path, inputs: InputSet, settings: Settings) -> RunResult:
    request = run_request(app, device, binary, settings).model_copy(update={"args": inputs.args})
    return run_program(request, settings)


def run_source_on_other_inputs(
    app: App, device: Device, binary: Path, settings: Settings
) -> list[tuple[InputSet, str, dict[str, bytes]]]:
    """The source's stdout and output files on every input set after ``args``.

    A set it fails on (a crash, its FAIL marker, no PASS) is a LassiError naming the set.
    """
    outputs = []
    for inputs in input_sets(app.manifest)[1:]:
        run = _run(app, device, binary, inputs, settings)
        try:
            failure = run.failure() or self_check_failure(app, run)
            if failure:
                raise LassiError(
                    f"the source cannot be used: it fails on {inputs.describe()}: {failure}. "
                    "Fix or remove that input set in the manifest, then start again."
                )
            files = read_output_files(run.workdir, app.manifest.outputs, settings.max_output_bytes)
            outputs.append((inputs, run.stdout, files))
        finally:
            run.discard()
    return outputs


Numbers = list[tuple[float, str]]


def _streams(stdout: str, files: dict[str, bytes], ignore_regex: str | None) -> dict[str, Numbers]:
    """The numbers of stdout and of each text output file, by where they were printed."""
    streams = {"stdout": numbers_in(significant_lines(stdout, ignore_regex))}
    for name, data in files.items():
        try:
            streams[f"file {name}"] = numbers_in(significant_lines(data.decode()))
        except UnicodeDecodeError:
            continue
    return streams


def constant_where_source_varies(
    labels: list[str],
    reference: list[dict[str, Numbers]],
    candidate: list[dict[str, Numbers]],
    rtol: float,
) -> str | None:
    """Evidence that the candidate's results ignore its input.

    That is a printed number that changes from input to input in the source's output
    (relatively, by more than ``rtol``) while the candidate prints the very same value on
    every input. Only the absolute tolerance lets such output match, as all-zero results do.
    """
    if len(labels) < 2:
        return None
    for stream, first in reference[0].items():
        columns = [r.get(stream, []) for r in reference] + [c.get(stream, []) for c in candidate]
        if any(len(column) != len(first) for column in columns):
            continue  # printed a different number of values on some input: not aligned
        for position in range(len(first)):
            ref_values = [r[stream][position] for r in reference]
            cand_values = [c[stream][position] for c in candidate]
            values = [value for value, _ in ref_values + cand_values]
            if any(math.isnan(value) for value in values):
                continue
            varies = any(
                not math.isclose(value, ref_values[0][0], rel_tol=rtol, abs_tol=0.0)
                for value, _ in ref_values[1:]
            )
            if varies and all(value == cand_values[0][0] for value, _ in cand_values):
                pairs = zip(labels, ref_values, strict=True)
                source_lines = ", ".join(f"'{line}' on {label}" for label, (_, line) in pairs)
                return (
                    f"in {stream} the source prints {source_lines}; the candidate prints "
                    f"'{cand_values[0][1]}' on every input"
                )
    return None


def _on(inputs: InputSet, failure: str) -> str:
    """A failure on the benchmark's own input reads as before; any other names its set."""
    return failure if inputs.label == "args" else f"on {inputs.describe()}: {failure}"


def _files(folder: str | None, names: list[str], max_bytes: int) -> dict[str, bytes]:
    return read_output_files(Path(folder), names, max_bytes) if folder else {}


def check_on_every_input(
    app: App,
    device: Device,
    binary: Path,
    references: list[RecordedOutput],
    settings: Settings,
) -> EquivalenceResult:
    """Run the candidate on each recorded input set in turn, compared with the source's.

    Stop at the first run that fails or mismatches.
    """
    manifest = app.manifest
    runs: list[InputRun] = []
    checks: list[CheckResult] = []
    ref_streams: list[dict[str, Numbers]] = []
    cand_streams: list[dict[str, Numbers]] = []
    for reference in references:
        run = _run(app, device, binary, reference.input, settings)
        try:
            failure = run.failure()
            runs.append(
                InputRun(
                    input=reference.input,
                    stdout=run.stdout,
                    stderr=run.stderr,
                    wall_s=run.wall_s,
                    failure=_on(reference.input, failure) if failure else None,
                    isolation=run.isolation.summary(),
                    env_names=run.env_names,
                )
            )
            if failure:
                return EquivalenceResult(runs=runs)
            files = read_output_files(run.workdir, manifest.outputs, settings.max_output_bytes)
        finally:
            run.discard()
        expected = _files(reference.files_dir, manifest.outputs, settings.max_output_bytes)
        check = compare_outputs(
            CheckRequest(
                reference=ProgramOutput(stdout=reference.stdout, files=expected),
                candidate=ProgramOutput(stdout=run.stdout, files=files),
                rtol=settings.check_rtol,
                atol=settings.check_atol,
                pass_regex=manifest.pass_regex,
                fail_regex=manifest.fail_regex,
                ignore_regex=manifest.ignore_regex,
            )
        )
        checks.append(check)
        if check.status == "mismatch":
            return EquivalenceResult(runs=runs, check=_mismatch(reference.input, check, checks))
        ref_streams.append(_streams(reference.stdout, expected, manifest.ignore_regex))
        cand_streams.append(_streams(run.stdout, files, manifest.ignore_regex))
    labels = [reference.input.label for reference in references]
    constant = constant_where_source_varies(labels, ref_streams, cand_streams, settings.check_rtol)
    if constant:
        finding = (
            f"outputs differ in what they depend on: {constant}. Its results do not follow "
            f"its input, and matched only within atol {settings.check_atol:g}"
        )
        check = _combined(checks, "mismatch", finding)
        return EquivalenceResult(runs=runs, check=check, flags=[f"constant output: {constant}"])
    return EquivalenceResult(runs=runs, check=_agreement(references, checks, settings))


def _combined(checks: list[CheckResult], status: str, finding: str) -> CheckResult:
    return CheckResult.model_validate(
        {
            "status": status,
            "finding": finding,
            "numbers_compared": sum(check.numbers_compared for check in checks),
            "files_compared": sum(check.files_compared for check in checks),
            "inputs_checked": len(checks),
        }
    )


def _mismatch(inputs: InputSet, check: CheckResult, checks: list[CheckResult]) -> CheckResult:
    finding = f"on {inputs.describe()}: {check.finding}"
    if len(checks) > 1:
        finding += f" (the {len(checks) - 1} input set(s) before it matched)"
    return _combined(checks, "mismatch", finding)


def _agreement(
    references: list[RecordedOutput], checks: list[CheckResult], settings: Settings
) -> CheckResult:
    """Every input matched or had nothing to compare: say which, and on how many inputs.

    An output cut at max_output_bytes on any input makes the whole check incomplete.
    """
    for reference, check in zip(references, checks, strict=True):
        if check.status == "incomplete":
            return _combined(
                checks, "incomplete", f"on {reference.input.describe()}: {check.finding}"
            )
    empty = [r.input.label for r, c in zip(references, checks, strict=True) if c.status != "match"]
    if len(empty) == len(checks):
        first = checks[0].finding
        where = "the one input" if len(checks) == 1 else f"any of the {len(checks)} inputs"
        return _combined(checks, "inconclusive", f"on {where}: {first}")
    numbers = sum(check.numbers_compared for check in checks)
    files = sum(check.files_compared for check in checks)
    also = f" and {files} output file(s)" if files else ""
    agree = (
        f"{numbers} printed numbers{also} agree within rtol {settings.check_rtol:g} / "
        f"atol {settings.check_atol:g} (timing lines ignored)"
    )
    if len(checks) == 1:
        return _combined(checks, "match", f"outputs match {ONE_INPUT_WARNING}: {agree}")
    names = ", ".join(reference.input.label for reference in references)
    nothing = f"; nothing to compare on {', '.join(empty)}" if empty else ""
    return _combined(
        checks, "match", f"outputs match on {len(checks)} inputs ({names}): {agree}{nothing}"
    )


def confirmable(check: CheckResult) -> str | None:
    """Why a check cannot back a gain too good to be true, or None when it can.

    It must have compared something, on at least two inputs.
    """
    if check.status == "inconclusive":
        return "the output check had nothing to compare (no result numbers, no output file)"
    if check.status == "incomplete":
        return "the output check could not compare all of it (an output was cut)"
    if check.inputs_checked < 2:
        return "the output check ran it on one input only (no smoke_args or check_args)"
    return None


MIN_NET_SHARE = 0.1


def _net_energy_tells(profile: EnergyProfile) -> bool:
    """Whether the source's net energy stands out of the idle level.

    It must be at least MIN_NET_SHARE of its gross energy. Below that the ratio of two net
    figures is the ratio of two noises (a program too small for its device's idle draw).
    """
    gross = [m.gross_energy_j for m in profile.measurements if m.gross_energy_j is not None]
    if profile.net_energy_j is None or not gross:
        return False
    return profile.net_energy_j.mean >= MIN_NET_SHARE * sum(gross) / len(gross)


def gain_flag(source: EnergyProfile, candidate: EnergyProfile, factor: float) -> str | None:
    """A flag when the candidate is more than ``factor`` times better than the source.

    Better is faster, or lower in net energy; None otherwise.
    """
    quantities = [("runtime", source.runtime_s.mean, candidate.runtime_s.mean, "s")]
    if _net_energy_tells(source) and candidate.net_energy_j is not None:
        assert source.net_energy_j is not None
        quantities.append(("energy", source.net_energy_j.mean, candidate.net_energy_j.mean, "J"))
    gains = []
    for name, before, after, unit in quantities:
        if before <= 0:
            continue
        ratio = before / after if after > 0 else math.inf
        if ratio > factor:
            figures = f"{after:.3g} {unit} against {before:.3g} {unit} per run"
            if math.isinf(ratio):
                gains.append(f"no measurable {name} ({figures})")
            else:
                gains.append(f"{ratio:.0f}x less {name} than the source ({figures})")
    if not gains:
        return None
    return f"too good to be true: {'; '.join(gains)}; beyond suspicious_gain ({factor:g}x)"
