"""The decision rule: a claim only when interleaved pairs show a gain beyond doubt.

The pure rule (``decide``) on hand-made figures, then the whole sequential
confirmation (``confirm``) on simulated programs whose figures drift between
and within sessions, have heavy tails and outliers, against a fake clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from lassi_ee.energy.clock import FakeClock
from lassi_ee.energy.decide import (
    DecisionRule,
    decide,
    minimum_detectable_gain,
    screen_lower,
)
from lassi_ee.energy.measure import MeasurementConfig, measure
from lassi_ee.energy.none import NoSensorBackend
from lassi_ee.energy.paired import confirm
from lassi_ee.settings import Settings
from lassi_ee.tools.profile import decision_rule, measurement_config

RULE = DecisionRule(min_gain=0.02, confidence=0.999, pairs_per_look=5, max_pairs=20)


def test_a_clear_gain_is_claimed_and_equal_figures_are_not():
    baseline = [100.0, 101.0, 99.0, 100.5, 99.5]
    lower = decide(baseline, [90.0, 91.2, 89.0, 90.4, 89.6], RULE)
    assert lower.claimed and lower.settled
    assert lower.ratio == pytest.approx(0.9, abs=0.002)
    assert lower.ratio_upper is not None and lower.ratio_upper < 0.98
    same = decide(baseline, [100.2, 100.6, 99.3, 100.1, 99.9], RULE)
    assert not same.claimed and same.settled  # no gain in sight: more pairs would not help
    assert "not lower" in same.reason


def test_a_gain_hidden_in_a_wide_spread_stays_undecided():
    baseline = [100.0, 100.0, 100.0, 100.0, 100.0]
    noisy = [86.0, 96.0, 90.0, 94.0, 88.0]  # 9 % lower on average, but spread out
    decision = decide(baseline, noisy, RULE)
    assert not decision.claimed and not decision.settled
    assert decision.ratio is not None and decision.ratio < 0.98
    assert "undecided" in decision.reason


# A trial's own level (Bonferroni over 11 confirmations of 4 looks), where being out of
# reach matters: at 10 and 15 pairs an optimistic estimate can still miss the cap's bound.
TRIAL_RULE = DecisionRule(min_gain=0.02, confidence=1 - 0.01 / 44, pairs_per_look=5, max_pairs=20)


def pairs_with(mean: float, spread: float, pairs: int) -> list[float]:
    """Candidate figures (baseline 1.0) whose log-ratios have exactly this mean and spread."""
    unit = np.array([1.0, -1.0] * (pairs // 2) + [0.0] * (pairs % 2))
    return list(np.exp(mean + spread * unit / np.std(unit, ddof=1)))


def optimism(spread: float, pairs: int) -> float:
    """How far the optimistic estimate (a one-sided 95 % lower bound) lies below the mean."""
    return float(stats.t.ppf(0.95, pairs - 1)) * spread / math.sqrt(pairs)


def test_a_gain_that_even_the_last_look_could_not_confirm_is_settled_as_out_of_reach():
    spread, pairs = 0.03, 10  # 2.5 % lower, but the spread hides a gain that small
    candidate = pairs_with(math.log(0.975), spread, pairs)
    decision = decide([1.0] * pairs, candidate, TRIAL_RULE)
    assert not decision.claimed and decision.settled
    assert decision.ratio == pytest.approx(0.975) and decision.ratio < 0.98
    assert "out of reach" in decision.reason and "20 pairs" in decision.reason
    at_the_cap = TRIAL_RULE.model_copy(update={"max_pairs": pairs})
    assert "undecided" in decide([1.0] * pairs, candidate, at_the_cap).reason  # nothing to save
    clearer = pairs_with(math.log(0.95), spread, pairs)  # twice the gain: worth more pairs
    assert not decide([1.0] * pairs, clearer, TRIAL_RULE).settled


@pytest.mark.parametrize("step", [-1e-4, 1e-4])
def test_out_of_reach_is_where_an_optimistic_estimate_at_the_cap_meets_the_threshold(step):
    """Pairs whose optimistic estimate, measured to ``max_pairs`` pairs with the same spread,
    would put the upper bound exactly on the threshold: a little lower mean keeps looking, a
    little higher one stops."""
    spread, pairs = 0.02, 10
    gain_at_cap = minimum_detectable_gain(
        spread, TRIAL_RULE.max_pairs, TRIAL_RULE.min_gain, TRIAL_RULE.confidence
    )
    mean = math.log(1 - gain_at_cap) + optimism(spread, pairs) + step
    decision = decide([1.0] * pairs, pairs_with(mean, spread, pairs), TRIAL_RULE)
    assert not decision.claimed and decision.ratio is not None and decision.ratio < 0.98
    assert decision.settled is (step > 0)


def test_the_first_look_is_never_out_of_reach_at_a_trials_level():
    """At 5 pairs the optimistic estimate lies further below the mean than the cap's bound
    lies above it, so only the estimate itself (not below the threshold) stops a first look."""
    for spread in (0.005, 0.02, 0.1):
        for ratio in (0.9, 0.95, 0.979):
            decision = decide([1.0] * 5, pairs_with(math.log(ratio), spread, 5), TRIAL_RULE)
            assert decision.claimed or not decision.settled


def test_figures_at_or_below_zero_claim_nothing():
    decision = decide([10.0, 12.0, 11.0], [-1.0, 0.5, 0.4], RULE)
    assert not decision.claimed and decision.settled and decision.ratio is None
    assert "at or below zero" in decision.reason


def test_one_pair_decides_nothing():
    decision = decide([100.0], [50.0], RULE)
    assert not decision.claimed and not decision.settled


def test_identical_pairs_give_a_point_interval():
    decision = decide([100.0] * 4, [80.0] * 4, RULE)
    assert decision.claimed
    assert decision.ratio_ci95 == pytest.approx((0.8, 0.8))


def test_the_reduction_interval_mirrors_the_ratio_interval():
    decision = decide([100.0, 101.0, 99.0, 100.0], [88.0, 90.0, 87.5, 89.0], RULE)
    assert decision.ratio_ci95 is not None and decision.reduction_ci95 is not None
    low, high = decision.ratio_ci95
    assert decision.reduction_ci95 == pytest.approx((1 - high, 1 - low))
    assert decision.reduction == pytest.approx(1 - decision.ratio)
    assert decision.interval_excludes_no_change
    # the interval is scipy's t interval of the mean log-ratio, mapped back
    diffs = np.log(np.array([88.0, 90.0, 87.5, 89.0]) / np.array([100.0, 101.0, 99.0, 100.0]))
    expected = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((math.exp(expected.low), math.exp(expected.high)))


def test_a_trials_level_is_split_over_every_look_of_every_confirmation():
    rule = decision_rule(Settings(max_iterations=10))
    assert rule.looks == 4  # 5, 10, 15, 20 pairs
    assert rule.confidence == pytest.approx(1 - 0.01 / (11 * 4))
    tighter = decision_rule(Settings(max_iterations=10, false_claim_rate=0.001))
    assert tighter.confidence > rule.confidence
    longer = decision_rule(Settings(max_iterations=30))
    assert longer.confidence > rule.confidence


def test_the_minimum_detectable_gain_is_where_the_upper_bound_meets_the_threshold():
    spread, pairs = 0.02, 10
    gain = minimum_detectable_gain(spread, pairs, RULE.min_gain, RULE.confidence)
    # pairs whose log-ratios have exactly that mean and that spread sit on the threshold
    unit = np.array([1.0, -1.0] * (pairs // 2))
    diffs = math.log(1 - gain) + spread * unit / np.std(unit, ddof=1)
    decision = decide([1.0] * pairs, list(np.exp(diffs)), RULE.model_copy())
    assert decision.ratio_upper == pytest.approx(1 - RULE.min_gain, rel=1e-9)
    assert gain > RULE.min_gain
    assert minimum_detectable_gain(spread, 2 * pairs, RULE.min_gain, RULE.confidence) < gain


# --- the sequential confirmation on simulated programs ---------------------------------


class Board:
    """Programs on one simulated device: runtime per run = base x drift(t) x noise.

    ``drift`` is a common factor of time (the board warming up, clocks moving); noise
    is drawn per run from a Student t (heavy tails for small df), with rare outliers.
    The time-only backend makes the objective runtime, which then carries every effect.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        drift: Callable[[float], float] = lambda t: 1.0,
        noise: float = 0.01,
        tail_df: float = 30.0,
        outlier_rate: float = 0.0,
        outlier_size: float = 0.3,
    ) -> None:
        self.rng, self.drift, self.noise = rng, drift, noise
        self.tail_df, self.outlier_rate, self.outlier_size = tail_df, outlier_rate, outlier_size
        self.clock = FakeClock()
        self.backend = NoSensorBackend("simulated-0", "a simulated board")

    def program(self, base_s: float) -> Callable[[int], list[float]]:
        def run_batch(runs: int) -> list[float]:
            runtimes = []
            for _ in range(runs):
                factor = 1.0 + self.noise * float(self.rng.standard_t(self.tail_df))
                if self.rng.random() < self.outlier_rate:
                    factor += self.outlier_size * float(self.rng.choice([-1.0, 1.0]))
                runtime = base_s * self.drift(self.clock.now()) * max(factor, 0.05)
                self.clock.sleep(runtime)
                runtimes.append(runtime)
            return runtimes

        return run_batch


def confirmations(
    board: Board, ratio: float, rule: DecisionRule, count: int, config: MeasurementConfig
):
    """``count`` confirmations of a candidate ``ratio`` times the baseline's runtime."""
    baseline, candidate = board.program(1.0), board.program(ratio)
    return [
        confirm(board.backend, baseline, candidate, rule, config, None, clock=board.clock)
        for _ in range(count)
    ]


@pytest.fixture
def fast_settings(settings):
    return settings.with_overrides(min_window_s=0.5)


@pytest.fixture
def fast(fast_settings) -> MeasurementConfig:
    return measurement_config(fast_settings)


# A level at which false claims are frequent enough to count: each look may err with
# probability 0.05 when the candidate is exactly at the threshold (min_gain 0), so a
# confirmation of 4 looks errs with probability at most 0.2 (the union bound).
LOOSE = DecisionRule(min_gain=0.0, confidence=0.95, pairs_per_look=5, max_pairs=20)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drift_between=st.floats(0.0, 0.1),
    drift_within=st.floats(0.0, 0.05),
    noise=st.floats(0.002, 0.05),
    tail_df=st.floats(1.5, 30.0),
    outlier_rate=st.floats(0.0, 0.1),
    seed=st.integers(0, 2**32 - 1),
)
def test_equal_programs_are_claimed_lower_no_more_often_than_the_level_allows(
    drift_between, drift_within, noise, tail_df, outlier_rate, seed, settings
):
    rng = np.random.default_rng(seed)
    sessions = 120
    offsets = iter(1.0 + drift_between * rng.standard_normal(sessions * 2))
    level = {"factor": 1.0}

    def drift(t: float) -> float:  # a level per session, and a slow wave within it
        return level["factor"] * (1.0 + drift_within * math.sin(t / 7.0))

    board = Board(rng, drift=drift, noise=noise, tail_df=tail_df, outlier_rate=outlier_rate)
    fast = measurement_config(settings.with_overrides(min_window_s=0.5))
    claims = 0
    for _ in range(sessions):
        level["factor"] = next(offsets)
        (result,) = confirmations(board, 1.0, LOOSE, 1, fast)
        claims += result.decision.claimed
    # at most 0.2 per confirmation by the union bound; 0.3 leaves room for sampling error
    # (P(Binomial(120, 0.2) > 36) < 0.3 %)
    assert claims <= 0.3 * sessions
    strict = decision_rule(settings)
    assert not any(r.decision.claimed for r in confirmations(board, 1.0, strict, 30, fast))


@pytest.mark.parametrize(("ratio", "noise"), [(0.85, 0.02), (0.9, 0.01)])
def test_a_real_gain_beyond_the_noise_is_claimed(ratio, noise, fast_settings, fast):
    board = Board(np.random.default_rng(7), noise=noise, tail_df=5.0)
    rule = decision_rule(fast_settings)
    results = confirmations(board, ratio, rule, 40, fast)
    claimed = [r for r in results if r.decision.claimed]
    assert len(claimed) >= 38
    for result in claimed:
        low, high = result.decision.ratio_ci95
        assert low - 0.02 < ratio < high + 0.02


def test_drift_between_sessions_fools_the_screen_but_not_the_confirmation(fast_settings, fast):
    """The H200 case: the same binary measured minutes apart moved by 5-8 % while its
    repeats agreed within 0.5 %."""
    level = {"factor": 1.0}
    board = Board(np.random.default_rng(3), drift=lambda t: level["factor"], noise=0.003)
    program = board.program(1.0)
    config = fast.model_copy(update={"repeats": 3})
    before = measure(board.backend, program, config, None, clock=board.clock)
    level["factor"] = 0.93  # the board is 7 % faster now: clocks, temperature
    after = measure(board.backend, program, config, None, clock=board.clock)
    assert screen_lower(before, after, min_gain=0.02, noise_sigmas=2.0)  # a false win
    rule = decision_rule(fast_settings)
    result = confirm(board.backend, program, program, rule, config, None, clock=board.clock)
    assert not result.decision.claimed
    assert result.decision.ratio == pytest.approx(1.0, abs=0.01)


def test_windows_alternate_a_b_b_a(fast, tmp_path):
    board = Board(np.random.default_rng(1))
    rule = DecisionRule.fixed(4, 0.02, 0.95)
    timeline_path = tmp_path / "timeline.json"
    result = confirm(
        board.backend, board.program(1.0), board.program(1.0), rule, fast,
        timeline_path, labels=("source", "v2"), clock=board.clock,
    )  # fmt: skip
    assert result.measurement.orders == ["AB", "BA", "AB", "BA"]
    from lassi_ee.energy.base import Timeline

    timeline = Timeline.load(timeline_path)
    windows = [m.label for m in timeline.markers if m.event == "window_start"]
    assert windows == ["source", "v2", "v2", "source"] * 2
    warmups = [m.label for m in timeline.markers if m.event == "warmup_start"]
    assert warmups == ["source", "v2"]
    assert len(result.measurement.baseline) == len(result.measurement.candidate) == 4


def test_a_confirmation_says_when_where_how_many_and_how_spread(fast):
    """The evidence line a reviewer weighs a claimed figure by."""
    board = Board(np.random.default_rng(1), noise=0.01)
    rule = DecisionRule.fixed(4, 0.02, 0.95)
    before = dt.datetime.now(dt.UTC)
    result = confirm(
        board.backend, board.program(1.0), board.program(0.8), rule, fast, None,
        labels=("source", "v2"), clock=board.clock,
    )  # fmt: skip
    measurement = result.measurement
    assert measurement.started_at is not None
    assert before <= measurement.started_at <= dt.datetime.now(dt.UTC)
    evidence = result.evidence()
    assert f"measured {measurement.started_at:%Y-%m-%d %H:%M} UTC on " in evidence
    assert board.backend.describe() in evidence
    runs = measurement.runs_per_window[0]
    assert f"4 pairs of windows of {runs} run" in evidence
    assert result.decision.spread is not None and 0.0 < result.decision.spread < 0.05
    assert f"per-pair spread {100 * result.decision.spread:.2f} %" in evidence


def test_both_programs_get_the_same_runs_per_window(fast):
    """A faster candidate does not get a longer window of more runs than its baseline,
    and a cold first warm-up does not split two runs of one binary."""
    board = Board(np.random.default_rng(5), noise=0.0)
    rule = DecisionRule.fixed(2, 0.02, 0.95)
    result = confirm(
        board.backend, board.program(0.3), board.program(0.1), rule, fast, None,
        clock=board.clock,
    )  # fmt: skip
    assert result.measurement.runs_per_window == (5, 5)  # 0.5 s windows: 0.1 s needs 5


def test_a_confirmation_stops_at_the_first_look_that_settles_it(fast_settings, fast):
    board = Board(np.random.default_rng(2), noise=0.002)
    rule = decision_rule(fast_settings)
    (clear,) = confirmations(board, 0.7, rule, 1, fast)
    assert clear.decision.claimed and clear.measurement.pairs == rule.pairs_per_look
    (futile,) = confirmations(board, 1.05, rule, 1, fast)
    assert not futile.decision.claimed and futile.measurement.pairs == rule.pairs_per_look
    noisy = Board(np.random.default_rng(4), noise=0.02)
    (undecided,) = confirmations(noisy, 0.95, rule, 1, fast)
    assert undecided.measurement.pairs > rule.pairs_per_look
    near = Board(np.random.default_rng(6), noise=0.03)  # 3 % lower: no look could confirm it
    (hopeless,) = confirmations(near, 0.97, rule, 1, fast)
    assert hopeless.measurement.pairs < rule.max_pairs
    assert "out of reach" in hopeless.decision.reason
