"""A real measurement on an NVIDIA GPU (skipped without one: see tests/conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lassi_ee.energy import backend_for, measure, measure_paper_style
from lassi_ee.energy.base import Timeline
from lassi_ee.energy.measure import one_at_a_time
from lassi_ee.energy.vendors import resolve_device

BUSY_SOURCE = Path(__file__).parents[2] / "benchmarks" / "busy_gpu.cu"


@pytest.mark.gpu
def test_busy_kernel_has_positive_net_energy_and_plausible_power(config, tmp_path):
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
        config = config.model_copy(update={"repeats": 2, "min_window_s": 1.0})
        profile = measure(backend, one_at_a_time(run_once), config, tmp_path / "timeline.json")
        paper = measure_paper_style(backend, run_once, 1, config)
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


@pytest.mark.gpu
def test_a_confirmation_on_the_gpu_claims_a_shorter_load_and_not_the_same_one(
    settings, config, tmp_path
):
    """Interleaved pairs on the real counter: the same load against itself is no gain, a
    load 30 % shorter is one, at a trial's own level."""
    from lassi_ee.apps import load_app
    from lassi_ee.energy.paired import confirm
    from lassi_ee.tools.compile import CompileRequest, compile_app
    from lassi_ee.tools.profile import batch_runner, decision_rule

    device = resolve_device("cuda:0")
    full, shorter = load_app(BUSY_SOURCE, ["1.0"]), load_app(BUSY_SOURCE, ["0.7"])
    built = compile_app(
        CompileRequest(app=full, device=device, build_dir=tmp_path / "build"), settings
    )
    assert built.binary is not None, built.diagnostics
    rule = decision_rule(settings)
    runs = {
        name: batch_runner(app, device, built.binary, settings, name)
        for name, app in (("full", full), ("shorter", shorter))
    }
    backend = backend_for(device)
    try:
        same = confirm(backend, runs["full"], runs["full"], rule, config, None)
        lower = confirm(backend, runs["full"], runs["shorter"], rule, config, None)
    finally:
        backend.close()
    assert same.measurement.objective == "energy" and not same.decision.claimed
    assert same.decision.ratio is not None and abs(same.decision.ratio - 1.0) < 0.03
    assert lower.decision.claimed and 0.6 < lower.decision.ratio < 0.85
