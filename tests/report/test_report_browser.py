"""Trial reports opened in headless Chromium: every plot decodes and the page is not blank."""

from __future__ import annotations

import re
from typing import cast

from browser import open_page
from PIL import Image
from report_states import trial_state, with_energy

from lassi_ee.report.files import report_trial, write_trial_report
from lassi_ee.report.trial import trial_report_from_state
from lassi_ee.state import TrialState


def assert_rendered(dom: str, screenshot) -> None:
    plots = re.findall(r'<img class="plot"[^>]*>', dom)
    assert len(plots) == 2
    assert all('data-rendered="yes"' in tag for tag in plots), plots
    assert 'data-plots-rendered="2/2"' in dom
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1280, 4000)
    colors = image.getcolors(maxcolors=1280 * 4000)  # [(count, (r, g, b)), ...]
    not_white = sum(count for count, rgb in colors if min(rgb) < 235)
    assert not_white > 0.03 * 1280 * 4000  # text, tables and plots, not an empty page
    assert len(colors) > 50  # the plots' colours, not a single-colour page


def test_runtime_report_renders_in_chromium(finished_trial, tmp_path):
    files = report_trial(finished_trial.result.thread_id, finished_trial.settings, tmp_path)
    dom, screenshot = open_page(files.html, tmp_path)
    assert "Scripted demo." in dom
    assert_rendered(dom, screenshot)


def test_energy_report_renders_in_chromium(finished_trial, tmp_path):
    state = with_energy(trial_state(finished_trial), finished_trial.settings, tmp_path / "tl")
    report = trial_report_from_state("energy-trial", cast(TrialState, state), finished=True)
    files = write_trial_report(report, tmp_path / "out")
    dom, screenshot = open_page(files.html, tmp_path)
    assert "<h2>Power timeline</h2>" in dom
    assert_rendered(dom, screenshot)
