"""Applications: a program plus what it takes to build, run and check it.

An app is either a single source file (everything inferred) or a directory with
an ``app.yaml`` manifest. One file of the app, ``refactor``, is what the LLM
rewrites; the other files build with it unchanged (the paper's "dependencies not
handed to the LLM").
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lassi_ee.c_syntax import parse_program
from lassi_ee.errors import UsageError

Language = Literal["cuda", "hip", "openmp"]
MANIFEST_NAME = "app.yaml"

_EXTENSIONS: dict[str, Language] = {
    ".cu": "cuda",
    ".cuh": "cuda",
    ".hip": "hip",
    ".cpp": "openmp",
    ".cc": "openmp",
    ".cxx": "openmp",
    ".c": "openmp",
}


class BuildSpec(BaseModel):
    """How to build: the default compiler line, or the app's own Makefile/CMake."""

    model_config = ConfigDict(extra="forbid")  # a mistyped key must not be ignored
    system: Literal["compiler", "make", "cmake"] = "compiler"
    flags: list[str] | None = Field(
        None, description="replace the default flags (the arch flag is still added)"
    )
    extra_flags: list[str] = Field(default_factory=list, description="added to the defaults")
    make_target: str | None = None
    binary: str = Field("app", description="the executable the build produces")


_LINE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class SelfCheckSpec(BaseModel):
    """Where the program checks its own results, named by hand (tools/self_check.py).

    The guard finds the code that decides the PASS/FAIL marker on its own; these add
    what it cannot find (a check whose marker is printed elsewhere, a reference function
    reached through a pointer). Every statement on the lines, and every named function
    with its calls, must stay as the source has it.
    """

    model_config = ConfigDict(extra="forbid")
    lines: list[str] = Field(
        default_factory=list,
        description="line ranges of the refactored file holding the self-check: '96-119' or '120'",
    )
    functions: list[str] = Field(
        default_factory=list,
        description="functions of the refactored file that belong to the self-check "
        "(a reference computation, a verify function)",
    )

    @field_validator("lines", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        if isinstance(value, (int, str)):
            value = [value]
        return [str(item) if isinstance(item, int) else item for item in value]

    @field_validator("lines")
    @classmethod
    def _line_ranges(cls, value: list[str]) -> list[str]:
        for item in value:
            match = _LINE_RANGE.match(item)
            first = int(match.group(1)) if match else 0
            last = int(match.group(2) or first) if match else 0
            if not match or first < 1 or last < first:
                raise ValueError(
                    f"'{item}' is not a line range: write 'FIRST-LAST' (1 <= FIRST <= LAST) "
                    "or one line number"
                )
        return value

    @model_validator(mode="after")
    def _names_something(self) -> SelfCheckSpec:
        if not self.lines and not self.functions:
            raise ValueError("name the check's lines or functions, or leave self_check out")
        return self

    def ranges(self) -> list[tuple[int, int]]:
        """The line ranges as (first, last), both included."""
        ranges = []
        for item in self.lines:
            match = _LINE_RANGE.match(item)
            assert match is not None  # checked when the manifest was read
            first = int(match.group(1))
            ranges.append((first, int(match.group(2) or first)))
        return ranges

    def problems_with(self, code: str, file_name: str) -> list[str]:
        """What this entry names that ``code`` does not have; [] when all is there."""
        program = parse_program(code)
        line_count = code.count("\n") + (0 if code.endswith("\n") else 1)
        spans = program.statement_spans()
        problems = []
        for item, (first, last) in zip(self.lines, self.ranges(), strict=True):
            if last > line_count:
                problems.append(f"self_check.lines '{item}': {file_name} has {line_count} lines")
            elif not any(first <= low and high <= last for low, high in spans):
                problems.append(
                    f"self_check.lines '{item}': no whole statement of {file_name} lies on "
                    "these lines (comments, blank lines or directives only?); name the lines "
                    "of the check's code"
                )
        defined = sorted({f.name.split("::")[-1] for f in program.functions})
        for name in self.functions:
            if not program.function_named(name):
                problems.append(
                    f"self_check.functions '{name}': {file_name} defines no function of that "
                    f"name (it defines {', '.join(defined) or 'none'})"
                )
        return problems


class AppManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a mistyped key must not be ignored

    name: str
    category: str = ""
    suite: str = Field("", description="where the app comes from: examples, HeCBench, miniApp")
    language: Language
    root: str | None = Field(
        None,
        description="directory holding the app's files (absolute, or relative to the manifest); "
        "default: the manifest's own directory. Lets a manifest point into a checkout.",
    )
    refactor: str = Field(description="the source file the LLM rewrites")
    sources: list[str] = Field(default_factory=list, description="all compile units")
    dependencies: list[str] = Field(
        default_factory=list, description="headers/files built with it but not given to the LLM"
    )
    data_files: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[str] = Field(
        default_factory=list,
        description="environment variables its build and runs need (passed from lassi-ee's "
        "own environment) beyond the sandbox's allowlist: PATH, LD_LIBRARY_PATH, LANG, LC_*, "
        "TZ, the GPU selection, OMP_*/GOMP_*/KMP_*",
    )
    smoke_args: list[str] | None = Field(
        None,
        description="small arguments for a seconds-long trial run (CI, quick checks); "
        "also one more input the output check compares source and candidate on",
    )
    check_args: list[list[str]] = Field(
        default_factory=list,
        description="further argument sets on which the candidate's outputs must match the "
        "source's; pick sets that change the answer, and small ones (every candidate runs "
        "on each)",
    )
    build: BuildSpec = Field(default_factory=BuildSpec)
    pass_regex: str | None = Field("PASS", description="stdout must match; None = exit 0 only")
    fail_regex: str | None = "FAIL"
    outputs: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("outputs", "output_files"),
        description="files the program writes that the output check compares "
        "(older manifests call it output_files)",
    )
    ignore_regex: str | None = Field(
        None, description="lines the output check skips, besides timing lines"
    )
    self_check: SelfCheckSpec | None = Field(
        None,
        description="the program's own check (lines, functions) that every version must keep, "
        "besides what the guard finds from the PASS/FAIL marker",
    )
    expected_runtime_s: float | None = None
    unverified: bool = Field(
        False, description="never built and run on its platform here (e.g. HIP without hipcc)"
    )
    note: str = ""


class App(BaseModel):
    """A manifest bound to the directory its paths are relative to."""

    manifest: AppManifest
    root: Path

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def refactor_path(self) -> Path:
        return self.root / self.manifest.refactor

    def source_code(self) -> str:
        return self.refactor_path.read_text()

    def source_hash(self) -> str:
        """Hash of every file the build reads, so caches notice any change."""
        digest = hashlib.sha256()
        names = {self.manifest.refactor, *self.manifest.sources, *self.manifest.dependencies}
        for name in sorted(names):
            path = self.root / name
            if path.is_file():
                digest.update(name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


def language_of(path: Path, text: str) -> Language:
    """Infer the programming model of a single source file."""
    name = path.name.lower()
    if name.endswith((".hip.cpp", ".hip")) or "hip/hip_runtime.h" in text:
        return "hip"
    language = _EXTENSIONS.get(path.suffix.lower())
    if language is None:
        raise UsageError(
            f"{path}: unknown language '{path.suffix}': use .cu (CUDA), .hip (HIP) or "
            ".cpp/.c (OpenMP), or an app directory with an app.yaml"
        )
    if language == "openmp" and "__global__" in text:
        return "cuda"
    return language


def _read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except PermissionError:
        raise UsageError(f"{path}: cannot read it (permission denied)") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read it ({err.strerror})") from None
    if not data.strip():
        raise UsageError(f"{path}: the file is empty; give a C/C++/CUDA/HIP source")
    if b"\0" in data[:8192]:
        raise UsageError(f"{path}: this is a binary file; give the program's source code")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; give the program's source code") from None


def app_from_file(path: Path, args: list[str] | None = None) -> App:
    text = _read_source(path)
    language = language_of(path, text)
    prints_pass = re.search(r"\bPASS", text) is not None
    prints_fail = re.search(r"\bFAIL", text) is not None
    manifest = AppManifest(
        name=path.stem.replace(".hip", ""),
        language=language,
        refactor=path.name,
        sources=[path.name],
        args=args or [],
        pass_regex="PASS" if prints_pass else None,
        fail_regex="FAIL" if prints_fail else None,
    )
    return App(manifest=manifest, root=path.parent.resolve())


def load_manifest(path: Path) -> AppManifest:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UsageError(f"{path}: not valid YAML{where} ({problem})") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping of manifest fields")
    raw.setdefault("sources", [raw.get("refactor")] if raw.get("refactor") else [])
    try:
        return AppManifest.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(_manifest_problem(e) for e in err.errors())
        raise UsageError(f"{path}: {problems}") from None


def _manifest_problem(error: Any) -> str:
    """One problem of a manifest; an unknown key names the closest known one."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] != "extra_forbidden":
        return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
    nested: dict[str, type[BaseModel]] = {"build": BuildSpec, "self_check": SelfCheckSpec}
    model = nested.get(error["loc"][0], AppManifest) if len(error["loc"]) > 1 else AppManifest
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"the keys are {', '.join(known)}"
    return f"{where}: unknown key ({hint})"


def load_app(source: str | Path, args: list[str] | None = None) -> App:
    """Load a source file or an app directory; a bad path is one clear UsageError."""
    path = Path(source).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as err:  # a folder on the way that we may not enter
        raise UsageError(f"{path}: cannot read it ({(err.strerror or str(err)).lower()})") from None
    if not exists:
        raise UsageError(f"{path}: no such file or directory")
    if is_dir:
        manifest_path = path / MANIFEST_NAME
        if not manifest_path.is_file():
            raise UsageError(
                f"{path}: a directory needs an {MANIFEST_NAME} manifest (see examples/*/app.yaml)"
            )
        manifest = load_manifest(manifest_path)
        root = path / manifest.root if manifest.root else path  # an absolute root stays absolute
        if not root.is_dir():
            raise UsageError(
                f"{manifest_path}: root '{manifest.root}' is not a directory "
                "(has the checkout it points to moved?)"
            )
        for name in {manifest.refactor, *manifest.sources, *manifest.data_files}:
            if not (root / name).exists():
                raise UsageError(f"{manifest_path}: lists '{name}', which is not in {root}")
        code = _read_source(root / manifest.refactor)
        if manifest.self_check is not None:
            problems = manifest.self_check.problems_with(code, manifest.refactor)
            if problems:
                raise UsageError(f"{manifest_path}: {'; '.join(problems)}")
        if args is not None:
            manifest = manifest.model_copy(update={"args": args})
        return App(manifest=manifest, root=root.resolve())
    return app_from_file(path, args)
