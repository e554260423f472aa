"""Where each key of a campaign file stands, so that every problem names its line.

``parse_with_lines`` reads a YAML or TOML campaign file into plain data and a
map from each location (``("models", "judge")``, ``("apps", 2)``) to its line;
``problems_report`` turns validation problems into one message, each problem at
the line of the deepest part of its location that the file has. YAML gives
positions itself; TOML's ``tomllib`` does not, so a small scanner reads them
from the (already valid) text.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from lassi_ee.errors import UsageError

Loc = tuple[str | int, ...]


def parse_with_lines(file: Path, text: str) -> tuple[dict[str, Any], dict[Loc, int]]:
    """The file's data and the line of each location in it; a file that does not parse
    is a UsageError that says where."""
    if file.suffix.lower() == ".toml":
        return _parse_toml(file, text)
    return _parse_yaml(file, text)


def problems_report(file: Path, problems: list[tuple[Loc, str]], lines: dict[Loc, int]) -> str:
    """One message listing every problem, each with its line in the file where known."""
    located = sorted(
        ((_line_of(loc, lines), _loc_text(loc), message) for loc, message in problems),
        key=lambda item: item[0] or 0,
    )
    count = f"{len(located)} problem{'s' if len(located) != 1 else ''}"
    details = [
        f"  line {line}: {where}: {message}" if line else f"  {where}: {message}"
        for line, where, message in located
    ]
    return "\n".join([f"{file}: {count}; fix them and run again", *details])


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """The line of the deepest part of ``loc`` that the file has (a missing key: its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _loc_text(loc: Loc) -> str:
    """A location as a reader writes it: ``models.judge``, ``apps[2]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(file)"


def _parse_yaml(file: Path, text: str) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or error
        raise UsageError(f"{file}: not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{file}: expected a mapping of campaign keys (name, apps, devices, ...)")
    lines: dict[Loc, int] = {(): 1}
    _walk_yaml(root, (), lines)
    return raw, lines


def _walk_yaml(node: yaml.Node | None, path: Loc, lines: dict[Loc, int]) -> None:
    """Note the line of every key and item under ``node``, as PyYAML's marks give it."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _walk_yaml(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _walk_yaml(item, child, lines)


def _parse_toml(file: Path, text: str) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{file}: not valid TOML: {error}") from None
    return raw, toml_lines(text)


# --- TOML positions: tomllib gives none, so scan the (already valid) text ----------------
# No kept library serves: tomlkit keeps the text but exposes no positions, and a
# tree-sitter grammar would add two compiled dependencies for error messages alone.


class _TomlScanner:
    """Walks valid TOML text, noting the line of every table, key and array item."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Loc, int] = {(): 1}

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def advance(self, count: int = 1) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + count)
        self.pos += count

    def skip(self, newlines: bool) -> None:
        """Skip blanks and comments (and newlines, inside arrays)."""
        while self.pos < len(self.text):
            char = self.peek()
            if char in " \t\r" or (newlines and char == "\n"):
                self.advance()
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.advance((end if end >= 0 else len(self.text)) - self.pos)
            else:
                return

    def scan(self) -> dict[Loc, int]:
        table: Loc = ()
        while self.pos < len(self.text):
            self.skip(newlines=True)
            if self.pos >= len(self.text):
                break
            if self.peek() == "[":
                double = self.peek(2) == "[["
                self.advance(2 if double else 1)
                table = self.key_path("]")
                self.lines.setdefault(table, self.line)
                self.advance(2 if double else 1)
            else:
                path = (*table, *self.key_path("="))
                self.lines[path] = self.line
                self.advance()  # the '='
                self.value(path)
            end = self.text.find("\n", self.pos)
            self.advance((end if end >= 0 else len(self.text)) - self.pos)
        return self.lines

    def key_path(self, stop: str) -> Loc:
        """A dotted key (bare or quoted parts), up to ``stop``."""
        parts: list[str | int] = []
        while True:
            self.skip(newlines=False)
            char = self.peek()
            if char in "\"'":
                parts.append(self.string())
            else:
                match = re.compile(r"[A-Za-z0-9_-]+").match(self.text, self.pos)
                token = match.group() if match else ""
                parts.append(token)
                self.advance(len(token) or 1)
            self.skip(newlines=False)
            if self.peek() != ".":
                break
            self.advance()
        while self.pos < len(self.text) and self.peek() != stop:
            self.advance()
        return tuple(parts)

    def string(self) -> str:
        quote = self.peek(3) if self.peek(3) in ('"""', "'''") else self.peek()
        start = self.pos + len(quote)
        index = start
        while True:
            index = self.text.find(quote, index)
            if index < 0 or quote[0] == "'" or not _escaped(self.text, index):
                break
            index += 1
        end = index if index >= 0 else len(self.text)
        self.advance(end + len(quote) - self.pos)
        return self.text[start:end]

    def value(self, path: Loc) -> None:
        self.skip(newlines=False)
        char = self.peek()
        if char == "[":
            self.advance()
            index = 0
            while self.pos < len(self.text):
                self.skip(newlines=True)
                if self.peek() == "]":
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    continue
                self.lines[(*path, index)] = self.line
                self.value((*path, index))
                index += 1
        elif char == "{":
            self.advance()
            while self.pos < len(self.text):
                self.skip(newlines=False)
                if self.peek() == "}":
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    continue
                key = (*path, *self.key_path("="))
                self.lines[key] = self.line
                self.advance()
                self.value(key)
        elif char in "\"'":
            self.string()
        else:
            match = re.compile(r"[^,\]}\n#]*").match(self.text, self.pos)
            self.advance(len(match.group()) if match else 1)


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def toml_lines(text: str) -> dict[Loc, int]:
    """Line of every table, key and array item in valid TOML text, keyed by its path."""
    return _TomlScanner(text).scan()
