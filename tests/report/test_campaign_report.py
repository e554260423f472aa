"""The campaign report: plots of pass@k, reduction@k, per-app reductions and optimization
categories, checked against figures computed here by enumerating subsets, read back from
the page's data-values and from the bars' heights in the SVGs; opened in headless Chromium.
Built from hand-made records (two devices, energy and runtime) and from a real scripted
campaign run through the CLI."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import math
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.campaign.store import TrialRecord
from lassi_ee.cli import main
from lassi_ee.report.campaign import CampaignReport, build_campaign_report
from lassi_ee.report.files import write_campaign_report
from tests.helpers.browser import assert_rendered, open_page
from tests.helpers.killed_campaign import KilledCampaign, store_rows

OBJECTIVE = {"cuda:0": "energy", "cpu": "runtime"}
VANILLA, FULL = "vanilla (Stage 1)", "LASSI-EE (full pipeline)"
CODES = ("MHO", "ACE", "DST", "PTM")

# (device, app) -> the source's figure and, per trial, (vanilla, final, best, categories):
# a figure in the device's objective (J on cuda:0, s on cpu), None where not valid / none.
TASKS: dict[tuple[str, str], tuple[float, list[tuple[Any, ...]]]] = {
    ("cuda:0", "alpha"): (10.0, [(9.0, 6.0, 6.0, "MHO,ACE"), (None, 8.0, 8.0, "ACE"), (None, None, None, "")]),
    ("cuda:0", "beta"): (20.0, [(18.0, 15.0, 15.0, "PTM,DST,MHO"), (22.0, 19.0, None, ""), (None, 10.0, 10.0, "")]),
    ("cpu", "alpha"): (0.2, [(0.1, 0.05, 0.05, "ACE,ACE"), (0.25, 0.2, None, ""), (0.3, 0.19, None, "")]),
    ("cpu", "beta"): (1.0, [(0.5, 0.4, 0.4, "MHO"), (None, None, None, ""), (0.9, 0.7, 0.7, "ACE")]),
}  # fmt: skip


def _record(device: str, app: str, trial: int, source: float | None, figures: tuple) -> TrialRecord:
    vanilla, final, best, categories = figures
    unit = "energy_j" if OBJECTIVE[device] == "energy" else "runtime_s"
    return TrialRecord.model_validate(
        {
            "campaign": "c",
            "app": app,
            "device": device,
            "trial": trial,
            "thread_id": f"c-{app}-{device}-{trial}",
            "status": "failed" if source is None else "improved" if best else "no_improvement",
            "objective": OBJECTIVE[device],
            f"source_{unit}": source,
            "vanilla_valid": vanilla is not None,
            f"vanilla_{unit}": vanilla,
            "final_valid": final is not None,
            f"final_{unit}": final,
            f"best_{unit}": best,
            "reduction": (source - best) / source if source and best else None,
            "categories": categories,
        }
    )


RECORDS = [
    _record(device, app, trial, source, figures)
    for (device, app), (source, trials) in TASKS.items()
    for trial, figures in enumerate(trials)
] + [_record("cpu", "alpha", 3, None, (None, None, None, ""))]  # its source failed: left out


# --- the figures, worked out independently ---------------------------------------------------


def _by_subsets(reductions: list[float | None], k: int) -> tuple[float, float]:
    """(pass@k, reduction@k) of one task and stage, by enumerating every k-subset of trials
    and, for the expected best, every k-subset of the valid ones."""
    subsets = list(itertools.combinations(reductions, k))
    passed = sum(any(r is not None for r in s) for s in subsets) / len(subsets)
    valid = [r for r in reductions if r is not None]
    if not valid:
        return passed, 0.0
    draws = list(itertools.combinations(valid, min(k, len(valid))))
    return passed, passed * sum(max(d) for d in draws) / len(draws)


def _task_metrics(device: str, app: str, k: int) -> dict[str, tuple[float, float]]:
    source, trials = TASKS[(device, app)]
    metrics = {}
    for series, index in ((VANILLA, 0), (FULL, 1)):
        reductions = [
            None if t[index] is None else max((source - t[index]) / source, 0.0) for t in trials
        ]
        metrics[series] = _by_subsets(reductions, k)
    return metrics


def _expected_by_k(scope: str | None, which: int, ks: list[int]) -> dict[str, list[float]]:
    """Per series, the mean over the scope's tasks (None: every task) of pass@k (which=0)
    or reduction@k (which=1), for each k."""
    tasks = [key for key in TASKS if scope is None or key[0] == scope]
    return {
        series: [
            sum(_task_metrics(d, a, k)[series][which] for d, a in tasks) / len(tasks) for k in ks
        ]
        for series in (VANILLA, FULL)
    }


def _expected_categories(device: str | None) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter({code: 0 for code in CODES})
    trials = 0
    for (d, _), (_, rows) in TASKS.items():
        for *_, categories in rows:
            if categories and (device is None or d == device):
                counts.update(categories.split(","))
                trials += 1
    return counts, trials


# --- reading the page and the plots back ----------------------------------------------------


def _plotted(page: str) -> dict[str, list[dict[str, Any]]]:
    """Each figure's data-values, by plot name."""
    found = re.findall(r'<figure id="figure-(\w+)" data-values="([^"]*)"', page)
    return {name: json.loads(html.unescape(values)) for name, values in found}


def _bar_heights(svg: Path) -> dict[tuple[int, int, int], float]:
    """(panel, series, bar) -> the drawn bar's height in SVG units."""
    heights = {}
    for group in ElementTree.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}g"):
        match = re.fullmatch(r"\w+-p(\d+)-s(\d+)-b(\d+)", group.get("id", ""))
        if match:
            path = group.find("{http://www.w3.org/2000/svg}path")
            assert path is not None
            ys = [float(y) for y in re.findall(r"[-\d.]+ ([-\d.]+)", path.get("d", ""))]
            heights[tuple(int(g) for g in match.groups())] = max(ys) - min(ys)
    return heights


def assert_bars_match(svg: Path, panels: list[dict[str, Any]]) -> None:
    """Every plotted value has its bar, and the bars' heights are in the values' proportions
    (one y scale for all panels)."""
    heights = _bar_heights(svg)
    expected = {
        (p, s, b): value
        for p, panel in enumerate(panels)
        for s, values in enumerate(panel["series"].values())
        for b, value in enumerate(values)
    }
    assert set(heights) == set(expected)
    scale = [heights[key] / value for key, value in expected.items() if value > 0]
    assert scale and max(scale) == pytest.approx(min(scale), rel=1e-3)
    for key, value in expected.items():
        if value == 0:
            assert heights[key] == pytest.approx(0, abs=1e-6)


def _svg_texts(svg: Path) -> list[str]:
    root = ElementTree.parse(svg).getroot()
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


# --- hand-made records ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> tuple[CampaignReport, Any]:
    report = build_campaign_report("c", RECORDS, [1, 2, 3], planned_trials=14)
    return report, write_campaign_report(report, tmp_path_factory.mktemp("handmade"))


def test_pass_and_reduction_at_k_are_plotted_per_device_and_overall(handmade) -> None:
    report, files = handmade
    page = files.html.read_text()
    plotted = _plotted(page)
    assert list(plotted) == ["pass_at_k", "reduction_at_k", "per_app", "categories"]
    for name, which in (("pass_at_k", 0), ("reduction_at_k", 1)):
        panels = plotted[name]
        assert [p["title"] for p in panels] == [
            "cpu (runtime: no energy sensor)",
            "cuda:0",
            "all devices",
        ]
        for panel, scope in zip(panels, ["cpu", "cuda:0", None], strict=True):
            assert panel["x"] == ["k=1", "k=2", "k=3"]
            expected = _expected_by_k(scope, which, [1, 2, 3])
            for series in (VANILLA, FULL):
                assert panel["series"][series] == pytest.approx(expected[series]), (name, scope)
        assert_bars_match(files.html.parent / f"report-{name}.svg", panels)

    # the trial whose source failed counts as finished, but in no figure
    assert report.failed == 1 and report.trials == 13
    assert "13 of 14 trial(s) finished" in page and "1 failed" in page


def test_reductions_name_their_objective(handmade) -> None:
    _, files = handmade
    texts = _svg_texts(files.html.parent / "report-reduction_at_k.svg")
    assert {"runtime-reduction@k", "energy-reduction@k", "energy/runtime-reduction@k"} <= set(
        texts
    )  # the y axes of cpu, cuda:0 and all devices
    assert any("RUNTIME on cpu" in text for text in texts)  # the title
    assert {"runtime-reduction@1", "energy-reduction@1"} <= set(
        _svg_texts(files.html.parent / "report-per_app.svg")
    )
    assert "No energy sensor on cpu: runtime was the objective there" in files.html.read_text()

    cpu_only = build_campaign_report("c", [r for r in RECORDS if r.device == "cpu"], [1])
    assert cpu_only.sections[1].heading.startswith("runtime-reduction@k")
    assert cpu_only.sections[2].heading.startswith("runtime-reduction per app")
    assert cpu_only.plots[1].panels[0].y_label == "runtime-reduction@k"


def test_per_app_bars_show_each_apps_reduction_at_the_smallest_k(handmade) -> None:
    _, files = handmade
    panels = _plotted(files.html.read_text())["per_app"]
    assert [p["title"] for p in panels] == ["cpu (runtime: no energy sensor)", "cuda:0"]
    for panel, device in zip(panels, ["cpu", "cuda:0"], strict=True):
        assert panel["x"] == ["alpha", "beta"]
        for series in (VANILLA, FULL):
            expected = [_task_metrics(device, app, 1)[series][1] for app in panel["x"]]
            assert panel["series"][series] == pytest.approx(expected)
    svg = files.html.parent / "report-per_app.svg"
    assert_bars_match(svg, panels)
    beta_full = _task_metrics("cpu", "beta", 1)[FULL][1]
    assert f"{100 * beta_full:.1f}%" in _svg_texts(svg)  # the value over its bar


def test_categories_are_counted_overall_and_per_device(handmade) -> None:
    report, files = handmade
    panels = _plotted(files.html.read_text())["categories"]
    for panel, scope in zip(panels, [None, "cpu", "cuda:0"], strict=True):
        counts, trials = _expected_categories(scope)
        total = sum(counts.values())
        assert panel["title"].endswith(f": {total} in {trials} trial(s)")
        assert panel["x"] == list(CODES)
        assert panel["series"]["optimizations"] == pytest.approx(
            [counts[code] / total for code in CODES]
        )
    assert panels[0]["title"] == "all devices: 10 in 6 trial(s)"  # worked by hand from TASKS
    assert_bars_match(files.html.parent / "report-categories.svg", panels)
    assert "5 (50.0%)" in _svg_texts(files.html.parent / "report-categories.svg")  # ACE overall
    assert report.uncategorized == 1  # cuda:0 beta #2 improved without categories
    assert "1 improved trial(s) recorded no categories." in files.html.read_text()


def test_markdown_twin_and_tables(handmade) -> None:
    report, files = handmade
    text = files.markdown.read_text()
    for section in report.sections:
        assert f"## {section.heading}" in text
    for plot in files.plots:
        assert f"]({plot.name})" in text and plot.is_file()
    assert "| all devices | 6 | 3 | 5 | 1 | 1 |" in text
    for table in report.tables:
        assert table.title in text and table.title in html.unescape(files.html.read_text())
    names = sorted(path.name for path in files.tables)
    assert names == [
        "table2.csv", "table2.md", "table3.csv", "table3.md", "table4.csv", "table4.md",
        "tables.md",
    ]  # fmt: skip
    table4 = (files.html.parent / "table4.csv").read_text().splitlines()
    assert table4[0].startswith("device,objective,k,")
    assert len(table4) == 1 + 3 * 3  # cpu, cuda:0 and all, at k = 1, 2, 3


@pytest.mark.browser
def test_handmade_report_renders_in_chromium(handmade, tmp_path) -> None:
    _, files = handmade
    dom, screenshot = open_page(files.html, tmp_path)
    assert_rendered(dom, screenshot, plots=4)
    for name in ("pass_at_k", "reduction_at_k", "per_app", "categories"):
        assert re.search(rf'<img class="plot" id="plot-{name}"[^>]*data-rendered="yes"', dom)


def test_the_report_says_when_and_on_what_stage4_measured_per_device() -> None:
    h200 = "NVIDIA H200 (driver 580.159.04, power limit 700 W): NVML energy counter"
    gpu = [r for r in RECORDS if r.device == "cuda:0"]
    improved = [r for r in gpu if r.status == "improved"]
    times = [dt.datetime(2026, 12, 3, 7, minute, tzinfo=dt.UTC) for minute in (5, 40, 12, 33)]
    stamped = [
        r.model_copy(update={"final_measured_at": at.isoformat(), "final_sensor": h200})
        for r, at in zip(improved, times, strict=True)
    ]
    others = [r for r in gpu if r.status != "improved"]
    [line] = build_campaign_report("c", stamped + others, [1]).conditions
    assert line.startswith(
        "Stage 4 re-measured 4 trial(s) on cuda:0 from 2026-12-03 07:05 to 2026-12-03 07:40 "
        f"UTC, all with {h200}."
    )
    assert f" {len(others)} other trial(s) have none" in line
    capped = stamped[0].model_copy(update={"final_sensor": h200.replace("700 W", "450 W")})
    [mixed] = build_campaign_report("c", [capped, *stamped[1:]], [1]).conditions
    assert "but not all under the same conditions" in mixed and "450 W" in mixed
    [none] = build_campaign_report("c", others, [1]).conditions
    assert none.startswith("No Stage-4 re-measurement on cuda:0 is recorded")


# --- campaigns with nothing to show ---------------------------------------------------------


def test_a_campaign_where_nothing_beat_the_source_says_so(tmp_path) -> None:
    plain = [r.model_copy(update={"status": "no_improvement", "categories": ""}) for r in RECORDS]
    report = build_campaign_report("c", plain, [1, 2])
    files = write_campaign_report(report, tmp_path / "out")
    page = files.html.read_text()
    message = "No trial beat the source, so there are no optimizations to categorize."
    assert message in page and message in files.markdown.read_text()
    assert [plot.name for plot in report.plots] == ["pass_at_k", "reduction_at_k", "per_app"]
    assert "figure-categories" not in page and not (tmp_path / "out/report-categories.svg").exists()
    dom, screenshot = open_page(files.html, tmp_path)
    assert_rendered(dom, screenshot, plots=3)


def test_improved_trials_without_categories_are_said_so() -> None:
    bare = [r.model_copy(update={"categories": ""}) for r in RECORDS]
    report = build_campaign_report("c", bare, [1])
    assert report.sections[-1].plot is None
    assert report.sections[-1].missing == (
        f"{report.improved} trial(s) beat the source, but none recorded categories "
        "(Stage 4's categorize step found none, or its model failed)."
    )
    assert report.improved == 7


def test_a_campaign_whose_trials_all_failed_has_no_plots(tmp_path) -> None:
    failed = [r for r in RECORDS if r.status == "failed"]
    report = build_campaign_report("c", failed, [1])
    files = write_campaign_report(report, tmp_path)
    page = files.html.read_text()
    assert report.plots == [] and files.plots == [] and "<img" not in page
    assert page.count("All 1 finished trial(s) failed before Stage 1") == 3
    assert "No trial beat the source" in page
    assert "k = 1 left out" not in page.split("<h2>Tables</h2>")[0]  # no misleading banner


def test_ks_without_enough_trials_are_left_out_and_said_so(tmp_path) -> None:
    report = build_campaign_report("c", RECORDS, [1, 2, 4])
    assert report.ks == [1, 2] and report.dropped_ks == [4]
    page = write_campaign_report(report, tmp_path).html.read_text()
    assert _plotted(page)["pass_at_k"][0]["x"] == ["k=1", "k=2"]
    assert "k = 4 left out: some app has fewer finished trials." in page

    too_big = build_campaign_report("c", RECORDS, [5])
    assert too_big.plots[0].name == "categories"  # the metrics cannot be computed at all
    assert too_big.sections[0].missing is not None
    assert too_big.sections[0].missing.startswith("No k of 5 can be computed yet")


# --- a real scripted campaign, through the CLI ------------------------------------------------


@pytest.mark.trial
def test_report_of_a_scripted_campaign_run_through_the_cli(
    killed_campaign: KilledCampaign, tmp_path: Path, capsys
) -> None:
    """The report of the session's whole campaign (tests/helpers/killed_campaign.py): two
    apps x 4 trials on the cpu device, scripted models, ks 1, 2 and 4."""
    path = killed_campaign.path
    out = tmp_path / "report"
    assert main(["campaign", "report", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'report.html'} and {out / 'report.md'}" in printed

    rows = store_rows(path.parent / "campaigns" / "smoke" / "results.sqlite")
    assert len(rows) == 8 and all(row["objective"] == "runtime" for row in rows)
    improved = [row for row in rows if row["status"] == "improved"]
    assert improved  # spin #0 and wait #0 beat the source whatever the machine's load
    assert all(row["categories"] == "ACE" for row in improved)  # the scripted categorizer

    plotted = _plotted((out / "report.html").read_text())
    assert list(plotted) == ["pass_at_k", "reduction_at_k", "per_app", "categories"]
    tasks: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda row: row["trial"]):
        tasks.setdefault(row["app"], []).append(row)
    for name, which in (("pass_at_k", 0), ("reduction_at_k", 1)):
        [panel] = plotted[name]
        assert panel["title"] == "cpu (runtime: no energy sensor)"
        for k_index, k in enumerate((1, 2, 4)):
            for series, stage in ((VANILLA, "vanilla"), (FULL, "final")):
                per_app = []
                for trials in tasks.values():
                    reductions = [
                        max(1 - t[f"{stage}_runtime_s"] / t["source_runtime_s"], 0.0)
                        if t[f"{stage}_valid"] and t[f"{stage}_runtime_s"] is not None
                        else None
                        for t in trials
                    ]
                    per_app.append(_by_subsets(reductions, k)[which])
                expected = sum(per_app) / len(per_app)
                assert math.isclose(panel["series"][series][k_index], expected, abs_tol=1e-12)
        assert_bars_match(out / f"report-{name}.svg", plotted[name])
    [categories] = plotted["categories"]
    assert categories["title"].endswith(f": {len(improved)} in {len(improved)} trial(s)")
    assert categories["series"]["optimizations"] == [0.0, 1.0, 0.0, 0.0]
    assert (out / "table4.csv").is_file() and (out / "report.md").is_file()

    # when and on what the confirmed trials' figures were taken, from the store's rows
    stamped = [row for row in rows if row["final_measured_at"]]
    assert {row["thread_id"] for row in improved} <= {row["thread_id"] for row in stamped}
    first = min(dt.datetime.fromisoformat(row["final_measured_at"]) for row in stamped)
    assert (
        f"Stage 4 re-measured {len(stamped)} trial(s) on cpu from {first:%Y-%m-%d %H:%M}"
        in (out / "report.md").read_text()
    )
    assert all(row["final_sensor"].startswith("time only") for row in stamped)


@pytest.mark.trial
@pytest.mark.browser
def test_the_report_of_a_scripted_campaign_renders_in_chromium(
    killed_campaign: KilledCampaign, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    assert main(["campaign", "report", str(killed_campaign.path), "--out", str(out)]) == 0
    dom, screenshot = open_page(out / "report.html", tmp_path)
    assert_rendered(dom, screenshot, plots=4)
    assert "No energy sensor on cpu" in dom
