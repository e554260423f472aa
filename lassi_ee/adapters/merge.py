"""Present a multi-file app to the LLM as one source, as the paper did.

The compile units are concatenated in order, and every ``#include "..."`` that
names one of the app's own files is replaced by that file's text the first time
and dropped after that, so each file appears once. System includes and quoted
includes that do not resolve inside the app stay as they are. The result is a
single self-contained translation unit: it builds with the plain compiler line,
and a refactored version of it replaces it whole.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from lassi_ee.errors import UsageError

_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
_PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\b")


class MergedSource(BaseModel):
    text: str
    files: list[str] = Field(description="files merged, in order, relative to the root")
    unresolved: list[str] = Field(
        default_factory=list, description="quoted #include names not found in the app, kept as is"
    )


def with_variant(path: Path, variant_suffix: str | None) -> Path:
    """``x.h.Cuda`` in place of ``x.h`` where the app keeps per-model variants that way."""
    if variant_suffix:
        variant = path.with_name(path.name + variant_suffix)
        if variant.is_file():
            return variant
    return path


def resolve_include(
    name: str,
    including: Path,
    root: Path,
    include_dirs: list[Path],
    variant_suffix: str | None = None,
) -> Path | None:
    """The app file a quoted include names: beside the includer first, then the -I dirs."""
    for base in (including.parent, *include_dirs):
        candidate = with_variant((base / name).resolve(), variant_suffix)
        if candidate.is_file() and candidate.is_relative_to(root):
            return candidate
    return None


def local_includes(
    sources: list[Path], root: Path, include_dirs: list[Path] | None = None
) -> list[Path]:
    """Every app file the sources include, directly or not, in first-seen order."""
    units = [path.resolve() for path in sources]
    seen: list[Path] = []
    pending = list(units)
    while pending:
        path = pending.pop(0)
        for line in path.read_text(errors="replace").splitlines():
            match = _INCLUDE.match(line)
            if not match:
                continue
            target = resolve_include(match.group(1), path, root.resolve(), include_dirs or [])
            if target is not None and target not in seen and target not in units:
                seen.append(target)
                pending.append(target)
    return seen


def merge_sources(
    root: Path,
    units: list[str],
    include_dirs: list[str] | None = None,
    variant_suffix: str | None = None,
) -> MergedSource:
    """Merge the compile units (paths relative to root) into one source text."""
    root = root.resolve()
    search = [(root / name).resolve() for name in include_dirs or []]
    merged: set[Path] = set()
    lines: list[str] = []
    files: list[str] = []
    unresolved: list[str] = []

    def emit(path: Path) -> None:
        merged.add(path)
        relative = str(path.relative_to(root))
        files.append(relative)
        lines.append(f"// ===== merged by lassi-ee from {relative} =====")
        for line in path.read_text(errors="replace").splitlines():
            if _PRAGMA_ONCE.match(line):
                continue
            match = _INCLUDE.match(line)
            if not match:
                lines.append(line)
                continue
            target = resolve_include(match.group(1), path, root, search, variant_suffix)
            if target is None:
                if match.group(1) not in unresolved:
                    unresolved.append(match.group(1))
                lines.append(line)
            elif target in merged:
                lines.append(f"// (already merged above: {match.group(1)})")
            else:
                emit(target)

    for unit in units:
        path = with_variant((root / unit).resolve(), variant_suffix)
        if not path.is_file():
            raise UsageError(f"{root}: expected the source file {unit}, which is missing")
        if path not in merged:
            emit(path)
    return MergedSource(text="\n".join(lines) + "\n", files=files, unresolved=unresolved)
