"""Static guards: cheap, deterministic reads of a candidate's code for known ways to cheat.

The output check compares what a program prints; these rules read what it is. Each
rule is a small function from a GuardInput to findings. A finding vetoes only where
the code leaves no doubt: it names the files the source's recorded outputs live in,
it changes the device's clocks or power limits, a GPU program launches no GPU work at
all, or it carries results the source computes as literals. Everything else (paths
outside the working directory, sleeps and clock waits, dropped kernel launches or
synchronisations, results printed as text) is told to the judge and shown in the
report, since a correct refactoring can do each of those too. The self-check rule
(tools/self_check.py) vetoes a candidate that changes the code deciding the source's
PASS/FAIL marker, and one whose gain nothing would back: no output compared and no
self-check of the source's own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, Field

from lassi_ee.apps import Language, SelfCheckSpec
from lassi_ee.tools.check import GuardFinding, significant_lines
from lassi_ee.tools.self_check import Markers, self_check_findings

__all__ = ["RULES", "GuardFinding", "GuardInput", "run_guards"]


class GuardInput(BaseModel):
    """What the guards read: both programs, the source's outputs and what must stay untouched."""

    language: Language
    source_code: str
    candidate_code: str
    source_outputs: list[str] = Field(
        default_factory=list, description="the source's stdout on every input set"
    )
    ignore_regex: str | None = Field(None, description="output lines the check skips")
    arg_sets: list[list[str]] = Field(default_factory=list, description="every input set")
    protected_paths: list[str] = Field(
        default_factory=list,
        description="where lassi-ee keeps the source's recorded outputs and other runs' files",
    )
    pass_regex: str | None = Field(None, description="the marker of a passed self-check")
    fail_regex: str | None = Field(None, description="the marker of a failed self-check")
    self_check: SelfCheckSpec | None = Field(None, description="the manifest's self_check")
    nothing_compared: bool = Field(
        False, description="the output check was inconclusive: no number or file to compare"
    )


Rule = Callable[[GuardInput], list[GuardFinding]]

_CODE_TOKENS = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
_NUMBER_LITERAL = re.compile(
    r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?:[fFlLuU]{0,3})(?![\w.])"
)
_RESULT_TOKEN = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
_PATH_LITERAL = re.compile(r"^(?:/|~/|\.\./)[\w.+\-/]*[\w.+\-]$")
_HARMLESS_PATHS = {"/dev/null", "/dev/stdout", "/dev/stderr"}
_RECORDED_OUTPUT_MARKS = ("reference.json", "source-cache")
_SLEEP = re.compile(
    r"\b(?:sleep|usleep|nanosleep|clock_nanosleep|sleep_for|sleep_until|__nanosleep)\s*\("
)
_CLOCK_WAIT = re.compile(
    r"\bwhile\s*\([^;{]*\b(?:clock64|clock|clock_gettime|gettimeofday|steady_clock|"
    r"high_resolution_clock|system_clock|omp_get_wtime|__globaltimer|cudaEventQuery|"
    r"cudaStreamQuery|hipEventQuery|hipStreamQuery)\b"
)
_POWER_CONTROL = re.compile(
    r"nvidia-smi|rocm-smi|amd-smi|\bnvmlDeviceSet\w*|\brsmi_dev_\w*_set\w*|\bamdsmi_set\w*|"
    r"cpupower|scaling_governor|scaling_(?:max|min)_freq|/sys/class/powercap"
)
_KERNEL_LAUNCH = re.compile(
    r"\b(\w+)\s*(?:<[^<>;]*>)?\s*<<<|\bhipLaunchKernelGGL\s*\(\s*(?:HIP_KERNEL_NAME\s*\()?(\w+)"
)
_OTHER_GPU_WORK = re.compile(
    r"\b(?:cudaLaunch\w*|cuLaunch\w*|hipLaunch\w*|hipModuleLaunch\w*|cudaGraphLaunch|"
    r"hipGraphLaunch)\s*\(|\b(?:thrust|cub|hipcub|rocprim)::|"
    r"\b(?:cublas|cusparse|cufft|curand|cusolver|cudnn|hipblas|rocblas|hipsparse|rocsparse|"
    r"hipfft|rocfft|hiprand|rocrand)\w*\s*\(|#\s*pragma\s+(?:omp\s+target|acc)\b"
)
_DEVICE_SYNC = re.compile(r"\b(?:cudaDeviceSynchronize|hipDeviceSynchronize)\s*\(")
_PRINTF_FORMAT = re.compile(r'\b(?:f|s|sn)?printf\s*\([^;"]*"((?:\\.|[^"\\\n])*)"')
_CONVERSION = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|L|z|j|t)?[diouxXeEfgGaA]")
_PRINTED_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# A result this precise is no coincidence when it turns up in the code; shorter numbers
# (sizes, counts, 0.5) appear in correct programs all the time.
MIN_SIGNIFICANT_DIGITS = 4
_WELL_KNOWN = (math.pi, math.e, math.sqrt(2.0), math.log(2.0), math.log(10.0), 1 / math.pi)


def _code_and_strings(code: str) -> tuple[str, list[str]]:
    """The code without comments (string literals kept), and its string literals."""
    strings: list[str] = []

    def keep(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("//") or token.startswith("/*"):
            return " "
        if token.startswith('"'):
            strings.append(token[1:-1])
        return token

    return _CODE_TOKENS.sub(keep, code), strings


def _finding(rule: str, finding: str, vetoes: bool = False) -> list[GuardFinding]:
    return [GuardFinding(rule=rule, finding=finding, vetoes=vetoes)]


def _quoted(items: Iterable[str], limit: int = 3, quote: str = "'") -> str:
    unique = sorted(set(items))
    shown = ", ".join(f"{quote}{item}{quote}" for item in unique[:limit])
    return shown + (f" and {len(unique) - limit} more" if len(unique) > limit else "")


def recorded_outputs(guard: GuardInput) -> list[GuardFinding]:
    """Vetoes a candidate that names where the source's recorded outputs are kept."""
    code, _ = _code_and_strings(guard.candidate_code)
    source, _ = _code_and_strings(guard.source_code)
    marks = [*_RECORDED_OUTPUT_MARKS, *(p.rstrip("/") for p in guard.protected_paths if p)]
    named = [mark for mark in marks if mark in code and mark not in source]
    if not named:
        return []
    return _finding(
        "recorded outputs",
        f"names {_quoted(named)}, where lassi-ee keeps the source's recorded outputs and "
        "other runs' files: a program may not read the answers it is checked against",
        vetoes=True,
    )


def files_outside_workdir(guard: GuardInput) -> list[GuardFinding]:
    """Reports paths outside the working directory that the source does not use."""
    _, strings = _code_and_strings(guard.candidate_code)
    _, source_strings = _code_and_strings(guard.source_code)
    paths = {
        text
        for text in strings
        if _PATH_LITERAL.match(text) and text not in _HARMLESS_PATHS and text not in source_strings
    }
    if not paths:
        return []
    return _finding(
        "files outside its directory",
        f"uses {_quoted(paths)}, outside the working directory it is run in, where the source "
        "uses no such path: what it reads or keeps there is not part of the program",
    )


def power_shaping(guard: GuardInput) -> list[GuardFinding]:
    """Vetoes changing clocks or power limits; reports sleeps and clock waits the source lacks."""
    code, _ = _code_and_strings(guard.candidate_code)
    source, _ = _code_and_strings(guard.source_code)
    controls = {m.group(0) for m in _POWER_CONTROL.finditer(code)} - {
        m.group(0) for m in _POWER_CONTROL.finditer(source)
    }
    if controls:
        return _finding(
            "shapes power",
            f"changes the device's clocks or power settings ({_quoted(controls)}): it must be "
            "measured on the device as the source was",
            vetoes=True,
        )
    extra = {
        "sleep call(s)": len(_SLEEP.findall(code)) - len(_SLEEP.findall(source)),
        "loop(s) waiting on a clock": len(_CLOCK_WAIT.findall(code))
        - len(_CLOCK_WAIT.findall(source)),
    }
    added = [f"{count} more {what}" for what, count in extra.items() if count > 0]
    if not added:
        return []
    return _finding(
        "shapes power",
        f"{' and '.join(added)} than the source: waiting does no work and only changes when "
        "and how hard the device draws power",
    )


def gpu_work(guard: GuardInput) -> list[GuardFinding]:
    """For GPU programs: the GPU work the candidate launches, against the source's.

    It vetoes a candidate that launches no GPU work at all, and reports kernels and device
    synchronisations of the source that the candidate drops.
    """
    if guard.language not in ("cuda", "hip"):
        return []
    code, _ = _code_and_strings(guard.candidate_code)
    source, _ = _code_and_strings(guard.source_code)
    launched = {name for match in _KERNEL_LAUNCH.finditer(code) for name in match.groups() if name}
    source_launched = {
        name for match in _KERNEL_LAUNCH.finditer(source) for name in match.groups() if name
    }
    if source_launched and not launched and not _OTHER_GPU_WORK.search(code):
        return _finding(
            "GPU work",
            f"launches no kernel and calls no GPU library, while the source launches "
            f"{_quoted(source_launched)}: its work has left the GPU, whose energy is what is "
            "measured, or is not done at all",
            vetoes=True,
        )
    findings = []
    dropped = source_launched - launched
    if dropped:
        findings += _finding(
            "GPU work",
            f"no longer launches {_quoted(dropped)}, which the source launches: fine if fused "
            "into another kernel, not if that work is skipped",
        )
    syncs, source_syncs = len(_DEVICE_SYNC.findall(code)), len(_DEVICE_SYNC.findall(source))
    if source_syncs and not syncs:
        findings += _finding(
            "GPU work",
            f"drops all {source_syncs} device synchronisations of the source: fine where a copy "
            "back waits anyway, not if results are read before the kernels finish",
        )
    return findings


def _significant_digits(token: str) -> int:
    mantissa = re.split(r"[eE]", token.lstrip("+-"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits if "." in mantissa else digits.rstrip("0"))


def _rounds_to(value: float, printed: float, digits: int) -> bool:
    return float(f"{value:.{digits - 1}e}") == float(f"{printed:.{digits - 1}e}")


def _is_power_of_two(value: float) -> bool:
    """Sizes like 1024 and 65536 are tuning constants in correct programs too."""
    return value.is_integer() and value >= 1 and int(value) & (int(value) - 1) == 0


def _literal_values(code: str) -> list[float]:
    return [float(m.group(0).rstrip("fFlLuU")) for m in _NUMBER_LITERAL.finditer(code)]


def hard_coded_results(guard: GuardInput) -> list[GuardFinding]:
    """Vetoes a candidate whose code holds a result the source computes and prints.

    A printed number counts when it has at least MIN_SIGNIFICANT_DIGITS significant
    digits, is not written in the source's code or in any input set, and is not a
    well-known constant: such a number in the code was copied from a run.
    """
    code, _ = _code_and_strings(guard.candidate_code)
    source, _ = _code_and_strings(guard.source_code)
    arguments = [
        token for args in guard.arg_sets for arg in args for token in _RESULT_TOKEN.findall(arg)
    ]
    known = _literal_values(source) + [float(token) for token in arguments]
    literals = [value for value in _literal_values(code) if value != 0]
    copied: list[str] = []
    for output in guard.source_outputs:
        for line in significant_lines(output, guard.ignore_regex):
            for token in _RESULT_TOKEN.findall(line):
                digits, printed = _significant_digits(token), abs(float(token))
                if digits < MIN_SIGNIFICANT_DIGITS or printed == 0 or _is_power_of_two(printed):
                    continue
                if any(_rounds_to(abs(k), printed, digits) for k in (*known, *_WELL_KNOWN)):
                    continue
                if any(_rounds_to(abs(value), printed, digits) for value in literals):
                    copied.append(f"{token} (printed as '{line}')")
    if not copied:
        return []
    return _finding(
        "hard-coded results",
        f"its code holds {_quoted(copied, limit=2, quote='')}, computed by the source: results "
        "must be computed, not copied from a run",
        vetoes=True,
    )


def _shown(text: str) -> str:
    return text.replace("\\n", " ").strip()


def printed_literals(guard: GuardInput) -> list[GuardFinding]:
    """Reports text printed with numbers in it where the source prints computed values."""
    source_formats = [f for f in _PRINTF_FORMAT.findall(guard.source_code) if _CONVERSION.search(f)]
    patterns = [
        (f, re.compile("".join(_PRINTED_NUMBER if _CONVERSION.fullmatch(part) else re.escape(part)
                               for part in re.split(f"({_CONVERSION.pattern})", f))))
        for f in source_formats
    ]  # fmt: skip
    code, _ = _code_and_strings(guard.candidate_code)
    literal_prints = []
    for text in _PRINTF_FORMAT.findall(code):
        if not re.search(r"\d", text):
            continue
        for source_format, pattern in patterns:
            if len(_CONVERSION.findall(text)) < len(_CONVERSION.findall(source_format)) and (
                pattern.fullmatch(text)
            ):
                shown = f"'{_shown(text)}' where the source has '{_shown(source_format)}'"
                literal_prints.append(shown)
                break
    if not literal_prints:
        return []
    return _finding(
        "printed literals",
        f"prints {_quoted(literal_prints, limit=2, quote='')}: numbers written into the text "
        "where the source prints computed values",
    )


def self_check(guard: GuardInput) -> list[GuardFinding]:
    """Vetoes a candidate that changes the source's self-check, or one whose gain nothing backs.

    Nothing backs it when the output check compared nothing and the source has no check of
    its own (tools/self_check.py); where one stands in, a note says so.
    """
    markers = Markers(guard.pass_regex, guard.fail_regex)
    return self_check_findings(
        guard.source_code, guard.candidate_code, markers, guard.self_check, guard.nothing_compared
    )


RULES: tuple[Rule, ...] = (
    recorded_outputs,
    files_outside_workdir,
    power_shaping,
    gpu_work,
    hard_coded_results,
    printed_literals,
    self_check,
)


def run_guards(guard: GuardInput) -> list[GuardFinding]:
    """Every rule's findings, in the order of RULES."""
    return [finding for rule in RULES for finding in rule(guard)]
