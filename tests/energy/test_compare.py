"""screen_lower: less means less by more than the measurement's own noise."""

from __future__ import annotations

import pytest

from lassi_ee.energy.base import EnergyMeasurement, EnergyProfile, Stats
from lassi_ee.energy.decide import screen_lower


def profile(runtimes_s: list[float], nets_j: list[float] | None) -> EnergyProfile:
    """A profile as measure() builds it; nets_j=None: a device without an energy sensor."""
    method = "counter" if nets_j is not None else "time-only"
    measurements = [
        EnergyMeasurement(
            method=method,
            runs_in_window=1,
            runtime_s=runtime,
            window_s=runtime,
            net_energy_j=net,
        )
        for runtime, net in zip(runtimes_s, nets_j or [None] * len(runtimes_s), strict=True)
    ]
    return EnergyProfile(
        objective="energy" if nets_j is not None else "runtime",
        method=method,
        backend="test",
        measurements=measurements,
        runs_per_window=1,
        warmup_runtime_s=runtimes_s[0],
        net_energy_j=Stats.of(nets_j) if nets_j is not None else None,
        runtime_s=Stats.of(runtimes_s),
        wall_s=10.0,
        program_s=sum(runtimes_s),
        overhead_s=10.0 - sum(runtimes_s),
    )


SOURCE = profile([2.0, 2.0, 2.0], [100.0, 101.0, 99.0])  # stdev 1 J


def test_a_clear_gain_beyond_noise_and_min_gain_counts():
    candidate = profile([2.0, 2.0, 2.0], [90.0, 91.0, 89.0])
    assert screen_lower(SOURCE, candidate, min_gain=0.02, noise_sigmas=2.0)


def test_a_gain_below_min_gain_does_not_count():
    candidate = profile([2.0, 2.0, 2.0], [98.5, 98.5, 98.5])  # 1.5 % less, noise-free
    assert not screen_lower(SOURCE, candidate, min_gain=0.02, noise_sigmas=2.0)
    assert screen_lower(SOURCE, candidate, min_gain=0.01, noise_sigmas=0.0)


def test_a_gain_within_the_noise_does_not_count():
    noisy = profile([2.0, 2.0, 2.0], [80.0, 100.0, 90.0])  # mean 90, stdev 10
    assert not screen_lower(SOURCE, noisy, min_gain=0.02, noise_sigmas=2.0)
    # the same mean with a tight spread is a real gain
    assert screen_lower(SOURCE, profile([2.0] * 3, [90.0] * 3), min_gain=0.02, noise_sigmas=2.0)


def test_equal_or_worse_never_counts():
    assert not screen_lower(SOURCE, SOURCE, min_gain=0.0, noise_sigmas=0.0)
    worse = profile([2.0, 2.0, 2.0], [120.0, 121.0, 119.0])
    assert not screen_lower(SOURCE, worse, min_gain=0.0, noise_sigmas=0.0)


def test_without_a_sensor_runtime_decides():
    source = profile([2.0, 2.02, 1.98], None)
    faster = profile([1.5, 1.51, 1.49], None)
    assert screen_lower(source, faster, min_gain=0.02, noise_sigmas=2.0)
    assert not screen_lower(faster, source, min_gain=0.02, noise_sigmas=2.0)


def test_mixed_profiles_compare_runtime():
    # one side has no energy figures: the only common quantity is runtime
    same_time = profile([2.0, 2.0, 2.0], None)
    faster = profile([1.5, 1.5, 1.5], None)
    assert not screen_lower(SOURCE, same_time, min_gain=0.02, noise_sigmas=2.0)
    assert screen_lower(SOURCE, faster, min_gain=0.02, noise_sigmas=2.0)


def test_stats_of_one_value_has_no_spread():
    stats = Stats.of([5.0])
    assert (stats.mean, stats.stdev, stats.cv, stats.n) == (5.0, 0.0, 0.0, 1)
    assert Stats.of([1.0, 3.0]).cv == pytest.approx(2**0.5 / 2)
    with pytest.raises(ValueError):
        Stats.of([])


def test_summary_names_the_figures():
    text = SOURCE.summary()
    assert "net 100.00 J/run" in text and "cv 1.0%" in text and "2.000 s/run" in text
    with pytest.raises(ValueError, match="no energy"):
        profile([1.0], None).stats_for("energy")
