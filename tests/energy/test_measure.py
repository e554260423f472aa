"""The measurement procedure, on a replayed H100-like board against a fake clock.

The board (lassi_ee/energy/replay.py) plays a synthetic trace shaped like the
H100 facts: 71 W idle, a program's busy power, a 4 s tail falling from 160 to
100 W, and NVML's 100 ms update steps. Its true energy is known, so the
figures measure() reports can be checked against it.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import textwrap
import time
from itertools import pairwise

import pytest

from lassi_ee.energy.base import Timeline
from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.lock import device_lock
from lassi_ee.energy.measure import MAX_RUNS_PER_WINDOW, measure, one_at_a_time, runs_per_window
from lassi_ee.energy.none import NoSensorBackend
from lassi_ee.energy.paper import measure_paper_style, paper_recipe
from lassi_ee.energy.recorder import integrate_power_j
from lassi_ee.errors import LassiError


@pytest.mark.parametrize("runtime_s", [0.4, 3.0])
def test_counter_method_gives_the_boards_true_net_energy(make_board, clock, config, runtime_s):
    board = make_board(busy_w=300.0, noise_w=1.0)
    config = config.model_copy(update={"repeats": 3})
    profile = measure(board, one_at_a_time(board.program(runtime_s)), config, None, clock=clock)

    truth = board.true_net_energy_j(runtime_s)
    assert profile.method == "counter" and profile.objective == "energy"
    assert profile.idle_power_w == pytest.approx(board.idle.mean_w(), abs=1.0)
    for measurement in profile.measurements:
        # the window also holds up to one 100 ms update of tail after the last exit
        assert truth * 0.98 <= measurement.net_energy_j <= truth * 1.05
        window_net_j = measurement.net_energy_j * measurement.runs_in_window
        assert measurement.avg_power_w == pytest.approx(
            window_net_j / measurement.window_s + profile.idle_power_w
        )
    assert profile.net_energy_j.cv < 0.02


def test_short_program_is_never_zero_while_the_paper_recipe_is(make_board, clock, config):
    # a 0.4 s program at 140 W: about the level of the board's own tail
    board = make_board(busy_w=140.0, noise_w=1.0)
    config = config.model_copy(update={"repeats": 5})
    ours = measure(board, one_at_a_time(board.program(0.4)), config, None, clock=clock)
    theirs = measure_paper_style(board, board.program(0.4), 5, config, clock=clock)

    truth = board.true_net_energy_j(0.4)
    assert all(m.net_energy_j > 0.9 * truth for m in ours.measurements)
    assert all(result.net_energy_j == 0.0 and result.clamped for result in theirs)


def test_paper_recipe_falls_far_below_the_counter_for_a_busier_program(make_board, clock, config):
    board = make_board(busy_w=300.0)
    ours = measure(board, one_at_a_time(board.program(0.8)), config, None, clock=clock)
    theirs = measure_paper_style(board, board.program(0.8), 3, config, clock=clock)
    assert ours.net_energy_j.mean == pytest.approx(board.true_net_energy_j(0.8), rel=0.05)
    assert max(result.net_energy_j for result in theirs) < 0.6 * ours.net_energy_j.mean


def test_settling_waits_out_the_tail_of_a_previous_run(make_board, clock, config):
    board = make_board(tail_s=4.0)
    board.run_program(2.0)  # someone else's run just ended: the board is in its tail
    profile = measure(board, one_at_a_time(board.program(1.0)), config, None, clock=clock)

    assert profile.idle_settled is True
    assert profile.settle_s >= 4.0
    assert profile.idle_power_w == pytest.approx(board.idle.mean_w(), abs=2.0)
    assert profile.net_energy_j.mean == pytest.approx(board.true_net_energy_j(1.0), rel=0.05)


def test_an_idle_board_settles_in_two_windows(make_board, clock, config):
    board = make_board()
    profile = measure(board, one_at_a_time(board.program(1.0)), config, None, clock=clock)
    assert profile.settle_s == pytest.approx(2 * config.settle_window_s, abs=0.25)
    assert profile.overhead_s < 5.0


def test_settling_gives_up_at_the_timeout_and_says_so(make_board, clock, config):
    # a tail that keeps falling 5 W/s: consecutive 1 s windows never agree within 3 W
    board = make_board(tail_start_w=200.0, tail_end_w=100.0, tail_s=20.0, after_s=25.0)
    board.run_program(2.0)
    config = config.model_copy(update={"settle_timeout_s": 3.0})
    profile = measure(board, one_at_a_time(board.program(1.0)), config, None, clock=clock)

    assert profile.idle_settled is False
    assert 3.0 <= profile.settle_s < 3.5
    assert "did not settle" in profile.note
    assert (
        profile.idle_power_w > board.idle.mean_w() + 20
    )  # the lowest window seen, still in the tail


def test_short_programs_run_back_to_back_in_long_enough_windows(make_board, clock, config):
    board = make_board()
    config = config.model_copy(update={"repeats": 4, "min_window_s": 2.0})
    profile = measure(board, one_at_a_time(board.program(0.4)), config, None, clock=clock)

    assert profile.runs_per_window == 5
    assert board.runs == 1 + 4 * 5  # warm-up + windows
    assert len(profile.measurements) == 4
    for measurement in profile.measurements:
        assert measurement.runs_in_window == 5
        assert measurement.runtime_s == pytest.approx(0.4)
        assert 2.0 <= measurement.window_s <= 2.0 + 0.1 + 0.01
    assert profile.program_s == pytest.approx(0.4 * 21)


def test_no_settling_between_repeats(make_board, clock, config, tmp_path):
    board = make_board()
    config = config.model_copy(update={"repeats": 3})
    measure(
        board, one_at_a_time(board.program(2.5)), config, tmp_path / "timeline.json", clock=clock
    )
    timeline = Timeline.load(tmp_path / "timeline.json")
    starts, ends = timeline.marker_times("window_start"), timeline.marker_times("window_end")
    assert len(starts) == len(ends) == 3
    # the next window starts at the next counter update after the previous one ended
    assert all(0 < start - end <= 0.1 + 0.002 for end, start in zip(ends, starts[1:], strict=False))


def test_long_programs_run_once_per_window(make_board, clock, config):
    board = make_board()
    profile = measure(board, one_at_a_time(board.program(3.0)), config, None, clock=clock)
    assert profile.runs_per_window == 1
    assert board.runs == 1 + config.repeats


@pytest.mark.parametrize(
    ("runtime_s", "runs"),
    [(0.4, 5), (0.3, 7), (1.99, 2), (2.0, 1), (7.5, 1), (0.0, MAX_RUNS_PER_WINDOW)],
)
def test_runs_per_window(runtime_s, runs):
    assert runs_per_window(2.0, runtime_s) == runs


def test_power_integration_when_there_is_no_counter(make_board, clock, config):
    board = make_board(with_counter=False)
    profile = measure(board, one_at_a_time(board.program(1.0)), config, None, clock=clock)
    assert profile.method == "power-integration" and profile.objective == "energy"
    assert profile.idle_power_w == pytest.approx(board.idle.mean_w(), abs=1.0)
    assert profile.net_energy_j.mean == pytest.approx(board.true_net_energy_j(1.0), rel=0.05)


def test_time_only_says_so_in_every_result(clock, config):
    backend = NoSensorBackend("cpu-0", "no RAPL on this machine")
    runtimes = iter([0.30, 0.29, 0.31, 0.30, 0.30, 0.29, 0.31, 0.30] * 4)

    def run_once() -> float:
        runtime = next(runtimes)
        clock.sleep(runtime)
        return runtime

    profile = measure(backend, one_at_a_time(run_once), config, None, clock=clock)
    assert profile.objective == "runtime" and profile.method == "time-only"
    assert profile.net_energy_j is None and profile.idle_power_w is None
    assert "objective is runtime" in profile.note
    assert all(
        "objective is runtime" in m.note and m.net_energy_j is None for m in profile.measurements
    )
    assert profile.objective_stats.mean == pytest.approx(0.30, abs=0.01)
    assert "runtime" in profile.summary() and "no RAPL" in profile.summary()


def test_the_timeline_holds_samples_counter_updates_and_markers(
    make_board, clock, config, tmp_path
):
    board = make_board()
    path = tmp_path / "t" / "timeline.json"
    profile = measure(board, one_at_a_time(board.program(0.5)), config, path, clock=clock)

    timeline = Timeline.load(path)
    gaps = [b[0] - a[0] for a, b in zip(timeline.samples, timeline.samples[1:], strict=False)]
    assert statistics.median(gaps) == pytest.approx(config.sample_period_s)
    assert timeline.samples[-1][0] == pytest.approx(profile.wall_s, abs=0.02)
    assert len(timeline.marker_times("window_start")) == config.repeats
    assert len(timeline.marker_times("runs_start")) == config.repeats
    idle = [m for m in timeline.markers if m.event == "idle_settled"]
    assert idle and idle[0].value == pytest.approx(profile.idle_power_w)
    assert len(timeline.counter) > 20
    assert all(m.timeline_path == path for m in profile.measurements)
    assert profile.timeline_path == path


def test_a_failing_run_passes_through_and_releases_the_lock(make_board, clock, config, tmp_path):
    board = make_board()
    calls = 0

    def run_once() -> float:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("exited with status 1")
        return board.run_program(1.0)

    with pytest.raises(RuntimeError, match="status 1"):
        measure(board, one_at_a_time(run_once), config, tmp_path / "timeline.json", clock=clock)
    assert (tmp_path / "timeline.json").exists()
    with device_lock(board.lock_name, config.lock_dir, timeout_s=0.1):
        pass


def test_a_stuck_counter_is_a_clear_error(make_board, clock, config):
    board = make_board()
    board.read_energy_j = lambda: 1234.5  # type: ignore[method-assign]
    with pytest.raises(LassiError, match="did not change"):
        measure(board, one_at_a_time(board.program(1.0)), config, None, clock=clock)


def test_the_device_is_locked_while_measuring(make_board, clock, config):
    board = make_board()
    probe = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from lassi_ee.energy.lock import device_lock
        from lassi_ee.errors import LassiError
        try:
            with device_lock({board.lock_name!r}, Path({str(config.lock_dir)!r}), 0.2):
                sys.exit(0)
        except LassiError:
            sys.exit(3)
        """
    )
    seen = []

    def run_once() -> float:
        if not seen:
            seen.append(subprocess.run([sys.executable, "-c", probe]).returncode)
        return board.run_program(1.0)

    measure(board, one_at_a_time(run_once), config, None, clock=clock)
    assert seen == [3]  # another process could not take the device mid-measurement
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0  # released after


def test_bad_settings_are_usage_errors(make_board, clock, config):
    board = make_board()
    with pytest.raises(LassiError, match="repeats"):
        measure(
            board,
            one_at_a_time(board.program(1.0)),
            config.model_copy(update={"repeats": 0}),
            None,
            clock=clock,
        )


def test_paper_recipe_on_known_samples():
    samples = [(i / 100, 300.0 if 100 <= i <= 200 else 100.0) for i in range(351)]
    result = paper_recipe(samples, 1.0, 2.0)
    assert result.gross_energy_j == pytest.approx(300.0)
    assert result.idle_power_w == pytest.approx(100.0)
    assert result.net_energy_j == pytest.approx(200.0) and not result.clamped

    # a tail after the run lifts the "idle" above the run's own power: clamped to 0
    tail = [(t, 600.0 if t > 2.0 else p) for t, p in samples]
    clamped = paper_recipe(tail, 1.0, 2.0)
    assert clamped.idle_power_w == pytest.approx((100 * 100 + 150 * 600) / 250)
    assert clamped.net_energy_j == 0.0 and clamped.clamped


def test_integrate_power_j():
    ramp = [(t / 10, 10.0 * t / 10) for t in range(11)]  # 0..10 W over 1 s
    assert integrate_power_j(ramp, 0.0, 1.0) == pytest.approx(5.0)
    assert integrate_power_j(ramp, 0.25, 0.75) == pytest.approx(2.5)  # interpolated ends
    assert integrate_power_j(ramp, 1.0, 2.0) == pytest.approx(10.0)  # last value holds after
    assert integrate_power_j(ramp, 0.5, 0.5) == 0.0
    with pytest.raises(ValueError):
        integrate_power_j([], 0.0, 1.0)


def test_fake_clock_fires_periodic_callbacks_during_sleep():
    clock = FakeClock()
    seen: list[float] = []
    stop = clock.every(0.01, seen.append)
    clock.sleep(0.055)
    stop()
    clock.sleep(1.0)
    assert seen == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])
    assert clock.now() == pytest.approx(1.055)


class SteppingCounter:
    """A real-time sensor: 100 W, with the counter stepping every 10 ms (NVML's shape, faster)."""

    name = "stepping"
    has_energy_counter = True
    has_power_sensor = True
    update_period_s = 0.01
    lock_name = "stepping-0"

    def read_energy_j(self) -> float:
        return math.floor(time.perf_counter() / 0.01) * 0.01 * 100.0

    def read_power_w(self) -> float:
        return 100.0

    def describe(self) -> str:
        return "a 100 W board with a 10 ms counter"

    def close(self) -> None:
        return None


def test_measure_in_real_time_with_the_sampler_thread(config, tmp_path):
    config = config.model_copy(
        update={
            "repeats": 2,
            "min_window_s": 0.1,
            "settle_window_s": 0.05,
            "sample_period_s": 0.005,
        }
    )

    def run_once() -> float:
        time.sleep(0.03)
        return 0.03

    profile = measure(
        SteppingCounter(), one_at_a_time(run_once), config, tmp_path / "timeline.json"
    )
    assert profile.idle_settled and profile.idle_power_w == pytest.approx(100.0, rel=0.05)
    assert profile.runs_per_window == 4
    for measurement in profile.measurements:  # nothing above idle: net ~ 0
        assert abs(measurement.net_energy_j) < 0.1 * measurement.gross_energy_j
    timeline = Timeline.load(tmp_path / "timeline.json")
    gaps = [b[0] - a[0] for a, b in pairwise(timeline.samples)]
    assert statistics.median(gaps) == pytest.approx(0.005, abs=0.002)
    assert timeline.samples[-1][0] == pytest.approx(profile.wall_s, abs=0.05)


def test_a_power_sensor_that_never_answers_is_a_clear_error(make_board, clock, config):
    board = make_board(with_counter=False)

    def broken() -> float:
        raise OSError("rocm-smi: not found")

    board.read_power_w = broken  # type: ignore[method-assign]
    with pytest.raises(LassiError, match=r"no power sample could be read.*rocm-smi: not found"):
        measure(board, one_at_a_time(board.program(1.0)), config, None, clock=clock)
