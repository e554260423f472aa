"""The check tool: compare a candidate's outputs with the source's, deterministically.

The LLM judge reads code and can be talked round; this check cannot. It
compares the numbers a program prints (and the files it writes) with a
tolerance, ignoring timing lines, and requires the source's PASS marker. A
mismatch vetoes the judge. A comparison with nothing to compare (no number
printed, no output file) is ``inconclusive``, never a match. This module
compares one run with one run; tools/equivalence.py runs both programs on
several inputs and tools/guards.py reads the code.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from lassi_ee.tools.sandbox import CUT_LINE

_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|(?<!\w)[-+]?(?:nan|inf)\b", re.I
)
_TIMING = re.compile(
    r"\b(time|elapsed|duration|seconds?|secs?|ms|msec|us|usec|ns|gb/s|gflops?|tflops?|"
    r"throughput|bandwidth|speed-?up|per second|it/s)\b",
    re.IGNORECASE,
)
MAX_REPORTED_DIFFERENCES = 5


class ProgramOutput(BaseModel):
    """What one run of a program produced, as the check sees it."""

    stdout: str
    files: dict[str, bytes] = Field(default_factory=dict)


class CheckRequest(BaseModel):
    """Two programs' outputs and what to compare them with."""

    reference: ProgramOutput
    candidate: ProgramOutput
    rtol: float = 1e-3
    atol: float = 1e-6
    pass_regex: str | None = None
    fail_regex: str | None = None
    ignore_regex: str | None = None


class GuardFinding(BaseModel):
    """What one static guard (tools/guards.py) found in a candidate's code."""

    rule: str
    finding: str
    vetoes: bool = Field(False, description="only where the code leaves no doubt")

    @property
    def text(self) -> str:
        """The finding in one line, for logs and the judge."""
        return f"{self.rule}: {self.finding}" + (" (vetoes)" if self.vetoes else "")


class CheckResult(BaseModel):
    """What the output check found; a mismatch vetoes the candidate."""

    status: Literal["match", "mismatch", "inconclusive", "incomplete"] = Field(
        description="inconclusive: nothing to compare (no number printed, no output file); "
        "incomplete: what was kept agrees, but an output was cut (max_output_bytes)"
    )
    finding: str = Field(description="one short paragraph for the judge and the report")
    numbers_compared: int = 0
    files_compared: int = 0
    inputs_checked: int = Field(1, description="argument sets both programs were run on")
    guards: list[GuardFinding] = Field(
        default_factory=list, description="what the static guards found in the candidate's code"
    )

    @property
    def vetoes(self) -> bool:
        """The outputs differ, or a static guard found an unambiguous cheat."""
        return self.status == "mismatch" or any(guard.vetoes for guard in self.guards)

    def veto_reasons(self) -> list[str]:
        """The reasons a vetoing check (or a vetoing guard) gives, for the version's verdict."""
        reasons = [self.finding] if self.status == "mismatch" else []
        return reasons + [guard.text for guard in self.guards if guard.vetoes]

    def summary(self) -> str:
        """The finding and every guard's, for the judge and the progress line."""
        guards = "; ".join(guard.text for guard in self.guards)
        return f"{self.finding}. Static guards on the code: {guards or 'nothing found'}"


def significant_lines(text: str, ignore_regex: str | None = None) -> list[str]:
    """Lines that carry results: timing lines, blank lines and ignored lines dropped."""
    ignore = re.compile(ignore_regex) if ignore_regex else None
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip()
        and not _TIMING.search(line)
        and not CUT_LINE.match(line)
        and not (ignore and ignore.search(line))
    ]


def numbers_in(lines: list[str]) -> list[tuple[float, str]]:
    """Every number with the line it came from."""
    return [(float(token), line) for line in lines for token in _NUMBER.findall(line)]


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def _compare_numbers(
    reference: list[tuple[float, str]],
    candidate: list[tuple[float, str]],
    where: str,
    req: CheckRequest,
) -> list[str]:
    if len(reference) != len(candidate):
        return [
            f"{where}: the source prints {len(reference)} numbers, the candidate {len(candidate)}"
        ]
    problems = []
    for (expected, ref_line), (got, cand_line) in zip(reference, candidate, strict=True):
        if not _close(expected, got, req.rtol, req.atol):
            problems.append(f"{where}: expected '{ref_line}', got '{cand_line}'")
    return problems


def _compare_file(name: str, expected: bytes, got: bytes | None, req: CheckRequest) -> list[str]:
    if got is None:
        return [f"file {name}: written by the source, missing from the candidate"]
    if expected == got:
        return []
    try:
        ref_text, cand_text = expected.decode(), got.decode()
    except UnicodeDecodeError:
        return [f"file {name}: binary contents differ ({len(expected)} vs {len(got)} bytes)"]
    return _compare_numbers(
        numbers_in(significant_lines(ref_text)), numbers_in(significant_lines(cand_text)),
        f"file {name}", req,
    )  # fmt: skip


def compare_outputs(req: CheckRequest) -> CheckResult:
    """Compare candidate with reference; the finding names the first few differences."""
    problems: list[str] = []
    ref_out, cand_out = req.reference.stdout, req.candidate.stdout
    if (
        req.pass_regex
        and re.search(req.pass_regex, ref_out)
        and not re.search(req.pass_regex, cand_out)
    ):
        problems.append(f"the candidate does not print the success marker /{req.pass_regex}/")
    if (
        req.fail_regex
        and re.search(req.fail_regex, cand_out)
        and not re.search(req.fail_regex, ref_out)
    ):
        problems.append(f"the candidate prints the failure marker /{req.fail_regex}/")
    ref_numbers = numbers_in(significant_lines(req.reference.stdout, req.ignore_regex))
    cand_numbers = numbers_in(significant_lines(req.candidate.stdout, req.ignore_regex))
    problems += _compare_numbers(ref_numbers, cand_numbers, "stdout", req)
    for name, expected in sorted(req.reference.files.items()):
        problems += _compare_file(name, expected, req.candidate.files.get(name), req)
    compared, files = len(ref_numbers), len(req.reference.files)
    counts = {"numbers_compared": compared, "files_compared": files}
    if problems:
        shown = problems[:MAX_REPORTED_DIFFERENCES]
        more = len(problems) - len(shown)
        finding = "outputs differ: " + "; ".join(shown) + (f"; and {more} more" if more else "")
        return CheckResult(status="mismatch", finding=finding, **counts)
    also = f" and {files} output file(s)" if files else ""
    cut = [
        who for who, out in (("source", ref_out), ("candidate", cand_out)) if CUT_LINE.search(out)
    ]
    if cut:
        finding = (
            f"not all compared: the {' and the '.join(cut)}'s output was longer than "
            f"max_output_bytes and its middle was not kept; the {compared} printed numbers "
            f"kept{also} agree within rtol {req.rtol:g} / atol {req.atol:g}"
        )
        return CheckResult(status="incomplete", finding=finding, **counts)
    if compared == 0 and files == 0:
        marker = f"only the success marker /{req.pass_regex}/" if req.pass_regex else "nothing"
        finding = (
            "nothing to compare: the source prints no result numbers and writes no output "
            f"file named in the manifest (outputs:), so {marker} was compared"
        )
        return CheckResult(status="inconclusive", finding=finding, **counts)
    finding = (
        f"outputs match: {compared} printed numbers{also} agree within "
        f"rtol {req.rtol:g} / atol {req.atol:g} (timing lines ignored)"
    )
    return CheckResult(status="match", finding=finding, **counts)


def read_output_files(workdir: Path, names: list[str], max_bytes: int) -> dict[str, bytes]:
    """The named output files of a run (missing ones left out), each capped in size."""
    files = {}
    for name in names:
        path = workdir / name
        if path.is_file():
            with path.open("rb") as handle:
                files[name] = handle.read(max_bytes)
    return files
