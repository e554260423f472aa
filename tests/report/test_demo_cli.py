"""`lassi-ee demo` end to end on the cpu device: real compiles, runs and measurements, the
scripted model, its report opened in headless Chromium. The demo runs once per session
(conftest.py); these tests read what it printed and left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lassi_ee.cli import main
from lassi_ee.demo.runner import REAL_COMMAND, demo_app_dir
from lassi_ee.devices import Device
from lassi_ee.errors import UsageError
from tests.helpers.browser import open_page


def report_page(printed: str) -> Path:
    return Path(re.search(r"^report: +(\S+)", printed, re.M).group(1))


@pytest.mark.trial
def test_demo_runs_a_whole_trial_and_says_it_is_scripted(finished_trial, capsys):
    out = finished_trial.printed
    assert out.startswith("lassi-ee demo: the LLM replies are SCRIPTED (a demo model, not an LLM)")
    steps = (
        "stage 0: source",
        "fix_compile: wrote",
        "check: on check_args[0] (64 40): outputs differ",  # the hard-coded version
        "static guard hard-coded results",
        "judge: VALID",
        "fix_runtime: wrote",
    )
    for step in steps:
        assert step in out
    assert "This was a scripted demo: every LLM reply came from lassi-ee's scripted demo" in out
    report = report_page(out)
    assert report.is_file() and report.is_relative_to("runs/demo")
    assert "checkpoints: runs/demo/checkpoints.sqlite" in out
    assert (finished_trial.folder / "runs/demo/checkpoints.sqlite").is_file()
    assert out.rstrip().splitlines()[-2] == f"  {REAL_COMMAND}"

    thread_id = report.parent.name
    assert main(["--checkpoints", "runs/demo/checkpoints.sqlite", "trials"]) == 0
    assert thread_id in capsys.readouterr().out


@pytest.mark.trial
@pytest.mark.browser
def test_the_demos_report_renders_in_chromium(finished_trial, tmp_path):
    dom, _ = open_page(report_page(finished_trial.printed), tmp_path)
    assert "Scripted demo." in dom and 'data-plots-rendered="2/2"' in dom


def test_demo_has_no_version_for_amd_gpus():
    rocm = Device(spec="rocm:0", kind="rocm", name="AMD Instinct MI250X", arch="gfx90a")
    with pytest.raises(UsageError, match="use --device cpu or --device cuda:0"):
        demo_app_dir(rocm)
