"""Fixtures for whole-trial tests: an app on disk, fast measurement settings, a
scripted model per role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trial_programs import SOURCE

from lassi_ee.llm.fake import RoleScriptedChatModel

TEXT_ROLES = {
    "summarize_docs": "Use fewer instructions; avoid busy waiting.",
    "analyze_code": "The loop spins longer than needed.",
    "plan": "1. Shorten the spin loop.",
    "compare": "The best version spins for a shorter time (ACE).",
}


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "spin.cpp"
    path.write_text(SOURCE)
    return path


@pytest.fixture
def trial_settings(settings):
    """Short measurement windows: time is the objective on this CI machine."""
    return settings.model_copy(
        update={"repeats": 2, "min_window_s": 0.3, "cache_dir": settings.runs_dir / "cache"}
    )


def scripted(**scripts: Any) -> RoleScriptedChatModel:
    """A model answering every role: the text roles by default, the rest from ``scripts``."""
    roles: dict[str, Any] = {role: [text] * 20 for role, text in TEXT_ROLES.items()}
    roles.update(scripts)
    return RoleScriptedChatModel(scripts=roles)
