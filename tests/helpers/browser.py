"""Open an HTML file in headless Chromium (Debian's `chromium` package): its DOM after
load, and a screenshot; and the check that a report's plots rendered."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

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


def assert_rendered(dom: str, screenshot: Path, plots: int) -> None:
    """Each of the ``plots`` plots decoded in the browser (the page's script marks them), and
    the screenshot shows a page with text, tables and coloured plots, not a blank one."""
    tags = re.findall(r'<img class="plot"[^>]*>', dom)
    assert len(tags) == plots
    assert all('data-rendered="yes"' in tag for tag in tags), tags
    assert f'data-plots-rendered="{plots}/{plots}"' in dom
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1280, 4000)
    colors = image.getcolors(maxcolors=1280 * 4000)  # [(count, (r, g, b)), ...]
    assert colors is not None
    not_white = sum(count for count, rgb in colors if min(rgb) < 235)
    assert not_white > 0.03 * 1280 * 4000  # text, tables and plots, not an empty page
    assert len(colors) > 50  # the plots' colours, not a single-colour page
