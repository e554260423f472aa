"""The self-check stays the source's: the code that decides its PASS/FAIL marker.

Most benchmark programs print no result numbers: they compute a reference on the host,
compare, and print PASS. There the output check has nothing to compare, and the only
oracle is code the candidate may rewrite: a candidate that does a third of the work and
edits the expected value to match would pass every check but the judge's. So this guard
finds the source's self-check and requires the candidate to keep it, comments and
layout aside.

The self-check is found as a slice (lassi_ee/c_syntax.py reads the statements): from each
statement that prints a marker (a string literal matching ``pass_regex`` or
``fail_regex``) back through the conditions it sits under, the variables they read, the
statements that write those variables, the functions and macros they use, and the jumps
that can skip the marker. The slice stops at the program's results: variables the
program's work reads or writes (a kernel launch, a GPU runtime or library call, a
statement under an OpenMP/OpenACC pragma, a call to a function doing any of these),
variables it prints as results, and everything those are computed from. What produces
the results is what the candidate may change; what judges them is not. The manifest's
``self_check:`` names further lines or functions to keep.

Source and candidate are sliced alike and the slices compared as text (tools/
program_text.py); a difference vetoes and is named. Where the output check has nothing
to compare, a gain counts only when the source has a self-check of its own (one that
reads more than the results themselves) and the candidate kept it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from lassi_ee.apps import SelfCheckSpec
from lassi_ee.c_syntax import (
    EXIT_CALLS,
    Decl,
    Function,
    Names,
    Program,
    Stmt,
    Unit,
    parse_program,
    string_value,
    tokenize,
)
from lassi_ee.tools.check import GuardFinding
from lassi_ee.tools.program_text import normalized

RULE = "self-check"
MAX_CHANGES_SHOWN = 3

Status = Literal["absent", "unconditional", "shallow", "found", "named"]

_GPU_CALL = re.compile(
    r"^(?:cuda|hip|cu|nvrtc|nccl|rccl)[A-Z_]\w*$|^(?:cublas|cusparse|cufft|curand|cusolver|"
    r"cudnn|cutensor|hipblas|hipsparse|hipfft|hiprand|hipsolver|rocblas|rocsparse|rocfft|"
    r"rocrand|rocsolver|miopen)\w*$|^(?:thrust|cub|hipcub|rocprim)::"
)
_STORAGE_CALL = re.compile(
    r"^(?:std::)?(?:malloc|calloc|realloc|aligned_alloc|posix_memalign|free)$|"
    r"^(?:cuda|hip)(?:Malloc|Free|HostAlloc|HostFree|MallocHost|FreeHost|MallocManaged|"
    r"MallocAsync|FreeAsync|MallocPitch|Malloc3D|GetErrorString|GetLastError|PeekAtLastError)"
)
_PRINTS = re.compile(r"^(?:std::)?(?:printf|fprintf|puts|fputs|fwrite|putchar|dprintf)$")
_TO_STDERR = {"stderr", "cerr", "clog"}


class CheckLine(NamedTuple):
    """One line of a self-check, as compared and as shown.

    ``text`` is normalized and indented by its nesting (what is compared); ``shown`` is
    the text as written, shortened for a finding, and ``raw`` the same in full.
    """

    text: str
    line: int
    shown: str
    raw: str


def _shown(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class SelfCheck:
    """The self-check found in one program, as what it takes to compare two of them.

    ``sections`` map a place (``in main``, ``function reference``, ``macro TOL``) to its
    statements, each normalized and indented by its nesting, with the line it is on.
    ``status``: ``absent`` (no marker printed from the code), ``unconditional`` (the
    marker is printed whatever happens), ``shallow`` (its conditions read only the
    program's own results or work), ``found``, or ``named`` (the manifest names it).
    """

    status: Status
    sections: dict[str, list[CheckLine]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    results_read: list[str] = field(default_factory=list)
    first_marker_line: int | None = None

    def where(self) -> str:
        """The places and lines it spans, for findings: ``main, lines 102-119``."""
        parts = []
        for key, lines in sorted(self.sections.items()):
            numbers = [line.line for line in lines]
            span = (
                f"line {min(numbers)}"
                if len(set(numbers)) == 1
                else (f"lines {min(numbers)}-{max(numbers)}")
            )
            parts.append(f"{key.removeprefix('in ')}, {span}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Markers:
    """What a program prints to say it passed or failed its own check (regexes)."""

    pass_regex: str | None
    fail_regex: str | None

    def any(self) -> bool:
        """Whether there is any marker to look for."""
        return bool(self.pass_regex or self.fail_regex)

    def matches(self, text: str) -> bool:
        """Whether a string's text is (or holds) a marker."""
        return any(regex and re.search(regex, text) for regex in (self.pass_regex, self.fail_regex))

    def shown(self) -> str:
        """The markers as a finding names them."""
        return " and ".join(f"/{r}/" for r in (self.pass_regex, self.fail_regex) if r)


@dataclass(frozen=True)
class NamedParts:
    """What the manifest names as part of the self-check, in a form found in any version.

    A named statement is its place among the statements of its function in the source
    (``layout``: every statement's normalized text, in order), so that a candidate's
    statements can be aligned with the source's and the named ones found again even where
    the same text occurs twice. ``statements`` hold (function, index, text as written, line).
    """

    statements: tuple[tuple[str | None, int, str, int], ...] = ()
    layout: dict[str | None, tuple[str, ...]] = field(default_factory=dict)
    functions: tuple[str, ...] = ()


class _Slice:
    """One program's self-check: the slice from its markers and the named parts."""

    def __init__(self, code: str, markers: Markers) -> None:
        self.program: Program = parse_program(code)
        self.names = Names(self.program)
        self.markers = markers
        self.kernels = {
            f.name.split("::")[-1] for f in self.program.functions if "__global__" in f.qualifiers
        }
        self.units_in = self._units_by_function()
        self.work_functions = self._work_functions()
        self.work = {id(u) for u in self.names.units if self._is_work(u)}
        self.verdicts = self._verdicts()
        self.results = self._results()
        self.included: dict[int, Unit] = {}
        self.full: set[int] = set()
        self.followed: set[int] = set()
        self.wholesale: dict[str, list[Function]] = {}
        self.macros: set[str] = set()
        self.results_read: list[str] = []
        self.decides = False

    # --- the program's work and results -----------------------------------------------

    def _units_by_function(self) -> dict[str | None, list[Unit]]:
        by_function: dict[str | None, list[Unit]] = {}
        for unit in self.names.units:
            by_function.setdefault(unit.function, []).append(unit)
        return by_function

    def _calls_device(self, unit: Unit) -> bool:
        texts = [self.program.tokens[k].text for k in range(unit.first, unit.last + 1)]
        if "<<<" in texts:
            return True
        return any(
            _GPU_CALL.match(callee) and not _STORAGE_CALL.match(callee) for callee in unit.calls
        )

    def _calls_the_gpu(self, unit: Unit) -> bool:
        """Any call of the GPU runtime or a GPU library, allocations included."""
        texts = [self.program.tokens[k].text for k in range(unit.first, unit.last + 1)]
        return "<<<" in texts or any(_GPU_CALL.match(callee) for callee in unit.calls)

    def _under_pragma(self, unit: Unit) -> bool:
        statement: Stmt | None = unit.stmt
        while statement is not None:
            if statement.pragmas:
                return True
            statement = statement.parent
        return False

    def _work_functions(self) -> set[str]:
        """Functions that do the program's work.

        Those are kernels, and host functions that launch them, call the GPU runtime or a
        library, hold a parallel region, or call a function that does.
        """
        work = set(self.kernels)
        for name, units in self.units_in.items():
            if name and any(self._calls_device(u) or self._under_pragma(u) for u in units):
                work.add(name.split("::")[-1])
        grew = True
        while grew:
            grew = False
            for name, units in self.units_in.items():
                short = (name or "").split("::")[-1]
                if (
                    name
                    and short not in work
                    and any(callee.split("::")[-1] in work for u in units for callee in u.calls)
                ):
                    work.add(short)
                    grew = True
        return work

    def _is_work(self, unit: Unit) -> bool:
        if unit.function is not None and unit.function.split("::")[-1] in self.kernels:
            return True
        return (
            self._calls_device(unit)
            or self._under_pragma(unit)
            or any(callee.split("::")[-1] in self.work_functions for callee in unit.calls)
        )

    def _verdicts(self) -> set[int]:
        """Variables that only ever take the outcome of a comparison (``ok``, ``errors``).

        A verdict is never a result, even where the program prints it or uses it in work.
        """
        verdicts = set()
        for decl in self._all_decls():
            writes = [
                u for u in self.names.writes_of.get(id(decl), [])
                if not (u.first <= decl.token <= u.last)
            ]  # fmt: skip
            if writes and all(u.compares_into for u in writes):
                verdicts.add(id(decl))
        return verdicts

    def _all_decls(self) -> list[Decl]:
        decls = list(self.names.file_decls.values())
        for function_decls in self.names.decls_of.values():
            decls += function_decls
        return decls

    def _printed(self, unit: Unit) -> list[Decl]:
        """Variables a statement prints as results: what the output check compares.

        That is to stdout or a file (not stderr), with no ``if`` around the print. A value
        chosen by ``?:`` (``ok ? "PASS" : "FAIL"``) is the marker's, not a result.
        """
        tokens = self.program.tokens
        texts = {tokens[k].text for k in range(unit.first, unit.last + 1)}
        if texts & _TO_STDERR or any(a.kind in ("if", "switch") for a in self._ancestors(unit)):
            return []
        prints = any(_PRINTS.match(c) for c in unit.calls) or any(
            name.split("::")[-1] == "cout" for name in unit.names
        )
        if not prints:
            return []
        printed = []
        for segment in _expressions(self, unit):
            if any(tokens[k].text == "?" for k in segment):
                continue
            printed += [unit.read_at[k] for k in segment if k in unit.read_at]
        return printed

    def _results(self) -> set[int]:
        """The program's own variables, verdicts aside.

        Those are the variables its work reads or writes and those it prints, and
        everything they are computed from.
        """
        seeds: list[Decl] = []
        for unit in self.names.units:
            if id(unit) in self.work:
                seeds += unit.reads + unit.writes
            else:
                seeds += self._printed(unit)
        seeds += [d for d in self.names.decls_of.get("main", []) if d.parameter]
        results: set[int] = set()
        pending = [d for d in seeds if id(d) not in self.verdicts]
        while pending:
            decl = pending.pop()
            if id(decl) in results:
                continue
            results.add(id(decl))
            for unit in self.names.writes_of.get(id(decl), []):
                if any(a is decl for a in unit.assigned):  # its value flows from these reads
                    pending += [d for d in unit.reads if id(d) not in self.verdicts]
        return results

    # --- criteria ---------------------------------------------------------------------

    def _marker_macros(self) -> set[str]:
        found = set()
        for name, index in self.program.macros.items():
            body = tokenize(self.program.tokens[index].text.split(name, 1)[-1])
            if any(t.kind == "string" and self.markers.matches(string_value(t)) for t in body):
                found.add(name)
        return found

    def marker_units(self) -> list[tuple[Unit, int]]:
        """Statements printing a marker to stdout, each with the token of its marker.

        A statement of the program's work is none, though it may print one
        (``CHECK(cudaMalloc(...))`` whose macro prints FAIL when the call fails).
        """
        if not self.markers.any():
            return []
        tokens, macros = self.program.tokens, self._marker_macros()
        found: list[tuple[Unit, int]] = []
        marker_globals: set[int] = set()
        for unit in self.names.units:
            texts = {tokens[k].text for k in range(unit.first, unit.last + 1)}
            if texts & _TO_STDERR or id(unit) in self.work or self._calls_the_gpu(unit):
                continue  # an error check of the work, not the program's own check
            for k in range(unit.first, unit.last + 1):
                token = tokens[k]
                literal = token.kind == "string" and self.markers.matches(string_value(token))
                if literal or (token.kind == "word" and token.text in macros):
                    found.append((unit, k))
                    if unit.function is None:
                        marker_globals.update(id(d) for d in unit.writes)
                    break
        for unit in self.names.units:  # a marker kept in a file-level table, printed here
            for k, decl in unit.read_at.items():
                if id(decl) in marker_globals and unit.function is not None:
                    found.append((unit, k))
                    break
        return found

    def units_on_lines(self, ranges: list[tuple[int, int]]) -> list[Unit]:
        """Statements (and heads of control statements) lying within the line ranges."""
        found = []
        for unit in self.names.units:
            first, last = self.program.lines(unit.first, unit.last)
            if any(low <= first and last <= high for low, high in ranges):
                found.append(unit)
        return found

    def aligned(self, parts: NamedParts) -> tuple[list[Unit], list[str]]:
        """The statements standing where the named ones stood in the source; those gone.

        Statements are aligned with the source's function by function; what is gone is
        said in words.
        """
        found, missing = [], []
        wanted: dict[str | None, list[tuple[int, str, int]]] = {}
        for function, index, shown, line in parts.statements:
            wanted.setdefault(function, []).append((index, shown, line))
        for function, named in wanted.items():
            units = self.units_in.get(function, [])
            matcher = difflib.SequenceMatcher(
                a=list(parts.layout.get(function, ())),
                b=[self.unit_text(u) for u in units],
                autojunk=False,
            )
            to_candidate = {
                block.a + offset: block.b + offset
                for block in matcher.get_matching_blocks()
                for offset in range(block.size)
            }
            for index, shown, line in named:
                if index in to_candidate:
                    found.append(units[to_candidate[index]])
                else:
                    missing.append(f"'{shown}' (source line {line}, named in the manifest) is gone")
        return found, missing

    # --- the slice --------------------------------------------------------------------

    def _ancestors(self, unit: Unit) -> list[Stmt]:
        found, statement = [], unit.stmt.parent
        while statement is not None:
            if statement.is_control:
                found.append(statement)
            statement = statement.parent
        return found

    def take(self, unit: Unit, positions: range | None = None) -> None:
        """Put a unit in the slice, with what it depends on.

        That is its enclosing conditions and, of the tokens at ``positions`` (all when
        None), the variables, functions and macros they name.
        """
        key = id(unit)
        if key in self.full or (positions is not None and key in self.included):
            return
        self.included[key] = unit
        if positions is None:
            self.full.add(key)
        for ancestor in self._ancestors(unit):
            self.decides = True
            self.take(self.names.unit_of[id(ancestor)])
        span = positions if positions is not None else range(unit.first, unit.last + 1)
        if positions is not None and any(k in unit.read_at or k in unit.call_at for k in span):
            self.decides = True
        for k in span:
            if k in unit.read_at:
                self.follow(unit.read_at[k], unit)
            if k in unit.call_at:
                self.call(unit.call_at[k])
            if k in unit.name_at:
                self.macro(unit.name_at[k])

    def follow(self, decl: Decl, reader: Unit | None) -> None:
        """The statements that may have written ``decl`` before ``reader`` read it."""
        if id(decl) in self.results:
            self.results_read.append(decl.name)
            return
        if id(decl) in self.followed:
            return
        self.followed.add(id(decl))
        if decl.parameter and decl.function is not None:
            for call in self.names.calls_of.get(decl.function.split("::")[-1], []):
                self.take(call)
            return
        for writer in self.names.writes_of.get(id(decl), []):
            reaches = reader is None or self._reaches(writer, reader)
            if reaches and not self._only_storage(writer):
                self.take(writer)

    def _reaches(self, writer: Unit, reader: Unit) -> bool:
        if writer.function != reader.function or writer.first < reader.first:
            return True
        loops = {id(s) for s in self._ancestors(reader) if s.kind in ("for", "while", "do")}
        return any(id(s) in loops for s in self._ancestors(writer))

    def _only_storage(self, unit: Unit) -> bool:
        """A statement that only obtains or releases memory: where values live, not what.

        For example ``float *ref = (float *)malloc(bytes);``.
        """
        storage = [c for c in unit.calls if _STORAGE_CALL.match(c)]
        texts = {self.program.tokens[k].text for k in range(unit.first, unit.last + 1)}
        allocates = bool(storage) or "new" in texts or "delete" in texts
        other_calls = [
            c for c in unit.calls
            if not _STORAGE_CALL.match(c) and c not in ("sizeof", "static_cast")
        ]  # fmt: skip
        return allocates and not other_calls and not unit.is_head

    def call(self, callee: str) -> None:
        """A function the slice calls: kept whole, unless it is the program's work."""
        short = callee.split("::")[-1]
        definitions = self.program.function_named(short)
        if not definitions:
            self.macro(short)
            return
        if short in self.work_functions:
            self.results_read.append(f"{short}()")
            return
        if short in self.wholesale:
            return
        self.wholesale[short] = definitions
        for definition in definitions:
            for unit in self.units_in.get(definition.name, []):
                for decl in unit.reads + unit.writes:
                    if decl.function is None:
                        self.follow(decl, None)
                for nested in unit.calls:
                    self.call(nested)
                for name in unit.names:
                    self.macro(name)

    def macro(self, name: str) -> None:
        """A macro the slice uses: its definition, and what its body names."""
        if name not in self.program.macros or name in self.macros:
            return
        self.macros.add(name)
        body = self.program.tokens[self.program.macros[name]].text.split(name, 1)[-1]
        for token in tokenize(body):
            if token.kind != "word":
                continue
            if token.text in self.names.file_decls:
                self.follow(self.names.file_decls[token.text], None)
            elif self.program.function_named(token.text):
                self.call(token.text)
            else:
                self.macro(token.text)

    def add_jumps(self) -> None:
        """Jumps that can skip a marker, until nothing more is added.

        That is every ``return``, ``break``, ``exit()``... inside a control statement of the
        slice, and one within the check whose condition reads the slice's own variables
        (``if (errors) return 1;``).
        """
        grew = True
        while grew:
            grew = False
            for unit in self.names.units:
                if id(unit) in self.included or not self._jumps(unit):
                    continue
                ancestors = self._ancestors(unit)
                inside = any(id(self.names.unit_of[id(a)]) in self.included for a in ancestors)
                guarded = any(
                    id(decl) in self.followed
                    for a in ancestors
                    for decl in self.names.unit_of[id(a)].reads
                )
                if inside or (guarded and self._within_the_check(unit)):
                    self.take(unit)
                    self.decides = grew = True

    def _jumps(self, unit: Unit) -> bool:
        return unit.stmt.kind == "jump" or any(c in EXIT_CALLS for c in unit.calls)

    def _within_the_check(self, unit: Unit) -> bool:
        """Between the slice's first statement and its last one in the same function.

        An exit there can skip the marker on the check's account; one before it is not
        the check's (an allocation test at the top of ``main``).
        """
        places = [
            u.first
            for u in self.included.values()
            if u.function == unit.function and not self._jumps(u) and not u.is_head
        ]
        return bool(places) and min(places) < unit.first < max(places)

    # --- the result -------------------------------------------------------------------

    def unit_text(self, unit: Unit) -> str:
        """A unit as compared: normalized, a control statement by its head."""
        prefix = "do ... " if unit.stmt.kind == "do" else ""
        return prefix + normalized(self.program.text(unit.first, unit.last))

    def _line(self, first: int, last: int, depth: int = 0, prefix: str = "") -> CheckLine:
        text = self.program.text(first, last)
        return CheckLine(
            "  " * depth + prefix + normalized(text),
            self.program.tokens[first].line,
            prefix + _shown(text),
            prefix + " ".join(text.split()),
        )

    def sections(self) -> dict[str, list[CheckLine]]:
        """The slice, place by place, in order and indented by nesting."""
        found: dict[str, list[CheckLine]] = {}
        for name, definitions in self.wholesale.items():
            found[f"function {name}"] = [self._line(d.first, d.last) for d in definitions]
        for function in self.program.functions:
            if function.name.split("::")[-1] in self.wholesale:
                continue
            lines: list[CheckLine] = []
            self._emit(function.body, 0, lines)
            if lines:
                found[f"in {function.name}"] = lines
        for unit in self.included.values():
            if unit.function is None:
                names = ", ".join(d.name for d in unit.writes) or self.unit_text(unit)
                found[f"file-level {names}"] = [self._line(unit.first, unit.last)]
        for name in self.macros:
            index = self.program.macros[name]
            found[f"macro {name}"] = [self._line(index, index)]
        return found

    def _emit(self, statement: Stmt, depth: int, lines: list[CheckLine]) -> None:
        if statement.kind == "block":
            for child in statement.children:
                self._emit(child, depth, lines)
            return
        unit = self.names.unit_of.get(id(statement))
        if unit is None or id(unit) not in self.included:
            return
        for pragma in statement.pragmas:
            lines.append(self._line(pragma, pragma, depth))
        prefix = "do ... " if statement.kind == "do" else ""
        lines.append(self._line(unit.first, unit.last, depth, prefix))
        for index, child in enumerate(statement.children):
            if index == statement.else_index and any(
                id(self.names.unit_of.get(id(s))) in self.included for s in child.walk()
            ):
                else_line = self.program.tokens[child.first].line
                lines.append(CheckLine("  " * depth + "else", else_line, "else", "else"))
            self._emit(child, depth + 1, lines)

    def status(self, named: bool, criteria: bool) -> Status:
        """What kind of self-check the slice is (see SelfCheck)."""
        if named:
            return "named"
        if not criteria:
            return "absent"
        if not self.decides:
            return "unconditional"
        own = any(
            not u.is_head and any(id(d) in self.followed for d in u.writes)
            for u in self.included.values()
        )
        return "found" if own or self.wholesale else "shallow"


def _ranges(spec: SelfCheckSpec | None) -> list[tuple[int, int]]:
    return spec.ranges() if spec is not None else []


def locate(code: str, markers: Markers, spec: SelfCheckSpec | None) -> tuple[SelfCheck, NamedParts]:
    """The source's self-check, and the parts the manifest names as a candidate finds them."""
    sliced = _Slice(code, markers)
    named_units = sliced.units_on_lines(_ranges(spec))
    named_ids = {id(u) for u in named_units}
    statements = []
    for function, units in sliced.units_in.items():
        for index, unit in enumerate(units):
            if id(unit) in named_ids:
                line = sliced.program.tokens[unit.first].line
                shown = _shown(sliced.program.text(unit.first, unit.last))
                statements.append((function, index, shown, line))
    parts = NamedParts(
        statements=tuple(statements),
        layout={
            function: tuple(sliced.unit_text(u) for u in units)
            for function, units in sliced.units_in.items()
            if any(s[0] == function for s in statements)
        },
        functions=tuple(spec.functions) if spec is not None else (),
    )
    return _finish(sliced, named_units, parts), parts


def locate_in_candidate(code: str, markers: Markers, parts: NamedParts) -> SelfCheck:
    """A candidate's self-check, sliced as the source's was, from the same named parts."""
    sliced = _Slice(code, markers)
    named_units, missing = sliced.aligned(parts)
    for name in parts.functions:
        if not sliced.program.function_named(name):
            missing.append(f"function {name} (named in the manifest) is gone")
    self_check = _finish(sliced, named_units, parts)
    self_check.missing = missing
    return self_check


def _finish(sliced: _Slice, named_units: list[Unit], parts: NamedParts) -> SelfCheck:
    markers = sliced.marker_units()
    for unit, marker in markers:
        sliced.take(unit, _decider(sliced, unit, marker))
    for unit in named_units:
        sliced.take(unit)
    for name in parts.functions:
        sliced.call(name)
        for call in sliced.names.calls_of.get(name, []):
            sliced.take(call)
    sliced.add_jumps()
    named = bool(parts.statements or parts.functions)
    first_line = min((sliced.program.tokens[k].line for _, k in markers), default=None)
    return SelfCheck(
        status=sliced.status(named, bool(markers) or named),
        sections=sliced.sections(),
        results_read=sorted(set(sliced.results_read)),
        first_marker_line=first_line,
    )


def _decider(sliced: _Slice, unit: Unit, marker: int) -> range:
    """The tokens that choose whether a marker statement prints its marker.

    That is the ``?:`` expression holding the marker (``bad == 0 ? "PASS" : "FAIL"``), or
    none.
    """
    tokens = sliced.program.tokens
    for segment in _expressions(sliced, unit):
        if marker in segment and any(tokens[k].text == "?" for k in segment):
            return segment
    return range(0)


def _expressions(sliced: _Slice, unit: Unit) -> list[range]:
    """A statement's expressions: call arguments, stream operands, an initializer.

    What a bracket holds is split on its own.
    """
    tokens, close = sliced.program.tokens, sliced.names.close
    found: list[range] = []

    def split(lo: int, hi: int) -> None:
        start, k = lo, lo
        while k <= hi:
            text = tokens[k].text if tokens[k].kind == "punct" else ""
            if text == "(" and k in close:
                split(k + 1, close[k] - 1)
                k = close[k] + 1
                continue
            if text in (",", "<<", "=", ";"):
                found.append(range(start, k))
                start = k + 1
            k += 1
        found.append(range(start, hi + 1))

    split(unit.first, unit.last)
    return found


def differences(source: SelfCheck, candidate: SelfCheck) -> list[str]:
    """How the candidate's self-check differs from the source's, in words."""
    changes = list(candidate.missing)
    for key in sorted(set(source.sections) | set(candidate.sections)):
        before, after = source.sections.get(key, []), candidate.sections.get(key, [])
        if [line.text for line in before] == [line.text for line in after]:
            continue
        matcher = difflib.SequenceMatcher(
            a=[line.text for line in before], b=[line.text for line in after], autojunk=False
        )
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            old = (
                f"'{before[i1].shown}' (line {before[i1].line}){_after(i2 - i1)}" if i2 > i1 else ""
            )
            new = (
                f"'{after[j1].shown}' (candidate line {after[j1].line}){_after(j2 - j1)}"
                if (j2 > j1)
                else ""
            )
            if tag == "delete":
                changes.append(f"{key}: {old} is gone")
            elif tag == "insert":
                changes.append(f"{key}: {new} was added")
            elif before[i1].text.strip() == after[j1].text.strip() and i2 - i1 == j2 - j1:
                changes.append(f"{key}: {old} now sits under other conditions")
            elif i2 - i1 == j2 - j1 == 1:
                was, now = _where_they_differ(before[i1].raw, after[j1].raw)
                changes.append(
                    f"{key}: '{was}' (line {before[i1].line}) became '{now}' "
                    f"(candidate line {after[j1].line})"
                )
            else:
                changes.append(f"{key}: {old} became {new}")
    return changes


def _where_they_differ(old: str, new: str, context: int = 50) -> tuple[str, str]:
    """Two long texts cut to where they differ, with some context on either side."""
    if len(old) <= 120 and len(new) <= 120:
        return old, new
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    begin = max(0, start - context)

    def cut(text: str) -> str:
        stop = min(len(text), len(text) - end + context)
        return ("..." if begin else "") + text[begin:stop] + ("..." if stop < len(text) else "")

    return cut(old), cut(new)


def _after(count: int) -> str:
    """`` and the 3 lines after it`` for a change of several lines."""
    more = count - 1
    return f" and the {more} line{'s' if more > 1 else ''} after it" if more > 0 else ""


def self_check_findings(
    source_code: str,
    candidate_code: str,
    markers: Markers,
    spec: SelfCheckSpec | None,
    nothing_compared: bool,
) -> list[GuardFinding]:
    """The guard's findings for one candidate.

    A veto when the candidate changed the source's self-check; and, where the output check
    compared nothing, a veto unless a self-check of the source's own stands for the
    results (a note saying so when one does).
    """
    source, parts = locate(source_code, markers, spec)
    if source.status in ("absent", "unconditional"):
        return _unbacked(source, markers) if nothing_compared else []
    candidate = locate_in_candidate(candidate_code, markers, parts)
    changes = differences(source, candidate)
    if changes:
        shown = "; ".join(changes[:MAX_CHANGES_SHOWN])
        more = len(changes) - MAX_CHANGES_SHOWN
        return [
            GuardFinding(
                rule=RULE,
                finding=(
                    f"the candidate changed the source's self-check ({_what(source, markers)}: "
                    f"{source.where()}): "
                    f"{shown}{f'; and {more} more' if more > 0 else ''}. The self-check "
                    "must stay the source's: refactor the work, not the check"
                ),
                vetoes=True,
            )
        ]
    if not nothing_compared:
        return []
    if source.status == "shallow":
        return _unbacked(source, markers)
    return [
        GuardFinding(
            rule=RULE,
            finding=(
                f"kept: the source's self-check ({source.where()}) is unchanged; with nothing "
                "else to compare, its verdict is what stands for the results"
            ),
        )
    ]


def _what(source: SelfCheck, markers: Markers) -> str:
    """What the self-check is made of, for a finding."""
    deciding = f"the code deciding {markers.shown()}" if markers.any() else ""
    if source.status != "named":
        return deciding
    return f"{deciding} and what the manifest names" if deciding else "what the manifest names"


def _unbacked(source: SelfCheck, markers: Markers) -> list[GuardFinding]:
    """Nothing compared, and no self-check of the source's own to stand for the results."""
    if source.status == "absent":
        why = (
            f"the source prints no {markers.shown()} marker from its code"
            if markers.any()
            else "the manifest names no pass marker (pass_regex)"
        )
    elif source.status == "unconditional":
        why = f"the source prints its marker whatever happens (line {source.first_marker_line})"
    else:
        results = ", ".join(source.results_read[:4]) or "its results"
        why = (
            f"the source's marker depends only on what its own work produces ({results}; "
            f"{source.where()}), which a candidate may change"
        )
    return [
        GuardFinding(
            rule=RULE,
            finding=(
                f"nothing to compare, and {why}: no check of the source's own stands for the "
                "results, so no gain of this program can be claimed. Make it print its "
                "results, name its output files in outputs:, or name its self-check in the "
                "manifest's self_check:"
            ),
            vetoes=True,
        )
    ]
