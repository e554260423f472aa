"""Trial reports opened in headless Chromium: every plot decodes and the page is not blank."""

from __future__ import annotations

from typing import cast

import pytest

from lassi_ee.report.files import report_trial, write_trial_report
from lassi_ee.report.trial import trial_report_from_state
from lassi_ee.state import TrialState
from tests.helpers.browser import assert_rendered, open_page
from tests.helpers.report_states import trial_state, with_energy

pytestmark = [pytest.mark.trial, pytest.mark.browser]


def test_runtime_report_renders_in_chromium(finished_trial, tmp_path):
    files = report_trial(finished_trial.result.thread_id, finished_trial.settings, tmp_path)
    dom, screenshot = open_page(files.html, tmp_path)
    assert "Scripted demo." in dom
    assert_rendered(dom, screenshot, plots=2)


def test_energy_report_renders_in_chromium(finished_trial, tmp_path):
    state = with_energy(trial_state(finished_trial), finished_trial.settings, tmp_path / "tl")
    report = trial_report_from_state("energy-trial", cast(TrialState, state), finished=True)
    files = write_trial_report(report, tmp_path / "out")
    dom, screenshot = open_page(files.html, tmp_path)
    assert "<h2>Power timeline</h2>" in dom
    assert_rendered(dom, screenshot, plots=2)
