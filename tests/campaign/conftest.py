"""Fixtures of the campaign tests: two tiny apps on disk and a campaign file that runs
them on the cpu device with scripted models and short measurements."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lassi_ee.settings import Settings
from tests.helpers.campaign_models import FACTORY_REF
from tests.helpers.campaign_programs import APPS, variants


@pytest.fixture
def apps_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "apps"
    folder.mkdir()
    for app in APPS:
        (folder / f"{app}.cpp").write_text(variants(app)["source"])
    return folder


@pytest.fixture
def fast_settings(settings: Settings) -> dict[str, Any]:
    """Settings overrides for a campaign file: scratch space outside the apps, short
    measurement windows, two Stage-3 iterations."""
    return {
        "work_root": str(settings.work_root),
        "lock_dir": str(settings.lock_dir),
        "run_timeout_s": 60,
        "compile_timeout_s": 120,
        "repeats": 2,
        "min_window_s": 0.1,
        "max_iterations": 2,
    }


@pytest.fixture
def write_campaign(
    tmp_path: Path, apps_dir: Path, fast_settings: dict[str, Any]
) -> Callable[..., Path]:
    """Write a YAML campaign beside the apps folder; keyword arguments replace keys."""

    def write(**keys: Any) -> Path:
        spec: dict[str, Any] = {
            "name": "smoke",
            "apps": ["apps/*.cpp"],
            "devices": ["cpu"],
            "trials": 4,
            "ks": [1, 2, 4],
            "models_factory": FACTORY_REF,
            "settings": fast_settings,
        }
        spec.update(keys)
        path = tmp_path / "campaign.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write
