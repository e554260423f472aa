"""Whether two versions are the same program, comments and layout aside.

An LLM often hands back the program it was given, re-indented or with a new
comment. Building, running and measuring it again costs device time and, worse,
invites a false claim: two measurements of one program differ by more than
their spread. So a version whose text, after dropping comments and whitespace,
equals an earlier version's is recorded as ``unchanged`` and never measured.

Dropping whitespace keeps what the compiler sees apart: string and character
literals are kept verbatim, a single space stays between two word characters
(``int x`` is not ``intx``), and each preprocessor line keeps its end.
"""

from __future__ import annotations


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def normalized(code: str) -> str:
    """The program's text without comments and without layout whitespace."""
    out: list[str] = []
    pending_space = False
    in_directive = False
    line_start = True
    i, n = 0, len(code)

    def emit(text: str) -> None:
        nonlocal pending_space, line_start
        if pending_space and out and _is_word(out[-1][-1]) and _is_word(text[0]):
            out.append(" ")
        pending_space = False
        line_start = False
        out.append(text)

    while i < n:
        char = code[i]
        two = code[i : i + 2]
        if two == "//":
            end = code.find("\n", i)
            i = n if end < 0 else end
            continue
        if two == "/*":
            end = code.find("*/", i + 2)
            i = n if end < 0 else end + 2
            pending_space = True
            continue
        if two == "\\\n":  # a line continuation is layout
            i += 2
            pending_space = True
            continue
        if char == "\n":
            if in_directive:
                out.append("\n")
                in_directive = False
                pending_space = False
            else:
                pending_space = True
            line_start = True
            i += 1
            continue
        if char.isspace():
            pending_space = True
            i += 1
            continue
        if char == "#" and line_start:
            in_directive = True
        if two == 'R"':
            open_paren = code.find("(", i + 2)
            if open_paren >= 0:
                delimiter = code[i + 2 : open_paren]
                close = code.find(f'){delimiter}"', open_paren)
                end = n if close < 0 else close + len(delimiter) + 2
                emit(code[i:end])
                i = end
                continue
        if char in "\"'":
            j = i + 1
            while j < n and code[j] != char and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            emit(code[i : j + 1])
            i = j + 1
            continue
        emit(char)
        i += 1
    return "".join(out).strip()


def same_program(a: str, b: str) -> bool:
    """True when two texts differ only in comments and layout."""
    return normalized(a) == normalized(b)
