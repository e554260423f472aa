"""The trial report, built from a finished trial of the demo program (see conftest.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import cast

import pytest

from lassi_ee.cli import main
from lassi_ee.errors import UsageError
from lassi_ee.llm.demo import SCRIPTED_MARK
from lassi_ee.llm.usage import Usage
from lassi_ee.report.files import report_trial, write_trial_report
from lassi_ee.report.trial import is_scripted, load_trial_report, trial_report_from_state
from lassi_ee.state import TrialState
from lassi_ee.tools.check import GuardFinding
from lassi_ee.tools.hotspots import KERNEL_TABLE_HEAD, Hotspots
from lassi_ee.tools.ncu import parse_csv, summarize
from tests.helpers.report_states import trial_state, with_energy

pytestmark = pytest.mark.trial


def test_report_tells_the_whole_story(finished_trial):
    report = load_trial_report(finished_trial.result.thread_id, finished_trial.settings)
    rows = report.versions
    assert [row.version for row in rows] == list(range(1, len(rows) + 1))
    # what the scripted replies decide; which valid version measured lowest is the machine's call
    outcomes = {row.outcome for row in rows}
    assert {"compile_failed", "improved", "invalid", "run_failed", "not_lower"} <= outcomes
    unbuildable = next(row for row in rows if row.outcome == "compile_failed")
    assert "make_coefficients" in unbuildable.problem and unbuildable.verdict is None
    crashed = next(row for row in rows if row.outcome == "run_failed")
    assert crashed.problem == "run failed: killed by SIGABRT"
    rejected = next(row for row in rows if row.outcome == "invalid")  # the hard-coded one
    assert rejected.verdict == "INVALID" and rejected.verdict_by == "check"
    assert rejected.reasons[0].startswith("on check_args[0] (64 40): outputs differ")
    assert rejected.reasons[1].startswith("hard-coded results: its code holds 1.022801e+07")
    assert rejected.check == "mismatch on 2 input(s)"
    assert not any("one input only" in warning for warning in report.check_warnings)
    assert [row.version for row in rows if row.is_best] == [report.result.best_version]
    assert report.best_code is not None and "make_coefficients" in report.best_code
    assert report.result.stop_reason
    assert report.scripted
    assert len(report.plans) >= 2 and report.comparison
    assert [view.label for view in report.timelines] == [
        "source",
        f"best v{report.result.best_version}",
    ]
    assert all(view.timeline is not None for view in report.timelines)
    if report.result.objective == "runtime":
        assert report.sensor_note is not None and "No energy sensor" in report.sensor_note
        assert all(not view.timeline.samples for view in report.timelines)


def test_html_page_is_self_contained_and_complete(finished_trial, tmp_path):
    files = report_trial(finished_trial.result.thread_id, finished_trial.settings, tmp_path)
    html = files.html.read_text()
    result = finished_trial.result
    assert html.count('<img class="plot"') == 2
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere
    assert "<link" not in html
    assert "Scripted demo." in html
    assert 'class="diff"' in html and "make_coefficients" in html
    assert "Plan 2" in html and "INVALID (check)" in html and "VALID (judge)" in html
    assert f"<td class='num'>{result.usage.calls}</td>" in html  # the total row
    if result.objective == "runtime":
        assert "No energy sensor" in html
        assert "Measurement timeline (no power sensor)" in html
    for plot in files.plots:
        assert ElementTree.parse(plot).getroot().tag.endswith("svg")


def test_markdown_twin_has_the_same_sections(finished_trial, tmp_path):
    files = report_trial(finished_trial.result.thread_id, finished_trial.settings, tmp_path)
    text = files.markdown.read_text()
    for heading in (
        "## Outcome at a glance",
        "## Every version",
        "## Versions, verdicts and reasons",
        "## Best version against the source",
        "## Refactoring plans",
        "## Comparison analysis",
        "## Tokens and cost",
    ):
        assert heading in text
    assert "(report-timeline.svg)" in text and "(report-versions.svg)" in text
    assert "```diff" in text and "+static std::vector<double> make_coefficients" in text
    assert "**Scripted demo.**" in text
    report = load_trial_report(finished_trial.result.thread_id, finished_trial.settings)
    assert f"| {report.best_label} ★ best |" in text
    evidence = report.result.evidence  # what the claim rests on, beside the claim
    assert evidence and f"Stage 4's re-measurement: {evidence}." in text


def test_energy_report_plots_power_idle_and_windows(finished_trial, tmp_path):
    state = with_energy(trial_state(finished_trial), finished_trial.settings, tmp_path / "tl")
    report = trial_report_from_state("energy-trial", cast(TrialState, state), finished=True)
    assert report.sensor_note is None
    assert all(view.timeline is not None and view.timeline.samples for view in report.timelines)
    files = write_trial_report(report, tmp_path / "out")
    timeline_svg = files.plots[0].read_text()
    assert "power (W)" in timeline_svg
    best = f"best v{report.result.best_version}"
    idle = report.timelines[0].timeline.idle_power_w
    assert f"source: idle {idle:.1f} W" in timeline_svg
    assert f"{best}: measured windows" in timeline_svg and f"{best}: power" in timeline_svg
    html = files.html.read_text()
    assert "No energy sensor" not in html and "<h2>Power timeline</h2>" in html
    energy_row = re.search(r"<th>energy per run \(net of idle\)</th>(.*?)</tr>", html).group(1)
    assert re.findall(r"[\d.]+ J", energy_row) and "\u2212" in energy_row  # lower than the source
    assert "average power" in html and " W</td>" in html


def test_report_of_a_trial_that_beat_nothing(finished_trial, tmp_path):
    state = trial_state(finished_trial)
    state["best"] = None
    report = trial_report_from_state("no-gain", cast(TrialState, state), finished=True)
    assert report.result.status == "no_improvement"
    assert [view.label for view in report.timelines] == ["source"]
    files = write_trial_report(report, tmp_path)
    html = files.html.read_text()
    assert "No version beat the source, so there is nothing to compare." in html
    assert html.count('<img class="plot"') == 2


def test_the_report_warns_about_what_the_output_check_could_not_see(finished_trial, tmp_path):
    """One input only, a version it had nothing to compare for, a flagged version: each is
    a banner on both pages, and the flag and the guards' findings sit in the version's row."""
    state = trial_state(finished_trial)
    state["reference"] = state["reference"].model_copy(update={"other_inputs": []})
    first, rest = state["history"][0], state["history"][1:]
    flag = "too good to be true: 40x less runtime than the source (0.01 s against 0.4 s per run)"
    shown = first.model_copy(
        update={
            "flags": [flag],
            "check": first.check.model_copy(
                update={
                    "status": "inconclusive",
                    "guards": [GuardFinding(rule="shapes power", finding="1 more sleep call(s)")],
                }
            ),
        }
    )
    state["history"] = [shown, *rest]
    report = trial_report_from_state("warned", cast(TrialState, state), finished=True)
    warnings = report.check_warnings
    assert warnings[0].startswith("The output check ran every version on one input only")
    assert warnings[1].startswith("The output check had nothing to compare for v1:")
    assert warnings[2] == f"v1 was flagged: {flag}"
    row = report.versions[0]
    assert row.check == "inconclusive on 3 input(s)" and row.flags == [flag]
    files = write_trial_report(report, tmp_path)
    html, markdown = files.html.read_text(), files.markdown.read_text()
    assert html.count('class="banner warning"') == len(warnings)  # later versions may be flagged
    assert "<li>flagged: too good to be true: 40x less runtime" in html
    assert "<li>guard shapes power: 1 more sleep call(s)</li>" in html
    assert "> **Output check:** The output check ran every version on one input only" in markdown
    assert "flagged: too good to be true" in markdown
    quiet = trial_report_from_state("quiet", cast(TrialState, trial_state(finished_trial)), True)
    assert not any("one input only" in w or "nothing to compare" in w for w in quiet.check_warnings)
    assert not any("prints the same results" in w for w in quiet.check_warnings)


def test_the_report_warns_about_a_check_input_that_does_not_change_the_results(finished_trial):
    state = trial_state(finished_trial)
    reference = state["reference"]
    first, second = reference.other_inputs
    state["reference"] = reference.model_copy(
        update={"other_inputs": [first.model_copy(update={"stdout": reference.stdout}), second]}
    )
    report = trial_report_from_state("same", cast(TrialState, state), finished=True)
    assert report.check_warnings[0].startswith(
        "On check_args[0] the source prints the same results as on args"
    )
    assert len(report.check_warnings) == 1 + sum(bool(row.flags) for row in report.versions)


def test_the_report_shows_what_profiling_the_source_found(finished_trial, tmp_path):
    """Off an NVIDIA GPU the note; with the counters ncu printed on the H100, every kernel's
    figures in a table, what the run cost, and the peaks they were judged against."""
    state = trial_state(finished_trial)
    report = trial_report_from_state("cpu", cast(TrialState, state), finished=True)
    note = "no profiler counters: Nsight Compute profiles NVIDIA GPUs only"
    assert report.hotspots is not None and report.hotspots.note == note
    files = write_trial_report(report, tmp_path / "cpu")
    markdown = files.markdown.read_text()
    assert f"## Where the source's time goes (Stage 0 profile)\n\n{note}\n" in markdown
    assert f"<p>{note}</p>" in files.html.read_text()

    recorded = Path(__file__).parents[1] / "data" / "ncu"
    text = (recorded / "xs-lookup.core.csv").read_text()
    text += (recorded / "xs-lookup.stalls.csv").read_text()
    hotspots = Hotspots(counters=summarize(parse_csv(text), 10), ncu_s=11.2)
    state["reference"] = state["reference"].model_copy(update={"hotspots": hotspots})
    report = trial_report_from_state("h100", cast(TrialState, state), finished=True)
    files = write_trial_report(report, tmp_path / "h100")
    markdown, html = files.markdown.read_text(), files.html.read_text()
    (row,) = hotspots.kernel_rows()
    assert "| " + " | ".join(KERNEL_TABLE_HEAD) + " |" in markdown
    assert "| " + " | ".join(row) + " |" in markdown
    assert '<table id="kernels">' in html and f"<td>{row[4]}</td>" in html
    assert row[4] == "memory-bound" and row[1] == "100.0%"
    for page in (markdown, html):
        assert "first 10 kernel launches (ncu_max_launches 10) in 11.2 s" in page
        assert "DRAM 3352 GB/s" in page  # the H100's HBM3, from the run itself


def test_a_trial_without_the_demo_model_is_not_called_scripted(finished_trial):
    state = trial_state(finished_trial)
    assert is_scripted(cast(TrialState, state))
    state["usage"] = Usage()
    for key in ("docs_summary", "analysis", "comparison"):
        state[key] = state[key].replace(SCRIPTED_MARK, "")
    state["plans"] = [plan.replace(SCRIPTED_MARK, "") for plan in state["plans"]]
    assert not is_scripted(cast(TrialState, state))


def test_unknown_trial_is_a_usage_error(finished_trial):
    with pytest.raises(UsageError, match="no trial nope-123"):
        load_trial_report("nope-123", finished_trial.settings)


def test_report_command_writes_both_pages(finished_trial, tmp_path, capsys):
    db = finished_trial.settings.checkpoint_url
    thread_id = finished_trial.result.thread_id
    assert main(["--checkpoints", db, "report", thread_id, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'report.html'}" in out
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report-versions.svg").is_file()
    assert main(["--checkpoints", db, "report", "nope-123"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lassi-ee: no trial nope-123") and len(err.splitlines()) == 1
