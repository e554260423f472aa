"""The synthetic trace and the replay board behave like NVML on the H100.

Facts (reference/h100-power-facts.md): power and energy readings change only
every 100 ms, idle is ~71 W, and after a run the board stays at 100-160 W for
3-5 s. Recorded traces from benchmarks/record_nvml.py, once they are under
tests/data/nvml/, are replayed by the last test.
"""

from __future__ import annotations

import statistics
from itertools import pairwise
from pathlib import Path

import pytest

from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.measure import measure, one_at_a_time
from lassi_ee.energy.paper import measure_paper_style
from lassi_ee.energy.replay import NvmlModel, ReplayBoard, Trace, synthetic_trace

RECORDED = sorted((Path(__file__).parents[1] / "data" / "nvml").glob("*.json"))


def _change_times(values: list[tuple[float, float]]) -> list[float]:
    return [t for (_, a), (t, b) in pairwise(values) if b != a]


def test_synthetic_trace_updates_every_100_ms_with_counter_and_power_agreeing():
    trace = synthetic_trace(noise_w=0.5)
    power = [(t, p) for t, p, _ in trace.samples]
    energy = [(t, e) for t, _, e in trace.samples]
    power_changes, energy_changes = _change_times(power), _change_times(energy)
    gaps = [b - a for a, b in pairwise(energy_changes)]
    assert statistics.median(gaps) == pytest.approx(0.1, abs=0.011)
    assert min(gaps) >= 0.09
    assert set(power_changes) <= set(energy_changes)
    # at each update the counter grew by the new power reading times the period
    by_time = {t: (p, e) for t, p, e in trace.samples}
    for before, after in pairwise(energy_changes[5:31]):
        grown = by_time[after][1] - by_time[before][1]
        assert grown == pytest.approx(by_time[after][0] * 0.1, rel=1e-6)


def test_synthetic_trace_has_the_h100_shape():
    trace = synthetic_trace(busy_w=300.0, busy_s=2.0)

    def mean(a: float, b: float) -> float:
        return statistics.fmean(p for t, p, _ in trace.samples if a <= t < b)

    assert mean(0.5, trace.busy_start_s) == pytest.approx(71.0, abs=0.5)
    assert mean(trace.busy_start_s + 0.2, trace.busy_end_s) == pytest.approx(300.0, abs=1.0)
    assert 100.0 <= mean(trace.busy_end_s + 0.5, trace.busy_end_s + 3.5) <= 160.0
    assert mean(trace.busy_end_s + 6.0, trace.busy_end_s + 8.0) == pytest.approx(71.0, abs=0.5)


def test_trace_round_trips_through_json(tmp_path):
    trace = synthetic_trace(busy_s=0.5, after_s=1.0)
    trace.save(tmp_path / "trace.json")
    assert Trace.load(tmp_path / "trace.json") == trace


def test_replay_board_plays_idle_busy_then_tail():
    clock = FakeClock()
    board = ReplayBoard(synthetic_trace(busy_w=250.0), clock)
    assert board.idle.mean_w() == pytest.approx(71.0, abs=0.5)
    assert board.busy.mean_w() == pytest.approx(250.0, rel=0.05)
    clock.sleep(1.0)
    assert board.read_power_w() == pytest.approx(71.0, abs=1.0)
    energy_before = board.read_energy_j()
    board.run_program(1.0)
    assert clock.now() == pytest.approx(2.0)
    assert board.read_power_w() == pytest.approx(250.0, abs=2.0)
    clock.sleep(1.0)
    assert 100.0 <= board.read_power_w() <= 160.0  # in the tail
    # one busy second at 250 W and one tail second at ~150 W (give or take an update)
    assert board.read_energy_j() - energy_before == pytest.approx(250 + 150, rel=0.1)
    clock.sleep(10.0)
    assert board.read_power_w() == pytest.approx(71.0, abs=1.0)


def test_nvml_model_holds_readings_between_updates():
    model = NvmlModel(lambda t: 100.0 if t < 1.0 else 200.0, 0.0, 0.1, phase_s=0.05)
    model.advance_to(1.04)
    assert model.power_w == pytest.approx(100.0)  # the update at 1.05 has not happened yet
    model.advance_to(1.06)
    assert model.power_w == pytest.approx(150.0)  # [0.95, 1.05]: half at each level
    assert model.counter_j - 500_000.0 == pytest.approx(100.0 + 200.0 * 0.05)


def test_a_trace_whose_counter_never_moves_cannot_be_replayed():
    flat = Trace(
        device="x", source="flat", sample_period_s=0.01, busy_start_s=1.0, busy_end_s=2.0,
        samples=[(i / 100, 70.0, 5.0) for i in range(300)],
    )  # fmt: skip
    with pytest.raises(ValueError, match="barely changes"):
        ReplayBoard(flat, FakeClock())


@pytest.mark.parametrize("path", RECORDED or [None], ids=[p.name for p in RECORDED] or ["none"])
def test_recorded_traces_replay_through_measure(path, config):
    if path is None:
        pytest.skip("no recorded NVML traces yet: run benchmarks/record_nvml.py on a GPU")
    clock = FakeClock()
    board = ReplayBoard(Trace.load(path), clock)
    runtime_s = board.busy.duration_s  # the recorded program, CUDA start-up included
    true_j = board.true_net_energy_j(runtime_s)
    profile = measure(board, one_at_a_time(board.program(runtime_s)), config, None, clock=clock)
    assert 20.0 < profile.idle_power_w < 200.0
    assert profile.net_energy_j.mean == pytest.approx(true_j, rel=0.05)
    assert profile.net_energy_j.cv < 0.02
    paper = measure_paper_style(board, board.program(runtime_s), 3, config, clock=clock)
    # on the real H100 trace the paper's idle windows catch the previous run's tail,
    # so its figure falls well short of the energy the program drew (the facts sheet)
    assert all(run.net_energy_j < 0.85 * true_j for run in paper)
