"""A tolerant reader of C, C++, CUDA and HIP sources: tokens, statements, names.

The self-check guard (tools/self_check.py) follows what a program's PASS/FAIL marker
depends on: the condition around its print, the variables that condition reads, the
statements that write those variables, and so on. That needs statements and names,
not types: this reader splits a file into functions and a tree of statements (blocks,
if/else, loops, switch, jumps, plain statements), resolves each name to the
declaration in scope, and says which variables each statement reads and writes.

It is not a compiler front end, and says so by never failing: macros are not
expanded, templates and overloads are not resolved, class members are not followed,
and what it cannot place it keeps as an opaque plain statement. The guard's README
section lists what that leaves unseen. This module is a leaf: it imports nothing of
lassi-ee, so the manifest loader (apps.py) can check a ``self_check:`` entry with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

TokenKind = Literal["word", "number", "string", "char", "punct", "directive"]


@dataclass(frozen=True)
class Token:
    """One token, with where it lies in the text (1-based line, character offsets)."""

    kind: TokenKind
    text: str
    line: int
    start: int
    end: int


_PUNCTS = sorted(
    [
        "<<<",
        ">>>",
        "<<=",
        ">>=",
        "...",
        "->*",
        "::",
        "->",
        "++",
        "--",
        "<<",
        ">>",
        "<=",
        ">=",
        "==",
        "!=",
        "&&",
        "||",
        "+=",
        "-=",
        "*=",
        "/=",
        "%=",
        "&=",
        "|=",
        "^=",
        "##",
        ".*",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ";",
        ",",
        ".",
        "?",
        ":",
        "~",
        "!",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "&",
        "|",
        "=",
        "<",
        ">",
        "#",
    ],
    key=len,
    reverse=True,
)
_STRING_PREFIXES = {"L", "u", "U", "u8", "R", "LR", "uR", "UR", "u8R"}
_NUMBER = re.compile(r"(?:\d|\.\d)(?:[eEpP][-+]|[\w.']|)*")
_WORD = re.compile(r"[A-Za-z_$][\w$]*")


def _string_end(code: str, i: int, quote: str) -> int:
    """The offset just past the literal opened by ``quote`` at ``i``."""
    j = i + 1
    while j < len(code) and code[j] != quote and code[j] != "\n":
        j += 2 if code[j] == "\\" else 1
    return min(j + 1, len(code))


def _raw_string_end(code: str, i: int) -> int:
    """The end of a raw string literal whose opening quote is at ``i``."""
    open_paren = code.find("(", i + 1)
    if open_paren < 0:
        return _string_end(code, i, '"')
    delimiter = code[i + 1 : open_paren]
    close = code.find(f'){delimiter}"', open_paren)
    return len(code) if close < 0 else close + len(delimiter) + 2


def _block_comment_end(code: str, i: int) -> int:
    """The offset just past the ``/* ... */`` comment opened at ``i`` (the end of the
    text when it is never closed)."""
    close = code.find("*/", i + 2)
    return len(code) if close < 0 else close + 2


def tokenize(code: str) -> list[Token]:
    """Every token of ``code``; comments are dropped and a directive is one token."""
    tokens: list[Token] = []
    i, n, line = 0, len(code), 1
    line_start = True
    while i < n:
        char = code[i]
        if char == "\n":
            line, line_start, i = line + 1, True, i + 1
            continue
        if char.isspace():
            i += 1
            continue
        if code.startswith("//", i):
            end = code.find("\n", i)
            i = n if end < 0 else end
            continue
        if code.startswith("/*", i):
            end = _block_comment_end(code, i)
            line += code.count("\n", i, end)
            i = end
            continue
        start_line = line
        if char == "#" and line_start:
            j = i
            while j < n and code[j] != "\n":
                if code.startswith("\\\n", j):
                    j += 2
                    line += 1
                    continue
                if code.startswith("/*", j):
                    close = _block_comment_end(code, j)
                    line += code.count("\n", j, close)
                    j = close
                    continue
                if code.startswith("//", j):
                    break
                j += 1
            end_of_text = j
            while j < n and code[j] != "\n":
                j += 1
            tokens.append(Token("directive", code[i:end_of_text], start_line, i, end_of_text))
            i = j
            continue
        line_start = False
        word = _WORD.match(code, i)
        if word:
            end = word.end()
            if end < n and code[end] in "\"'" and word.group(0) in _STRING_PREFIXES:
                if code[end] == '"' and word.group(0).endswith("R"):
                    end = _raw_string_end(code, end)
                else:
                    end = _string_end(code, end, code[end])
                kind: TokenKind = "string" if code[word.end()] == '"' else "char"
                line += code.count("\n", i, end)
                tokens.append(Token(kind, code[i:end], start_line, i, end))
            else:
                tokens.append(Token("word", word.group(0), start_line, i, end))
            i = end
            continue
        number = _NUMBER.match(code, i)
        if number:
            tokens.append(Token("number", number.group(0), start_line, i, number.end()))
            i = number.end()
            continue
        if char in "\"'":
            end = _string_end(code, i, char)
            tokens.append(Token("string" if char == '"' else "char", code[i:end], line, i, end))
            i = end
            continue
        for punct in _PUNCTS:
            if code.startswith(punct, i):
                tokens.append(Token("punct", punct, line, i, i + len(punct)))
                i += len(punct)
                break
        else:  # a character C has no use for (a stray backtick, a non-ASCII letter)
            tokens.append(Token("punct", char, line, i, i + 1))
            i += 1
    return tokens


def string_value(token: Token) -> str:
    """The text a string literal stands for, its escapes read (a newline for a backslash-n)."""
    text = token.text
    quote = text.index('"')
    prefix, body = text[:quote], text[quote:]
    if prefix.endswith("R"):
        open_paren = body.find("(")
        return body[open_paren + 1 : body.rfind(")")]
    inner = body[1:-1] if len(body) > 1 and body.endswith('"') else body[1:]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), inner)


TYPE_WORDS = frozenset(
    [
        "void",
        "bool",
        "char",
        "short",
        "int",
        "long",
        "float",
        "double",
        "signed",
        "unsigned",
        "auto",
        "wchar_t",
        "char16_t",
        "char32_t",
        "half",
        "__half",
    ]
)
SPECIFIERS = frozenset(
    [
        "const",
        "static",
        "constexpr",
        "consteval",
        "constinit",
        "volatile",
        "register",
        "extern",
        "inline",
        "thread_local",
        "mutable",
        "typename",
        "struct",
        "class",
        "union",
        "enum",
        "__shared__",
        "__device__",
        "__global__",
        "__host__",
        "__constant__",
        "__managed__",
        "__restrict__",
        "__restrict",
        "restrict",
        "__forceinline__",
        "__noinline__",
        "__inline__",
        "static_assert",
    ]
)
KEYWORDS = (
    TYPE_WORDS
    | SPECIFIERS
    | frozenset(
        [
            "if",
            "else",
            "for",
            "while",
            "do",
            "switch",
            "case",
            "default",
            "return",
            "break",
            "continue",
            "goto",
            "throw",
            "try",
            "catch",
            "sizeof",
            "alignof",
            "new",
            "delete",
            "this",
            "nullptr",
            "true",
            "false",
            "NULL",
            "operator",
            "template",
            "namespace",
            "using",
            "typedef",
            "static_cast",
            "dynamic_cast",
            "reinterpret_cast",
            "const_cast",
            "decltype",
            "noexcept",
            "public",
            "private",
            "protected",
            "virtual",
            "override",
            "final",
            "explicit",
            "friend",
            "asm",
            "__asm__",
            "__attribute__",
            "__declspec",
            "__launch_bounds__",
            "alignas",
        ]
    )
)
_ATTRIBUTE_WORDS = {"__attribute__", "__declspec", "__launch_bounds__", "alignas", "decltype"}
ASSIGNMENTS = frozenset(["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="])
RELATIONAL = frozenset(["<", ">", "<=", ">=", "==", "!="])
JUMP_WORDS = frozenset({"return", "break", "continue", "goto", "throw"})
EXIT_CALLS = frozenset({"exit", "abort", "_Exit", "quick_exit", "std::exit", "std::abort"})

StmtKind = Literal[
    "simple", "jump", "block", "if", "for", "while", "do", "switch", "label", "try", "empty"
]


@dataclass(eq=False)
class Stmt:
    """A statement: its tokens ``first..last`` (inclusive), and its head's tokens if any.

    A control statement's head is ``if (...)``, ``for (...)``, ``do ... while (...)``.

    ``children`` are the nested statements in order; for an ``if`` those from
    ``else_index`` on form its else branch. ``pragmas`` are the ``#pragma`` tokens
    written right before it.
    """

    kind: StmtKind
    first: int
    last: int
    head: tuple[int, int] | None = None
    children: list[Stmt] = field(default_factory=list)
    else_index: int | None = None
    pragmas: list[int] = field(default_factory=list)
    parent: Stmt | None = field(default=None, repr=False)

    @property
    def is_control(self) -> bool:
        """A statement with a head and nested statements (if, loops, switch, try)."""
        return self.kind in ("if", "for", "while", "do", "switch", "try")

    def walk(self) -> list[Stmt]:
        """This statement and every statement nested in it, in order."""
        found = [self]
        for child in self.children:
            found += child.walk()
        return found


@dataclass(eq=False)
class Function:
    """A function defined in the file: its name, tokens, parameter list's tokens and body."""

    name: str
    first: int
    last: int
    params: tuple[int, int]
    body: Stmt
    qualifiers: frozenset[str]


@dataclass
class Program:
    """A file read into functions, file-level declarations and macro definitions."""

    code: str
    tokens: list[Token]
    functions: list[Function]
    file_statements: list[Stmt]
    macros: dict[str, int] = field(default_factory=dict)  # name -> its #define token

    def text(self, first: int, last: int) -> str:
        """The source text of tokens ``first..last``, comments and layout as written."""
        return self.code[self.tokens[first].start : self.tokens[last].end]

    def lines(self, first: int, last: int) -> tuple[int, int]:
        """The first and last line of tokens ``first..last``."""
        last_token = self.tokens[last]
        return self.tokens[first].line, last_token.line + last_token.text.count("\n")

    def statement_spans(self) -> list[tuple[int, int]]:
        """The first and last line of every statement (of a control statement, its head)."""
        spans = [self.lines(s.first, s.last) for s in self.file_statements]
        for function in self.functions:
            for statement in function.body.walk()[1:]:
                if statement.kind in ("block", "empty"):
                    continue
                first, last = (
                    statement.head if statement.head else (statement.first, statement.last)
                )
                spans.append(self.lines(first, last))
        return spans

    def function_named(self, name: str) -> list[Function]:
        """Every definition of ``name`` (overloads and templates share a name)."""
        return [f for f in self.functions if f.name == name or f.name.endswith("::" + name)]


_MACRO_NAME = re.compile(r"#\s*define\s+([A-Za-z_]\w*)")


class _Parser:
    """Recursive descent over the tokens; every rule gives up gracefully."""

    def __init__(self, tokens: list[Token]) -> None:
        self.t = tokens
        self.n = len(tokens)
        self.close = self._match_brackets()

    def _match_brackets(self) -> dict[int, int]:
        """Each (, [ and { token's matching closer, where the brackets balance."""
        pairs, stack = {}, []
        opener = {")": "(", "]": "[", "}": "{"}
        for i, token in enumerate(self.t):
            if token.kind != "punct":
                continue
            if token.text in "([{":
                stack.append(i)
            elif token.text in opener:
                while stack and self.t[stack[-1]].text != opener[token.text]:
                    stack.pop()  # an unbalanced opener (a macro's doing): forget it
                if stack:
                    pairs[stack.pop()] = i
        return pairs

    def text(self, i: int) -> str:
        return self.t[i].text if i < self.n else ""

    def is_punct(self, i: int, text: str) -> bool:
        return i < self.n and self.t[i].kind == "punct" and self.t[i].text == text

    def closer(self, i: int, limit: int) -> int:
        """The matching closer of the bracket at ``i``, or ``limit`` when there is none."""
        return min(self.close.get(i, limit), limit)

    # --- file level ---------------------------------------------------------------------

    def file_level(self, i: int, end: int, program: Program) -> None:
        while i < end:
            token = self.t[i]
            if token.kind == "directive":
                macro = _MACRO_NAME.match(token.text)
                if macro:
                    program.macros.setdefault(macro.group(1), i)
                i += 1
                continue
            if token.kind == "word" and token.text in ("namespace", "extern"):
                j = i + 1  # namespace a::b {, extern "C" {: their contents are file level
                while j < end and (self.t[j].kind == "word" or self.t[j].text == "::"):
                    j += 1
                if token.text == "extern" and j == i + 1 and self.t[j].kind == "string":
                    j += 1
                if self.is_punct(j, "{") and (token.text == "namespace" or j == i + 2):
                    close = self.closer(j, end)
                    self.file_level(j + 1, close, program)
                    i = close + 1
                    continue
            i = self.file_item(i, end, program)

    def file_item(self, i: int, end: int, program: Program) -> int:
        """One declaration or definition at file level; the index after it."""
        start, j = i, i
        saw_equals, saw_type_key = False, False
        while j < end:
            token = self.t[j]
            if token.kind == "directive":
                break
            if token.kind == "punct" and token.text in "([":
                j = self.closer(j, end) + 1
                continue
            if self.is_punct(j, "="):
                saw_equals = True
            if token.kind == "word" and token.text in ("struct", "class", "union", "enum"):
                saw_type_key = True
            if self.is_punct(j, ";"):
                program.file_statements.append(Stmt("simple", start, j))
                return j + 1
            if self.is_punct(j, "{"):
                close = self.closer(j, end)
                function = None if saw_equals else self.function_head(start, j, close)
                if function is not None:
                    program.functions.append(function)
                    return close + 1
                if saw_equals or saw_type_key:  # an initializer or a type: on to its ';'
                    j = close + 1
                    continue
                return close + 1
            j += 1
        if j > start:  # a declaration cut short by a directive or the end of the file
            program.file_statements.append(Stmt("simple", start, j - 1))
        return max(j, start + 1)

    def function_head(self, start: int, brace: int, close: int) -> Function | None:
        """A function definition whose body opens at ``brace``, or None if it is none."""
        j = start
        while j < brace:
            token = self.t[j]
            if token.kind == "word" and token.text == "template" and self.is_punct(j + 1, "<"):
                depth, j = 0, j + 1
                while j < brace:
                    depth += {"<": 1, ">": -1, ">>": -2}.get(self.t[j].text, 0)
                    j += 1
                    if depth <= 0:
                        break
                continue
            if self.is_punct(j, "("):
                previous = self.t[j - 1] if j > start else None
                if previous is not None and previous.text in _ATTRIBUTE_WORDS:
                    j = self.closer(j, brace) + 1
                    continue
                if previous is None or previous.kind != "word" or previous.text in KEYWORDS:
                    return None
                name_start = j - 1
                while name_start - 2 >= start and self.is_punct(name_start - 1, "::"):
                    name_start -= 2
                name = "".join(self.t[k].text for k in range(name_start, j))
                qualifiers = frozenset(self.t[k].text for k in range(start, name_start))
                params_close = self.closer(j, brace)
                body = self.block(brace, close)
                return Function(name, start, close, (j + 1, params_close - 1), body, qualifiers)
            j += 1
        return None

    # --- statements ---------------------------------------------------------------------

    def block(self, open_brace: int, close: int) -> Stmt:
        block = Stmt("block", open_brace, close)
        block.children = self.statements(open_brace + 1, close, block)
        return block

    def statements(self, i: int, end: int, parent: Stmt) -> list[Stmt]:
        found: list[Stmt] = []
        pragmas: list[int] = []
        while i < end:
            token = self.t[i]
            if token.kind == "directive":
                if re.match(r"#\s*pragma\s+(omp|acc)\b", token.text):
                    pragmas.append(i)
                i += 1
                continue
            if self.is_punct(i, "}"):  # a stray closer (macros): skip it
                i += 1
                continue
            statement, i = self.statement(i, end)
            statement.pragmas, pragmas = pragmas, []
            statement.parent = parent
            found.append(statement)
        return found

    def _nested(self, parent: Stmt, i: int, end: int) -> tuple[Stmt, int]:
        pragmas = []
        while i < end and self.t[i].kind == "directive":
            if re.match(r"#\s*pragma\s+(omp|acc)\b", self.t[i].text):
                pragmas.append(i)
            i += 1
        if i >= end:
            empty = Stmt("empty", end - 1, end - 1, parent=parent)
            return empty, end
        child, after = self.statement(i, end)
        child.parent, child.pragmas = parent, pragmas
        return child, after

    def statement(self, i: int, end: int) -> tuple[Stmt, int]:
        """The statement starting at ``i`` and the index after it."""
        token = self.t[i]
        word = token.text if token.kind == "word" else ""
        if self.is_punct(i, "{"):
            close = self.closer(i, end)
            return self.block(i, close), close + 1
        if self.is_punct(i, ";"):
            return Stmt("empty", i, i), i + 1
        paren = i + 2 if word == "if" and self.text(i + 1) == "constexpr" else i + 1
        if word in ("if", "for", "while", "switch") and self.is_punct(paren, "("):
            head_end = self.closer(paren, end)
            statement = Stmt(word, i, head_end, head=(i, head_end))  # type: ignore[arg-type]
            body, after = self._nested(statement, head_end + 1, end)
            statement.children = [body]
            if word == "if" and self.text(after) == "else":
                otherwise, after = self._nested(statement, after + 1, end)
                statement.children.append(otherwise)
                statement.else_index = 1
            statement.last = max(after - 1, head_end)
            return statement, after
        if word == "do":
            statement = Stmt("do", i, i)
            body, after = self._nested(statement, i + 1, end)
            statement.children = [body]
            if self.text(after) == "while" and self.is_punct(after + 1, "("):
                cond_end = self.closer(after + 1, end)
                statement.head = (after, cond_end)
                after = cond_end + 1
                if self.is_punct(after, ";"):
                    after += 1
            statement.last = max(after - 1, i)
            statement.head = statement.head or (i, i)
            return statement, after
        if word == "try":
            statement = Stmt("try", i, i, head=(i, i))
            body, after = self._nested(statement, i + 1, end)
            statement.children = [body]
            while self.text(after) == "catch" and self.is_punct(after + 1, "("):
                handler, after = self._nested(statement, self.closer(after + 1, end) + 1, end)
                statement.children.append(handler)
            statement.last = after - 1
            return statement, after
        if word in ("case", "default") or (
            token.kind == "word" and word not in KEYWORDS and self.is_punct(i + 1, ":")
        ):
            j = i
            while j < end and not self.is_punct(j, ":"):
                j += 1
            return Stmt("label", i, min(j, end - 1)), j + 1
        kind: StmtKind = "jump" if word in JUMP_WORDS else "simple"
        return self.plain(i, end, kind)

    def plain(self, i: int, end: int, kind: StmtKind) -> tuple[Stmt, int]:
        """A statement up to its ``;``.

        A macro that opens a block (``FOR_EACH(x) {``) is read as a loop over that block.
        """
        j, saw_equals = i, False
        while j < end:
            token = self.t[j]
            if token.kind == "punct":
                if token.text in "([":
                    j = self.closer(j, end) + 1
                    continue
                if token.text == "=":
                    saw_equals = True
                if token.text == ";":
                    return Stmt(kind, i, j), j + 1
                if token.text == "}":  # no ';' before the block's end: stop here
                    return Stmt(kind, i, max(j - 1, i)), j
                if token.text == "{":
                    if self.is_punct(j - 1, ")") and not saw_equals and kind == "simple":
                        statement = Stmt("for", i, j - 1, head=(i, j - 1))
                        close = self.closer(j, end)
                        body = self.block(j, close)
                        body.parent = statement
                        statement.children, statement.last = [body], close
                        return statement, close + 1
                    j = self.closer(j, end) + 1
                    continue
            j += 1
        return Stmt(kind, i, end - 1), end


def parse_program(code: str) -> Program:
    """Read ``code`` into functions, file-level statements and macros; never fails."""
    tokens = tokenize(code)
    program = Program(code=code, tokens=tokens, functions=[], file_statements=[])
    _Parser(tokens).file_level(0, len(tokens), program)
    return program


# --- names: declarations, reads and writes ---------------------------------------------


@dataclass(eq=False)
class Decl:
    """A declared name: a variable, a parameter or a file-level variable.

    ``scalar`` says it is a plain number (a builtin type, no pointer or array), which a
    call cannot change through a bare argument.
    """

    name: str
    token: int
    function: str | None
    scalar: bool
    parameter: bool = False


@dataclass(eq=False)
class Unit:
    """What the guard reasons about: a plain statement, or the head of a control statement.

    ``reads`` and ``writes`` are the declarations it reads and may write (resolved in
    scope); ``names`` the names it reads that no declaration here explains (macros,
    enumerators, names from headers); ``calls`` the functions it calls.
    """

    stmt: Stmt
    first: int
    last: int
    function: str | None
    reads: list[Decl] = field(default_factory=list)
    writes: list[Decl] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    read_at: dict[int, Decl] = field(default_factory=dict)
    name_at: dict[int, str] = field(default_factory=dict)
    call_at: dict[int, str] = field(default_factory=dict)
    assigned: list[Decl] = field(default_factory=list)
    compares_into: bool = False

    @property
    def is_head(self) -> bool:
        """The head of a control statement (its condition, loop header), not a statement."""
        return self.stmt.is_control


def _is_word(token: Token) -> bool:
    return token.kind == "word" and token.text not in KEYWORDS


# Functions that only read their arguments, and those that write the first one only.
READ_ONLY_CALLS = frozenset(
    [
        "memcmp",
        "printf",
        "fprintf",
        "puts",
        "fputs",
        "putchar",
        "fwrite",
        "perror",
        "assert",
        "abs",
        "fabs",
        "fabsf",
        "fabsl",
        "sqrt",
        "sqrtf",
        "cbrt",
        "pow",
        "powf",
        "exp",
        "expf",
        "exp2",
        "log",
        "logf",
        "log2",
        "log10",
        "sin",
        "sinf",
        "cos",
        "cosf",
        "tan",
        "tanf",
        "atan",
        "atan2",
        "tanh",
        "floor",
        "floorf",
        "ceil",
        "ceilf",
        "round",
        "roundf",
        "trunc",
        "fmod",
        "fmodf",
        "fmax",
        "fmaxf",
        "fmin",
        "fminf",
        "min",
        "max",
        "hypot",
        "isnan",
        "isinf",
        "isfinite",
        "signbit",
        "erf",
        "erff",
        "lgamma",
        "tgamma",
        "strlen",
        "strcmp",
        "strncmp",
        "atoi",
        "atol",
        "atoll",
        "atof",
        "strtol",
        "strtoul",
        "strtod",
        "strtof",
        "free",
        "cudaFree",
        "hipFree",
        "cudaFreeHost",
        "hipHostFree",
        "cudaGetErrorString",
        "hipGetErrorString",
        "std::abs",
        "std::fabs",
        "std::sqrt",
        "std::pow",
        "std::exp",
        "std::log",
        "std::sin",
        "std::cos",
        "std::max",
        "std::min",
        "std::isnan",
        "std::isinf",
        "std::isfinite",
        "std::floor",
        "std::ceil",
        "std::round",
        "std::fmod",
        "std::hypot",
        "std::atoi",
        "std::atol",
        "std::stoi",
        "std::stol",
        "std::stod",
        "std::to_string",
        "std::printf",
        "std::fprintf",
        "std::puts",
        "std::strlen",
        "std::strcmp",
        "std::fmax",
        "std::fmin",
        "std::erf",
        "std::tanh",
        "std::atan",
        "std::atan2",
        "std::cbrt",
        "std::exp2",
        "std::log2",
        "std::log10",
        "std::trunc",
        "std::signbit",
    ]
)
FIRST_ARGUMENT_WRITES = re.compile(
    r"^(?:std::)?(?:memcpy|memmove|memset|strcpy|strncpy|sprintf|snprintf|fgets|fread|"
    r"cuda\w*Memcpy\w*|cudaMemcpy\w*|cudaMemset\w*|hipMemcpy\w*|hipMemset\w*)$"
)
READ_ONLY_METHODS = frozenset(
    [
        "size",
        "begin",
        "end",
        "cbegin",
        "cend",
        "rbegin",
        "rend",
        "empty",
        "length",
        "c_str",
        "data",
        "front",
        "back",
        "at",
        "find",
        "count",
        "get",
    ]
)


def _split_arguments(tokens: list[Token], lo: int, hi: int, close: dict[int, int]) -> list[range]:
    """The depth-0 comma-separated parts of tokens ``lo..hi``."""
    parts, start, i = [], lo, lo
    while i <= hi:
        if tokens[i].kind == "punct" and tokens[i].text in "([{" and i in close:
            i = close[i] + 1
            continue
        if tokens[i].kind == "punct" and tokens[i].text == ",":
            parts.append(range(start, i))
            start = i + 1
        i += 1
    if start <= hi:
        parts.append(range(start, hi + 1))
    return parts


class Names:
    """Declarations, and every unit's reads and writes, for a whole program."""

    def __init__(self, program: Program) -> None:
        """Resolve every name of ``program`` to its declaration, function by function."""
        self.program = program
        self.tokens = program.tokens
        self.close = _Parser(program.tokens).close
        self.opener = {closer: opener for opener, closer in self.close.items()}
        self.file_decls: dict[str, Decl] = {}
        self.units: list[Unit] = []
        self.unit_of: dict[int, Unit] = {}  # id(stmt) -> unit
        self.decls_of: dict[str, list[Decl]] = {}  # function -> its parameters and locals
        self.writes_of: dict[int, list[Unit]] = {}  # id(decl) -> units that may write it
        self.calls_of: dict[str, list[Unit]] = {}  # function name -> units calling it
        self.defined = {f.name.split("::")[-1] for f in program.functions}
        for statement in program.file_statements:
            unit = Unit(statement, statement.first, statement.last, None)
            for decl in self._declared(statement.first, statement.last, None):
                self.file_decls.setdefault(decl.name, decl)
                unit.writes.append(decl)
            self._add(unit, [self.file_decls])
        for function in program.functions:
            self._function(function)

    # --- declarations -----------------------------------------------------------------

    def _declared(self, lo: int, hi: int, function: str | None) -> list[Decl]:
        """The names a declaration in tokens ``lo..hi`` declares; [] if it declares none."""
        t, i = self.tokens, lo
        if i > hi or t[i].kind != "word" or t[i].text in ("typedef", "using", "return"):
            return []
        if t[i].text in KEYWORDS - TYPE_WORDS - SPECIFIERS:
            return []
        builtin = False
        while i <= hi and t[i].kind == "word" and t[i].text in SPECIFIERS:
            i += 1
        if i <= hi and t[i].kind == "word" and t[i].text in TYPE_WORDS:
            builtin = t[i].text != "auto"
            while i <= hi and t[i].kind == "word" and (t[i].text in TYPE_WORDS | SPECIFIERS):
                i += 1
        elif i <= hi and _is_word(t[i]):
            builtin = t[i].text.endswith("_t")
            i += 1
            while i + 1 <= hi and t[i].text == "::" and _is_word(t[i + 1]):
                i += 2
            if i <= hi and t[i].text == "<":
                depth = 0
                while i <= hi:
                    depth += {"<": 1, ">": -1, ">>": -2}.get(t[i].text, 0)
                    i += 1
                    if depth <= 0:
                        break
                builtin = False
        else:
            return []
        decls: list[Decl] = []
        while i <= hi:
            pointer = False
            while i <= hi and (t[i].text in ("*", "&", "&&") or t[i].text in SPECIFIERS):
                pointer = pointer or t[i].text in ("*", "&", "&&")
                i += 1
            if i > hi or not _is_word(t[i]):
                return decls
            after = t[i + 1].text if i + 1 <= hi else ";"
            if after not in ("=", "(", "{", "[", ";", ",", ":", ")"):
                return decls
            array = after == "["
            decls.append(Decl(t[i].text, i, function, scalar=builtin and not pointer and not array))
            i += 1
            while i <= hi and t[i].text != ",":  # past the initializer
                if t[i].kind == "punct" and t[i].text in "([{" and i in self.close:
                    i = self.close[i]
                i += 1
            i += 1
        return decls

    def _parameters(self, function: Function) -> list[Decl]:
        lo, hi = function.params
        decls = []
        for part in _split_arguments(self.tokens, lo, hi, self.close):
            names = [k for k in part if _is_word(self.tokens[k])]
            default = next((k for k in part if self.tokens[k].text == "="), None)
            names = [k for k in names if default is None or k < default]
            if len(names) < 1 or (len(names) == 1 and part.start == names[0] and len(part) > 1):
                continue
            last = names[-1]
            texts = [self.tokens[k].text for k in part]
            scalar = not any(mark in texts for mark in ("*", "&", "[", "&&")) and all(
                text in TYPE_WORDS | SPECIFIERS or text.endswith("_t") or k == last
                for k, text in zip(part, texts, strict=True)
                if default is None or k < default
            )
            decls.append(Decl(self.tokens[last].text, last, function.name, scalar, True))
        return decls

    # --- statements -------------------------------------------------------------------

    def _function(self, function: Function) -> None:
        params = self._parameters(function)
        self.decls_of[function.name] = list(params)
        scopes: list[dict[str, Decl]] = [self.file_decls, {d.name: d for d in params}]
        for statement in function.body.children:
            self._statement(statement, function.name, scopes)

    def _statement(self, statement: Stmt, function: str, scopes: list[dict[str, Decl]]) -> None:
        if statement.kind == "empty":
            return
        if statement.kind == "block":
            scopes.append({})
            for child in statement.children:
                self._statement(child, function, scopes)
            scopes.pop()
            return
        if statement.is_control:
            scopes.append({})
            assert statement.head is not None
            lo, hi = statement.head
            unit = Unit(statement, lo, hi, function)
            if statement.kind == "for":
                init_end = next(
                    (k for k in range(lo + 2, hi) if self.tokens[k].text in (";", ":")), hi
                )
                for decl in self._declared(lo + 2, init_end - 1, function):
                    scopes[-1][decl.name] = decl
                    self.decls_of[function].append(decl)
                    unit.writes.append(decl)
            self._add(unit, scopes)
            for child in statement.children:
                self._statement(child, function, scopes)
            scopes.pop()
            return
        unit = Unit(statement, statement.first, statement.last, function)
        for decl in self._declared(statement.first, statement.last, function):
            scopes[-1][decl.name] = decl
            self.decls_of[function].append(decl)
            unit.writes.append(decl)
        self._add(unit, scopes)

    def resolve(self, name: str, scopes: list[dict[str, Decl]]) -> Decl | None:
        """The declaration ``name`` means where ``scopes`` are open, innermost first."""
        for scope in reversed(scopes):
            if name in scope:
                return scope[name]
        return None

    def _add(self, unit: Unit, scopes: list[dict[str, Decl]]) -> None:
        t = self.tokens
        for k in range(unit.first, unit.last + 1):
            token = t[k]
            if not _is_word(token):
                continue
            before = t[k - 1].text if k > unit.first else ""
            after = t[k + 1].text if k < unit.last else ""
            if before in (".", "->") or after == "::":
                continue
            if before == "::":  # std::sqrt(x), std::cout: a qualified name, never a local
                qualified = self._callee(k, unit.first)
                if after == "(":
                    unit.call_at[k] = qualified
                    unit.calls.append(qualified)
                else:
                    unit.name_at[k] = qualified
                    unit.names.append(qualified)
                continue
            decl = self.resolve(token.text, scopes)
            if after == "(" and decl is None:
                unit.call_at[k] = self._callee(k, unit.first)
                unit.calls.append(unit.call_at[k])
            elif decl is None:
                unit.name_at[k] = token.text
                unit.names.append(token.text)
            elif k != decl.token:  # the name where it is declared is no read
                unit.read_at[k] = decl
                unit.reads.append(decl)
        unit.assigned = list(unit.writes)  # what it declares
        for k, by_value in self._written_bases(unit, scopes):
            decl = self.resolve(t[k].text, scopes)
            if decl is None:
                continue
            if all(decl is not w for w in unit.writes):
                unit.writes.append(decl)
            if by_value and all(decl is not a for a in unit.assigned):
                unit.assigned.append(decl)
        unit.compares_into = bool(unit.writes) and self._compares(unit)
        self.units.append(unit)
        self.unit_of[id(unit.stmt)] = unit
        for decl in unit.writes:
            self.writes_of.setdefault(id(decl), []).append(unit)
        for callee in unit.calls:
            self.calls_of.setdefault(callee.split("::")[-1], []).append(unit)

    def _callee(self, k: int, lo: int) -> str:
        parts = [self.tokens[k].text]
        while k - 2 >= lo and self.tokens[k - 1].text == "::" and _is_word(self.tokens[k - 2]):
            k -= 2
            parts.insert(0, self.tokens[k].text)
        return "::".join(parts)

    def _compares(self, unit: Unit) -> bool:
        """Whether the unit writes the outcome of a comparison, as a verdict takes it.

        That is a comparison in what it assigns (``ok = fabs(d) < tol``, not a ``?:``
        choosing a value), or nothing but a constant or itself under an ``if`` that
        compares (``bad++``, ``ok = false``).
        """
        if unit.is_head:
            return False
        texts = [self.tokens[k].text for k in range(unit.first, unit.last + 1)]
        if "?" not in texts and _relational(texts):  # ok = fabs(d) < tol; bad += a != b
            return True
        if any(decl not in unit.writes for decl in unit.reads):  # max = a[i]: a value, no verdict
            return False
        parent = unit.stmt.parent
        while parent is not None and parent.kind == "block":
            parent = parent.parent
        if parent is None or parent.kind != "if" or parent.head is None:
            return False
        lo, hi = parent.head
        return _relational([self.tokens[k].text for k in range(lo, hi + 1)])

    def _written_bases(self, unit: Unit, scopes: list[dict[str, Decl]]) -> list[tuple[int, bool]]:
        """The names the unit may change, as (token index, by value).

        By value: assigned, incremented or copied into (``memcpy``), so that what the unit
        reads flows into them; otherwise passed to a call that may write through them.
        """
        t, lo, hi = self.tokens, unit.first, unit.last
        bases: list[tuple[int, bool]] = []
        for k in range(lo, hi + 1):
            text = t[k].text if t[k].kind == "punct" else ""
            if text in ASSIGNMENTS and k > lo:
                bases += [(b, True) for b in self._lvalue_base(k - 1, lo)]
            elif text in ("++", "--"):
                if k + 1 <= hi and _is_word(t[k + 1]):
                    bases.append((k + 1, True))
                elif k > lo:
                    bases += [(b, True) for b in self._lvalue_base(k - 1, lo)]
            elif _is_word(t[k]) and k + 1 <= hi and t[k + 1].text == "(":
                copies = bool(FIRST_ARGUMENT_WRITES.match(self._callee(k, lo)))
                bases += [(b, copies) for b in self._call_writes(k, lo, hi, scopes)]
        return bases

    def _lvalue_base(self, k: int, lo: int) -> list[int]:
        """The variable an lvalue ending at token ``k`` belongs to (``a`` in ``a[i].x``)."""
        t = self.tokens
        start = k
        while start >= lo:
            text = t[start].text
            if t[start].kind == "punct" and text in ")]":
                if start not in self.opener:
                    return []
                start = self.opener[start] - 1
                continue
            if t[start].kind == "word" or text in (".", "->", "*", "::"):
                start -= 1
                continue
            break
        for j in range(start + 1, k + 1):
            before = t[j - 1].text if j > lo else ""
            if _is_word(t[j]) and before not in (".", "->", "::"):
                return [j]
        return []

    def _call_writes(self, k: int, lo: int, hi: int, scopes: list[dict[str, Decl]]) -> list[int]:
        """What a call at token ``k`` may write.

        That is the object of a method call, the first argument of a copy, and for other
        calls every argument that is not a number passed by value.
        """
        t = self.tokens
        if k > lo and t[k - 1].text in (".", "->"):
            return [] if t[k].text in READ_ONLY_METHODS else self._lvalue_base(k - 2, lo)
        callee = self._callee(k, lo)
        if callee in READ_ONLY_CALLS or callee.split("::")[-1] in READ_ONLY_CALLS:
            return []
        close = self.close.get(k + 1, hi)
        parts = _split_arguments(t, k + 2, close - 1, self.close)
        if FIRST_ARGUMENT_WRITES.match(callee):
            parts = parts[:1]
        bases = []
        for part in parts:
            addressed = any(t[j].text == "&" for j in part[:2])
            for j in part:
                follows = t[j + 1].text if j + 1 < len(t) else ""
                if not _is_word(t[j]) or follows in ("(", "::", "<<<"):
                    continue
                if j > 0 and t[j - 1].text in (".", "->"):
                    continue
                decl = self.resolve(t[j].text, scopes)
                if addressed or decl is None or not decl.scalar:
                    bases.append(j)
                break
        return bases


def _relational(texts: list[str]) -> bool:
    """Whether tokens compare: ``==``, ``!=``, ``<=``, ``>=``, ``<`` or ``>``.

    A ``<`` and ``>`` that bracket template arguments (``duration<double>``) do not.
    """
    index = 0
    while index < len(texts):
        text = texts[index]
        if text in ("==", "!=", "<=", ">="):
            return True
        if text == "<" and index > 0 and _WORD.fullmatch(texts[index - 1]):
            close = _template_close(texts, index)
            if close is not None:
                index = close + 1
                continue
        if text in ("<", ">"):
            return True
        index += 1
    return False


def _template_close(texts: list[str], open_index: int) -> int | None:
    """The ``>`` closing template arguments opened at ``open_index``, if they look like some."""
    for index in range(open_index + 1, min(open_index + 9, len(texts))):
        text = texts[index]
        if text in (">", ">>"):
            return index
        if not (_WORD.fullmatch(text) or text in ("::", "*", "&", ",") or text[0].isdigit()):
            return None
    return None
