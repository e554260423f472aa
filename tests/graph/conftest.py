"""Fixtures for whole-trial tests: an app on disk, fast measurement settings, a
scripted model per role."""

from __future__ import annotations

from pathlib import Path

import pytest
from trial_programs import SOURCE


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
