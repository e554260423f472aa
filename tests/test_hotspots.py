"""Stage 0's profiler findings (tools/hotspots.py): counters and power shape, or one note,
and the lines Stage 2's prompts get.

ncu's output is the recording from the H100 (tests/data/ncu/), replayed by a stand-in
``ncu`` on the PATH; the timeline is an NVML trace recorded there (tests/data/nvml/).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lassi_ee.apps import load_app
from lassi_ee.devices import Device
from lassi_ee.energy.base import EnergyProfile, Marker, Stats, Timeline
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.replay import Trace
from lassi_ee.nodes.profile_source import cache_key
from lassi_ee.tools.hotspots import RAW_CSV_NAME, Hotspots, find_hotspots
from lassi_ee.tools.ncu import parse_csv, summarize
from lassi_ee.tools.run import RunRequest
from tests.helpers.fake_devices import H100

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parents[1] / "examples"
CUDA0 = H100.model_copy(update={"visible_id": "0"})
CPU = Device(spec="cpu", kind="cpu", name="cpu", arch="x86_64")


def _stand_in_ncu(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir()
    ncu = folder / "ncu"
    ncu.write_text("#!/bin/sh\n" + body)
    ncu.chmod(ncu.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


def _replays(app: str) -> str:
    return f"cat {DATA}/ncu/{app}.core.csv {DATA}/ncu/{app}.stalls.csv\n"


def _profile(tmp_path: Path) -> EnergyProfile:
    """A Stage-0 profile whose timeline is the busy_gpu run recorded on the H100."""
    trace = Trace.load(DATA / "nvml" / "nvidia-h100-80gb-hbm3-busy-2s.json")
    timeline = Timeline(
        backend="recorded",
        started_unix=0.0,
        sample_period_s=trace.sample_period_s,
        samples=[(t, p) for t, p, _ in trace.samples],
        markers=[
            Marker(t_s=trace.busy_start_s, event="runs_start"),
            Marker(t_s=trace.busy_end_s, event="runs_end"),
        ],
        idle_power_w=70.2,
    )
    path = tmp_path / "timeline.json"
    timeline.save(path)
    runtime = Stats(mean=2.7, stdev=0.0, cv=0.0, n=1)
    return EnergyProfile(
        objective="energy",
        method="counter",
        backend="recorded",
        measurements=[],
        runs_per_window=1,
        warmup_runtime_s=2.7,
        runtime_s=runtime,
        wall_s=10.0,
        program_s=5.4,
        overhead_s=4.6,
        timeline_path=path,
    )


@pytest.fixture
def source_run(tmp_path: Path) -> RunRequest:
    binary = tmp_path / "jacobi2d"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    return RunRequest(binary=binary, args=["4096", "2000", "50"], device=CUDA0)


def test_on_an_nvidia_gpu_stage_0_keeps_counters_shape_and_ncus_csv(
    tmp_path, source_run, settings, monkeypatch
):
    _stand_in_ncu(tmp_path / "bin", _replays("jacobi2d"), monkeypatch)
    hotspots = find_hotspots(source_run, _profile(tmp_path), settings, tmp_path)
    assert hotspots.note is None and hotspots.counters is not None
    assert hotspots.ncu_s is not None and hotspots.ncu_s > 0
    assert hotspots.power is not None and hotspots.power.gaps == 1
    raw = Path(hotspots.raw_csv_path or "")
    assert raw == tmp_path / RAW_CSV_NAME
    assert parse_csv(raw.read_text()) == parse_csv(
        (DATA / "ncu" / "jacobi2d.core.csv").read_text()
        + (DATA / "ncu" / "jacobi2d.stalls.csv").read_text()
    )
    text = hotspots.prompt_text()
    assert text.startswith("Profiler counters (Nsight Compute, the program's first 10 kernel")
    assert "- sweep(const float *, float *, int): 100 % of the GPU time" in text
    assert "memory-bound by the roofline" in text and "Power while the source ran" in text
    assert len(text.splitlines()) == 3  # a few lines: the heading, one kernel, the power
    rows = hotspots.kernel_rows()
    assert len(rows) == 1 and rows[0][0].startswith("sweep") and rows[0][4] == "memory-bound"


def test_off_the_gpu_nothing_runs_and_the_prompt_says_why(
    tmp_path, source_run, settings, monkeypatch
):
    ran = tmp_path / "ncu-ran"
    _stand_in_ncu(tmp_path / "bin", f"touch {ran}\n" + _replays("nbody"), monkeypatch)
    hotspots = find_hotspots(
        source_run.model_copy(update={"device": CPU}), _profile(tmp_path), settings, tmp_path
    )
    assert not ran.exists()
    assert hotspots.counters is None and hotspots.power is None
    assert hotspots.prompt_text() == (
        "no profiler counters: Nsight Compute profiles NVIDIA GPUs only"
    )
    assert hotspots.prompt_text(of_source=False) == hotspots.prompt_text()


def test_turned_off_it_keeps_the_power_shape_and_runs_no_ncu(
    tmp_path, source_run, settings, monkeypatch
):
    ran = tmp_path / "ncu-ran"
    _stand_in_ncu(tmp_path / "bin", f"touch {ran}\n", monkeypatch)
    off = settings.model_copy(update={"ncu_profile": False})
    hotspots = find_hotspots(source_run, _profile(tmp_path), off, tmp_path)
    assert not ran.exists() and hotspots.ncu_s is None
    assert hotspots.note == "no profiler counters: ncu_profile is off"
    assert hotspots.power is not None
    assert hotspots.prompt_text().splitlines()[0] == hotspots.note


def test_a_device_another_measurement_holds_means_no_counters(
    tmp_path, source_run, settings, monkeypatch
):
    _stand_in_ncu(tmp_path / "bin", _replays("nbody"), monkeypatch)
    impatient = settings.model_copy(update={"lock_timeout_s": 0.2})
    with device_lock(CUDA0.lock_name, settings.lock_dir, 1.0):
        hotspots = find_hotspots(source_run, _profile(tmp_path), impatient, tmp_path)
    assert hotspots.counters is None
    assert hotspots.note is not None and "is busy" in hotspots.note
    assert not (tmp_path / RAW_CSV_NAME).exists()


def test_prompt_lists_the_hottest_kernels_and_sums_up_the_rest():
    launches = []
    for offset, app in enumerate(("jacobi2d", "nbody", "xs-lookup")):
        text = "".join(
            (DATA / "ncu" / f"{app}.{part}.csv").read_text() for part in ("core", "stalls")
        )
        launches += [{**x, "ID": str(100 * offset + int(x["ID"]))} for x in parse_csv(text)]
    hotspots = Hotspots(counters=summarize(launches, 30))
    text = hotspots.prompt_text(of_source=False, kernels=2)
    lines = text.splitlines()
    assert lines[0].startswith("(Measured on the source at Stage 0")
    assert lines[2].startswith("- accelerations(") and lines[3].startswith("- lookups(")
    last = hotspots.counters.kernels[-1] if hotspots.counters else None
    assert last is not None and lines[4] == (
        f"- 1 more kernels: {last.duration_share * 100:.0f} % of it"
    )
    assert len(hotspots.kernel_rows()) == 3


def test_the_profilers_settings_are_part_of_the_source_cache_key(settings):
    app = load_app(str(EXAMPLES / "jacobi2d"))
    key = cache_key(app, CUDA0, settings)
    assert cache_key(app, CUDA0, settings.model_copy(update={"ncu_max_launches": 20})) != key
    assert cache_key(app, CUDA0, settings.model_copy(update={"ncu_profile": False})) != key
    assert cache_key(app, CUDA0, settings.model_copy(update={"ncu_timeout_s": 60.0})) == key
