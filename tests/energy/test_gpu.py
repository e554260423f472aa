"""A real measurement on an NVIDIA GPU (skipped without one: see tests/conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lassi_ee.devices import resolve_device
from lassi_ee.energy import backend_for, measure, measure_paper_style
from lassi_ee.energy.base import Timeline
from lassi_ee.energy.measure import one_at_a_time

BUSY_SOURCE = Path(__file__).parents[2] / "benchmarks" / "busy_gpu.cu"


@pytest.mark.gpu
def test_busy_kernel_has_positive_net_energy_and_plausible_power(settings, tmp_path):
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    device = resolve_device("cuda:0")
    binary = tmp_path / "busy_gpu"
    subprocess.run(
        ["nvcc", "-O3", f"-arch={device.arch}", str(BUSY_SOURCE), "-o", str(binary)], check=True
    )

    def run_once() -> float:
        start = time.perf_counter()
        subprocess.run(
            [str(binary), "0.6"], check=True, env=device.child_env(), stdout=subprocess.DEVNULL
        )
        return time.perf_counter() - start

    backend = backend_for(device)
    try:
        settings = settings.with_overrides(repeats=2, min_window_s=1.0)
        profile = measure(backend, one_at_a_time(run_once), settings, tmp_path / "timeline.json")
        paper = measure_paper_style(backend, run_once, 1, settings)
    finally:
        backend.close()

    assert profile.objective == "energy" and profile.method == "counter"
    assert 20.0 < profile.idle_power_w < 250.0
    assert all(m.net_energy_j > 0 for m in profile.measurements)
    assert profile.idle_power_w + 20.0 < profile.avg_power_w.mean < 1000.0
    assert 0.5 < profile.runtime_s.mean < 5.0
    timeline = Timeline.load(tmp_path / "timeline.json")
    assert max(power for _, power in timeline.samples) > profile.idle_power_w + 20.0
    assert len(paper) == 1 and paper[0].runtime_s > 0.5
