"""Reading what a model answered: code blocks, verdicts, categories.

Models wrap programs in fenced blocks with or without a language tag, add
prose around them, sometimes give several blocks (a snippet, then the whole
program), get cut off by the length limit, or give no code at all. The
functions here find the program or say there is none; the client decides to
continue or re-ask. The judge's and categorizer's plain-text parsers serve
servers without structured output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, ValidationError

Category = Literal["MHO", "ACE", "DST", "PTM"]
CATEGORY_NAMES: dict[Category, str] = {
    "MHO": "memory hierarchy optimization",
    "ACE": "algorithmic and computational efficiency",
    "DST": "device-specific tuning",
    "PTM": "parallelism and thread management",
}


class JudgeDecision(BaseModel):
    """The judge's answer (the schema asked for with structured output)."""

    verdict: Literal["VALID", "INVALID"] = Field(
        description="VALID if the refactored program is functionally equivalent, else INVALID"
    )
    reasons: list[str] = Field(description="short reasons for the verdict, one per item")


class CategorizedOptimization(BaseModel):
    optimization: str = Field(description="the optimization, in a few words")
    category: Category = Field(
        description="MHO memory hierarchy, ACE algorithmic/computational efficiency, "
        "DST device-specific tuning, PTM parallelism/thread management"
    )
    rationale: str = Field("", description="why it belongs to that category")


class Categorization(BaseModel):
    """The categorizer's answer (the schema asked for with structured output)."""

    items: list[CategorizedOptimization] = Field(
        description="every optimization named in the report, each with its category"
    )


@dataclass(frozen=True)
class CodeBlock:
    lang: str
    code: str
    closed: bool  # False when the reply ended inside the block


_FENCE_OPEN = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)[^`]*$")
_NOT_PROGRAM_LANGS = {
    "bash", "sh", "shell", "console", "zsh", "text", "txt", "plaintext", "output",
    "makefile", "make", "cmake", "json", "yaml", "yml", "toml", "diff", "patch",
    "python", "py", "markdown", "md",
}  # fmt: skip
_MAIN = re.compile(r"\bmain\s*\(")
_CODE_START = re.compile(r"^\s*(#\s*(include|define|pragma|if)|//|/\*)")


def _lines(text: str) -> list[str]:
    """Lines split on newlines only: str.splitlines also splits on characters code may hold."""
    return re.split(r"\r?\n", text)


def code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block of a reply, in order, the last possibly unclosed."""
    blocks: list[CodeBlock] = []
    lines = _lines(text)
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group("fence")
        lang = opening.group("lang").lower()
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                closed = True
                i += 1
                break
            body.append(lines[i])
            i += 1
        blocks.append(CodeBlock(lang=lang, code="\n".join(body).strip("\n"), closed=closed))
    return blocks


def has_main(code: str) -> bool:
    return bool(_MAIN.search(code))


def extract_code(text: str, *, require_main: bool = False) -> str | None:
    """The complete program in a reply, or None.

    Among the program blocks (any tag but shell, output, build files ...), one
    with ``main`` wins over snippets, then the longest. A reply with no fence
    that is code from its first line (``#include``, a comment) counts as one
    block. With ``require_main`` a block without ``main`` is not a program.
    """
    blocks = [b for b in code_blocks(text) if b.lang not in _NOT_PROGRAM_LANGS and b.code.strip()]
    if (
        not blocks
        and _CODE_START.match(_first_line(text))
        and not any(_FENCE_OPEN.match(line) for line in _lines(text))
    ):
        blocks = [CodeBlock(lang="", code=text.strip("\n"), closed=True)]
    if require_main:
        blocks = [b for b in blocks if has_main(b.code)]
    if not blocks:
        return None
    best = max(blocks, key=lambda b: (has_main(b.code), len(b.code)))
    return best.code + "\n"


def ends_inside_block(text: str) -> bool:
    blocks = code_blocks(text)
    return bool(blocks) and not blocks[-1].closed


def is_cut_off(message: BaseMessage) -> bool:
    """Whether the server stopped the reply at the output length limit."""
    metadata = message.response_metadata or {}
    reason = (
        metadata.get("finish_reason") or metadata.get("stop_reason") or metadata.get("done_reason")
    )
    return str(reason).lower() in ("length", "max_tokens")


def join_continuation(partial: str, more: str) -> str:
    """A cut-off reply followed by its continuation.

    Models often reopen the code fence they were inside; that repeated opening
    line is dropped so the program stays in one block. Some instead start the
    program again from its first line, in a new block, at once or after a line of
    prose (Qwen2.5-Coder-0.5B did both, on the H100 and the H200): then the new block
    replaces the cut-off one, which would otherwise hold the program's start twice, or
    run into the prose, and fail to compile for a fault of ours, not the model's.
    """
    if not ends_inside_block(partial):
        return partial + more
    before, cut_block = _split_last_block(partial)
    begun_again = _program_begun_again(more, _first_line(cut_block))
    if begun_again is not None:
        return before + begun_again
    first, _, rest = more.lstrip("\n").partition("\n")
    tagged = bool(first.strip().strip("`~"))
    # a bare fence may instead close the block: it reopens only if another fence follows
    reopens = _FENCE_OPEN.match(first) and (
        tagged or any(_FENCE_OPEN.match(line) for line in _lines(rest))
    )
    return partial + rest if reopens else partial + more


def _program_begun_again(more: str, first_line: str) -> str | None:
    """A continuation's text from the fence of a block that starts with the cut-off
    block's first line, or None: what came before that fence (prose, or the end of the
    cut-off program closed) is dropped."""
    if not first_line:
        return None
    lines = _lines(more)
    for i, line in enumerate(lines):
        if _FENCE_OPEN.match(line) and _first_line("\n".join(lines[i + 1 :])) == first_line:
            return "\n".join(lines[i:])
    return None


def _split_last_block(text: str) -> tuple[str, str]:
    """A reply that ends inside a block: the text before its opening fence, and the
    block's lines after it. The last fence line is that opening: a closing fence would
    have ended the block."""
    lines = _lines(text)
    opening = max(i for i, line in enumerate(lines) if _FENCE_OPEN.match(line))
    return "\n".join(lines[:opening]) + "\n", "\n".join(lines[opening + 1 :])


def _first_line(text: str) -> str:
    """The first line that is not blank, stripped."""
    return next((line.strip() for line in _lines(text) if line.strip()), "")


def _json_object(text: str) -> object | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None


_VERDICT_TOKEN = re.compile(r"\b(INVALID|VALID)\b", re.IGNORECASE)
_REASONS_HEADER = re.compile(r"^\W*reasons?\W*:\s*(?P<rest>.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(?P<item>.+)$")
_BARE_VERDICT = re.compile(r"^\W*(?:INVALID|VALID)\W*$", re.IGNORECASE)


def parse_judge_text(text: str) -> JudgeDecision | None:
    """A verdict from a plain-text (or JSON-as-text) judge reply, or None if there is none.

    A line naming the verdict (``VERDICT: INVALID``, ``**Verdict:** valid``)
    decides, the last one winning; without one, the reply must use only one of
    the upper-case words VALID / INVALID.
    """
    data = _json_object(text)
    if isinstance(data, dict):
        data = {str(k).lower(): v for k, v in data.items()}
        if isinstance(data.get("verdict"), str):
            data["verdict"] = data["verdict"].strip().upper()
        try:
            return JudgeDecision.model_validate(data)
        except ValidationError:
            pass

    lines = text.splitlines()
    verdict: str | None = None
    for line in lines:
        if "verdict" in line.lower():
            tokens = {t.upper() for t in _VERDICT_TOKEN.findall(line)}
            if len(tokens) == 1:
                verdict = tokens.pop()
    if verdict is None:
        tokens = set(re.findall(r"\b(INVALID|VALID)\b", text))
        if len(tokens) != 1:
            return None
        verdict = tokens.pop()

    reasons: list[str] = []
    after_header = False
    for line in lines:
        header = _REASONS_HEADER.match(line)
        if header:
            after_header = True
            if header.group("rest").strip():
                reasons.append(header.group("rest").strip())
            continue
        bullet = _BULLET.match(line)
        if bullet and (after_header or "verdict" not in line.lower()):
            reasons.append(bullet.group("item").strip())
    if not reasons:  # the prose, less the verdict word alone and an empty REASONS:
        prose = [
            ln.strip()
            for ln in lines
            if ln.strip()
            and "verdict" not in ln.lower()
            and not _BARE_VERDICT.match(ln)
            and not _REASONS_HEADER.match(ln)
        ]
        reasons = [" ".join(prose)[:500]] if prose else []
    return JudgeDecision(verdict=verdict, reasons=reasons)


_CATEGORY_LINE = re.compile(
    r"^\s*(?:[-*•]|\d+[.)])?\s*\**\[?(?P<cat>MHO|ACE|DST|PTM)\]?\**\s*[|:\-–—]\s*(?P<rest>.+)$"
)


def parse_categories_text(text: str) -> list[CategorizedOptimization] | None:
    """Categorized optimizations from a plain-text reply; [] for NONE, None if unreadable."""
    data = _json_object(text)
    if isinstance(data, dict):
        try:
            return Categorization.model_validate(data).items
        except ValidationError:
            pass
    items: list[CategorizedOptimization] = []
    for line in text.splitlines():
        match = _CATEGORY_LINE.match(line)
        if not match:
            continue
        optimization, _, rationale = match.group("rest").partition("|")
        items.append(
            CategorizedOptimization(
                optimization=optimization.strip(" *"),
                category=match.group("cat"),
                rationale=rationale.strip(" *"),
            )
        )
    if items:
        return items
    if text.strip().strip(".*").upper() == "NONE":
        return []
    return None
