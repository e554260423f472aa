"""Fixtures of the hardening tests: short trials on the cpu device, isolated from the
machine's LASSI_* settings, reusing the whole-trial programs (tests.helpers.trial_programs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lassi_ee.settings import Settings
from tests.helpers.trial_programs import SOURCE


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    """The source in a folder of its own: the compile tool copies the source's folder."""
    folder = tmp_path / "src"
    folder.mkdir()
    path = folder / "spin.cpp"
    path.write_text(SOURCE)
    return path


@pytest.fixture
def trial_settings(settings: Settings) -> Settings:
    """One Stage-3 iteration, short measurement windows, a 3 s run timeout. A gain must
    be 20 %: scripted improvements are 70 % or more (see tests/graph/conftest.py)."""
    return settings.model_copy(
        update={
            "repeats": 2,
            "min_window_s": 0.1,
            "min_energy_gain": 0.2,
            "max_iterations": 1,
            "run_timeout_s": 3,
            "cache_dir": settings.runs_dir.parent / "cache",
        }
    )
