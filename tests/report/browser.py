"""Open an HTML file in headless Chromium (Debian's `chromium` package): its DOM after
load, and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("headless Chromium is not installed: apt-get install -y chromium")
    return path


def open_page(page: Path, scratch: Path) -> tuple[str, Path]:
    """(the DOM once the page has loaded, a 1280 x 4000 screenshot)."""
    browser = chromium()
    common = [browser, *FLAGS, f"--user-data-dir={scratch / 'profile'}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    screenshot = scratch / "page.png"
    subprocess.run(
        [*common, f"--screenshot={screenshot}", "--window-size=1280,4000", page.resolve().as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dom, screenshot
