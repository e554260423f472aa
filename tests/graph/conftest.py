"""Fixtures for whole-trial tests: an app on disk, fast measurement settings, a
scripted model per role."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.trial_programs import SOURCE


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "spin.cpp"
    path.write_text(SOURCE)
    return path


@pytest.fixture
def trial_settings(settings):
    """Short measurement windows: time is the objective on this CI machine. A gain must
    be 20 %: the scripted improvements are 70 % or more, and a busy 2-core machine
    can make the same program look a few percent faster."""
    return settings.model_copy(
        update={
            "repeats": 2,
            "min_window_s": 0.1,
            "min_energy_gain": 0.2,
            "cache_dir": settings.runs_dir / "cache",
        }
    )
