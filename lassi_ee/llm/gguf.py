"""What a GGUF model file says about itself, read before a server is asked to load it.

A local model comes as one GGUF file (llama.cpp's format). Reading its header first turns
the usual ways it goes wrong (a path that is no file, a download cut short, a file that is
something else, parts joined in the wrong order) into one line that says what to do,
instead of a server that dies with a stack trace or, worse, loads garbage. Only the
metadata is read; the tensors are not touched.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lassi_ee.errors import UsageError

GGUF_MAGIC = b"GGUF"

# llama.cpp's llama_ftype values of the files users meet most (general.file_type).
_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}  # fmt: skip

# GGUF value types: fixed-size ones by struct format; 8 is a string, 9 an array.
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
    11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_MAX_STRING = 1 << 24  # a longer metadata string means a damaged header, not a long name


class _Truncated(Exception):
    """The header ends before its own counts say it does."""


@dataclass(frozen=True)
class GGUFInfo:
    """The facts of a GGUF file that decide whether and how to serve it."""

    path: Path
    size_bytes: int
    version: int
    tensor_count: int
    name: str | None
    architecture: str | None
    context_length: int | None
    file_type: str | None
    has_chat_template: bool

    def summary(self) -> str:
        """One line: what the file is, for logs and the start of a server."""
        parts = [
            self.name or "unnamed model",
            f"architecture {self.architecture or 'unknown'}",
            self.file_type or "unknown quantization",
            f"context {self.context_length or 'unknown'} tokens",
            f"{self.size_bytes / 1e6:.0f} MB",
        ]
        return ", ".join(parts)


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise _Truncated()
    return data


def _string(stream: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(stream, 8))
    if length > _MAX_STRING:
        raise _Truncated()
    return _read(stream, length).decode("utf-8", "replace")


def _value(stream: BinaryIO, kind: int, keep: bool) -> Any:
    """One metadata value; arrays (the tokenizer's vocabulary) are skipped, not kept."""
    if kind == _STRING:
        return _string(stream)
    if kind == _ARRAY:
        item_kind, count = struct.unpack("<IQ", _read(stream, 12))
        if item_kind in _SCALARS:
            _read(stream, struct.calcsize(_SCALARS[item_kind]) * count)
        else:
            for _ in range(count):
                _value(stream, item_kind, keep=False)
        return None
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise ValueError(f"unknown metadata value type {kind}")
    (value,) = struct.unpack(fmt, _read(stream, struct.calcsize(fmt)))
    return value if keep else None


def read_gguf(path: Path) -> GGUFInfo:
    """The header of the GGUF file at ``path``; a UsageError naming the problem otherwise."""
    if not path.is_file():
        raise UsageError(
            f"model file {path} does not exist: give the path of a .gguf file "
            "(or run `make local-llm` to fetch the project's small model)"
        )
    size = path.stat().st_size
    with path.open("rb") as stream:
        if stream.read(4) != GGUF_MAGIC:
            raise UsageError(
                f"{path} is not a GGUF model file (it does not start with 'GGUF'): "
                "give a llama.cpp .gguf file, or fetch it again"
            )
        try:
            version, tensor_count, kv_count = struct.unpack("<IQQ", _read(stream, 20))
            metadata: dict[str, Any] = {}
            for _ in range(kv_count):
                key = _string(stream)
                (kind,) = struct.unpack("<I", _read(stream, 4))
                metadata[key] = _value(stream, kind, keep=True)
        except (_Truncated, ValueError, struct.error):
            raise UsageError(
                f"{path} is a damaged GGUF file (its header ends early or does not parse, "
                f"{size} bytes): fetch or assemble it again"
            ) from None
    architecture = metadata.get("general.architecture")
    file_type = metadata.get("general.file_type")
    return GGUFInfo(
        path=path,
        size_bytes=size,
        version=version,
        tensor_count=tensor_count,
        name=metadata.get("general.name"),
        architecture=architecture,
        context_length=metadata.get(f"{architecture}.context_length") if architecture else None,
        file_type=_FILE_TYPES.get(file_type, str(file_type)) if file_type is not None else None,
        has_chat_template=isinstance(metadata.get("tokenizer.chat_template"), str),
    )


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read in 8 MiB blocks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_gguf(path: Path, sha256: str | None = None) -> GGUFInfo:
    """The file's header, after checking its SHA-256 when one is pinned.

    A file whose hash differs is refused before it is parsed: a pinned file that changed
    was cut short, joined wrongly or replaced.
    """
    if sha256 is not None and path.is_file():
        found = sha256_of(path)
        if found != sha256.lower():
            raise UsageError(
                f"{path} has sha256 {found}, not the pinned {sha256.lower()}: the file is "
                "incomplete or another one; delete it and fetch it again"
            )
    return read_gguf(path)
