"""Scratch folders that sandboxed programs can reach."""

from __future__ import annotations

import tempfile
from pathlib import Path


def sandbox_work_dir() -> Path:
    """A fresh folder under /tmp, where the sandbox's unprivileged user can reach it
    (pytest's own tmp folders are private to root). Unique, so two test sessions on one
    machine never share (or delete) each other's work."""
    work = Path(tempfile.mkdtemp(prefix="lassi-test-", dir="/tmp"))
    work.chmod(0o755)
    return work
