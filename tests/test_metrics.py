"""pass@k, energy-reduction@k and their campaign summaries, checked against hand-worked values
and brute force over every k-subset."""

from __future__ import annotations

import itertools
import math
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lassi_ee.metrics import (
    MetricRow,
    StageComparison,
    TrialOutcome,
    compare_stages,
    energy_reduction_at_k,
    energy_reduction_at_k_valid,
    expected_best_of_k,
    pass_at_k,
    relative_reductions,
    summarize,
)

# --------------------------------------------------------------------------- references
# Written from the definitions, by enumeration, sharing no code with lassi_ee.metrics.


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of the k-subsets of n trials (the first c valid) holding a valid trial."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


def brute_reduction(source: float, value: float) -> float:
    return max((source - value) / source, 0.0)


def brute_best_of_k_distribution(reductions: list[float], k: int) -> list[float]:
    """The best reduction of every equally likely draw of k (all of them when fewer)."""
    if len(reductions) <= k:
        return [max(reductions)]
    return [max(subset) for subset in itertools.combinations(reductions, k)]


def brute_best_of_k(reductions: list[float], k: int) -> float:
    if not reductions:
        return 0.0
    return statistics.fmean(brute_best_of_k_distribution(reductions, k))


energies = st.floats(min_value=0.0, max_value=1000.0, allow_nan=False)
sources = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False)


# --------------------------------------------------------------------------- pass@k


def test_pass_at_k_hand_worked() -> None:
    # n=5 trials, c=2 valid.
    # k=1: 1 - C(3,1)/C(5,1) = 1 - 3/5 = 0.4
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    # k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # k=3: 1 - C(3,3)/C(5,3) = 1 - 1/10 = 0.9
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    # k=4: only 3 invalid trials, so any 4 hold a valid one.
    assert pass_at_k(5, 2, 4) == 1.0
    # n=30, c=1, k=5: 1 - C(29,5)/C(30,5) = 1 - 25/30 = 1/6
    assert pass_at_k(30, 1, 5) == pytest.approx(1 / 6)


def test_pass_at_k_edges() -> None:
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 0, 5) == 0.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(5, 1, 5) == 1.0  # k = n: every trial is drawn
    # One valid in a million, k=1: exactly c/n, with no cancellation.
    assert pass_at_k(10**6, 1, 1) == pytest.approx(1e-6, rel=1e-9)


@pytest.mark.parametrize(
    ("n", "c", "k", "fragment"),
    [
        (0, 0, 1, "at least one trial"),
        (5, -1, 1, "between 0 and n=5"),
        (5, 6, 1, "between 0 and n=5"),
        (5, 2, 0, "k must be between 1"),
        (5, 2, 6, "k must be between 1"),
    ],
)
def test_pass_at_k_rejects_bad_input(n: int, c: int, k: int, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        pass_at_k(n, c, k)


@given(st.integers(1, 10).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), st.data())
def test_pass_at_k_equals_enumeration(nc: tuple[int, int], data: st.DataObject) -> None:
    n, c = nc
    k = data.draw(st.integers(1, n))
    assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12)


@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), st.data())
def test_pass_at_k_stable_for_large_n(nc: tuple[int, int], data: st.DataObject) -> None:
    # The exact rational value, from the (huge) binomials the implementation avoids.
    n, c = nc
    k = data.draw(st.integers(1, n))
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_monotone_in_k(nc: tuple[int, int]) -> None:
    n, c = nc
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))


# --------------------------------------------------------------------------- energy-reduction@k


def test_energy_reduction_hand_worked() -> None:
    # Source 100 J; valid candidates 80 J, 50 J, 120 J -> reductions 0.2, 0.5, 0 (120 J is
    # worse than the source: clamped). Sorted: 0, 0.2, 0.5.
    valid = [80.0, 50.0, 120.0]
    # k=1: the mean, (0 + 0.2 + 0.5) / 3
    assert energy_reduction_at_k_valid(100.0, valid, 1) == pytest.approx(0.7 / 3)
    # k=2: pairs {0,0.2}->0.2, {0,0.5}->0.5, {0.2,0.5}->0.5: (0.2 + 0.5 + 0.5) / 3 = 0.4
    assert energy_reduction_at_k_valid(100.0, valid, 2) == pytest.approx(0.4)
    # k=3 and k=5 (fewer valid than k: all of them): the best, 0.5
    assert energy_reduction_at_k_valid(100.0, valid, 3) == pytest.approx(0.5)
    assert energy_reduction_at_k_valid(100.0, valid, 5) == pytest.approx(0.5)
    # With n=5 trials (3 valid):
    # k=1: pass@1 = 3/5, so 0.6 * 0.7/3 = 0.14
    assert energy_reduction_at_k(100.0, valid, 5, 1) == pytest.approx(0.14)
    # k=2: pass@2 = 1 - C(2,2)/C(5,2) = 0.9, so 0.9 * 0.4 = 0.36
    assert energy_reduction_at_k(100.0, valid, 5, 2) == pytest.approx(0.36)
    # k=3: pass@3 = 1 (only 2 invalid), so 0.5
    assert energy_reduction_at_k(100.0, valid, 5, 3) == pytest.approx(0.5)


def test_energy_reduction_is_unit_free() -> None:
    # Runtimes in seconds instead of joules: only the ratios matter.
    assert energy_reduction_at_k_valid(2.0, [1.0, 1.5], 1) == pytest.approx(
        energy_reduction_at_k_valid(200.0, [100.0, 150.0], 1)
    )
    assert energy_reduction_at_k_valid(2.0, [1.0, 1.5], 1) == pytest.approx((0.5 + 0.25) / 2)


def test_no_valid_candidate_gives_zero() -> None:
    assert energy_reduction_at_k_valid(100.0, [], 1) == 0.0
    assert energy_reduction_at_k_valid(100.0, [], 3, method="monte_carlo") == 0.0
    assert energy_reduction_at_k(100.0, [], 30, 5) == 0.0


@given(sources, st.lists(st.floats(min_value=1.0, max_value=3.0), min_size=1, max_size=8))
def test_clamped_at_zero_when_every_candidate_uses_more(source: float, factors: list) -> None:
    worse = [source * f for f in factors]
    for k in (1, 3, 5):
        assert energy_reduction_at_k_valid(source, worse, k) == 0.0
        assert energy_reduction_at_k_valid(source, worse, k, method="monte_carlo", samples=50) == 0
        assert energy_reduction_at_k(source, worse, 10, k) == 0.0


@given(sources, st.lists(energies, max_size=8), st.integers(1, 10))
def test_exact_equals_brute_force(source: float, valid: list[float], k: int) -> None:
    reductions = [brute_reduction(source, e) for e in valid]
    expected = brute_best_of_k(reductions, k)
    assert energy_reduction_at_k_valid(source, valid, k) == pytest.approx(expected, abs=1e-12)


@given(sources, st.lists(energies, max_size=8), st.data())
def test_energy_reduction_at_k_is_product(source: float, valid: list, data: st.DataObject) -> None:
    n = data.draw(st.integers(max(len(valid), 1), 12))
    k = data.draw(st.integers(1, n))
    reductions = [brute_reduction(source, e) for e in valid]
    expected = brute_pass_at_k(n, len(valid), k) * brute_best_of_k(reductions, k)
    assert energy_reduction_at_k(source, valid, n, k) == pytest.approx(expected, abs=1e-12)


@given(sources, st.lists(energies, min_size=1, max_size=12), st.integers(0, 10))
def test_monotone_in_k_and_bounded(source: float, valid: list[float], invalid: int) -> None:
    n = len(valid) + invalid
    best = max(brute_reduction(source, e) for e in valid)
    valid_only = [energy_reduction_at_k_valid(source, valid, k) for k in range(1, n + 1)]
    overall = [energy_reduction_at_k(source, valid, n, k) for k in range(1, n + 1)]
    for values in (valid_only, overall):
        assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))
        assert all(0.0 <= v <= best + 1e-12 for v in values)
    assert valid_only[-1] == pytest.approx(best)  # k >= m: the best one is always drawn


@settings(max_examples=40, deadline=None)
@given(sources, st.lists(energies, min_size=2, max_size=7), st.integers(1, 6))
def test_monte_carlo_converges_to_exact(source: float, valid: list[float], k: int) -> None:
    # The Monte Carlo mean of `samples` draws has standard error sd / sqrt(samples), with sd
    # the spread of the best-of-k over all draws (enumerated here). Seeded: deterministic.
    samples = 4000
    outcomes = brute_best_of_k_distribution([brute_reduction(source, e) for e in valid], k)
    exact = statistics.fmean(outcomes)
    sd = statistics.pstdev(outcomes)
    estimate = energy_reduction_at_k_valid(source, valid, k, method="monte_carlo", samples=samples)
    assert abs(estimate - exact) <= 5 * sd / math.sqrt(samples) + 1e-12


def test_monte_carlo_default_samples_close_to_exact() -> None:
    # 30 trials' worth of spread-out reductions, at the paper's k values.
    source = 100.0
    valid = [100.0 - 3.0 * i for i in range(30)]  # reductions 0, 0.03, ..., 0.87
    for k in (1, 3, 5):
        exact = energy_reduction_at_k_valid(source, valid, k)
        estimate = energy_reduction_at_k_valid(source, valid, k, method="monte_carlo")
        # sd of a best-of-k here is below 0.26, so 5 standard errors at 100 000 draws < 0.005.
        assert estimate == pytest.approx(exact, abs=0.005)
        assert estimate != exact  # it really sampled


def test_monte_carlo_is_reproducible_for_a_seed() -> None:
    valid = [10.0, 40.0, 55.0, 70.0, 90.0, 95.0]
    one = energy_reduction_at_k_valid(100.0, valid, 2, method="monte_carlo", samples=500, seed=7)
    two = energy_reduction_at_k_valid(100.0, valid, 2, method="monte_carlo", samples=500, seed=7)
    other = energy_reduction_at_k_valid(100.0, valid, 2, method="monte_carlo", samples=500, seed=8)
    assert one == two
    assert one != other


def test_monte_carlo_with_fewer_valid_than_k_is_the_best() -> None:
    assert energy_reduction_at_k_valid(
        100.0, [80.0, 60.0], 3, method="monte_carlo", samples=10
    ) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: energy_reduction_at_k_valid(0.0, [1.0], 1), "source measurement"),
        (lambda: energy_reduction_at_k_valid(-5.0, [1.0], 1), "source measurement"),
        (lambda: energy_reduction_at_k_valid(math.nan, [1.0], 1), "source measurement"),
        (lambda: energy_reduction_at_k_valid(10.0, [-1.0], 1), "non-negative"),
        (lambda: energy_reduction_at_k_valid(10.0, [math.inf], 1), "non-negative"),
        (lambda: energy_reduction_at_k_valid(10.0, [1.0], 0), "k must be at least 1"),
        (lambda: energy_reduction_at_k_valid(10.0, [1.0], 1, method="mc"), "unknown method"),  # type: ignore[arg-type]
        (
            lambda: energy_reduction_at_k_valid(10.0, [1.0], 1, method="monte_carlo", samples=0),
            "at least one sample",
        ),
        (lambda: energy_reduction_at_k(10.0, [1.0, 2.0], 1, 1), "between 0 and n=1"),
        (lambda: energy_reduction_at_k(10.0, [1.0], 3, 4), "k must be between 1"),
    ],
)
def test_energy_reduction_rejects_bad_input(call, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        call()


def test_relative_reductions_and_expected_best_of_k() -> None:
    assert relative_reductions(50.0, [25.0, 50.0, 75.0, 0.0]) == [0.5, 0.0, 0.0, 1.0]
    # Order statistics on raw values: best of 2 from {1, 2, 3, 4} = (2*1 + 3*2 + 4*3) / 6
    assert expected_best_of_k([3.0, 1.0, 4.0, 2.0], 2) == pytest.approx(20 / 6)


# --------------------------------------------------------------------------- summaries


def outcome(app: str, device: str, trial: int, stage: str, energy: float | None, source: float):
    """A valid outcome when energy is given, an invalid one otherwise."""
    return TrialOutcome(
        app=app,
        device=device,
        trial=trial,
        stage=stage,  # type: ignore[arg-type]
        valid=energy is not None,
        energy_j=energy,
        source_energy_j=source,
    )


def campaign() -> list[TrialOutcome]:
    """Two devices, apps a and b on h100 and only a on mi250, 4 trials each.

    Per task, with c valid of n=4 and reductions r (pass@1 = c/4; pass@3 = 1 - C(4-c,3)/4):
      h100 a vanilla: 80, -, -, 120 of 100      r = .2, 0     k=1: .5*.1=.05      k=3: 1*.2=.2
      h100 a full:    50, 70, -, 90 of 100      r = .5,.3,.1  k=1: .75*.3=.225    k=3: 1*.5=.5
      h100 b vanilla: none valid (runtimes, s)                k=1: 0              k=3: 0
      h100 b full:    -, 5, -, - of 10          r = .5        k=1: .25*.5=.125    k=3: .75*.5=.375
      mi250 a vanilla: 150 of 200, -, 200 of 250, -  r = .25,.2  k=1: .5*.225=.1125  k=3: 1*.25
      mi250 a full:   100/200, 100/200, 125/250, 300/250  r = .5,.5,.5,0
                                                              k=1: 1*.375         k=3: 1*.5
    (every 3 of {0,.5,.5,.5} holds a .5)
    """
    rows: list[tuple[str, str, str, list[float | None], list[float]]] = [
        ("a", "h100", "vanilla", [80.0, None, None, 120.0], [100.0] * 4),
        ("a", "h100", "full", [50.0, 70.0, None, 90.0], [100.0] * 4),
        ("b", "h100", "vanilla", [None] * 4, [10.0] * 4),
        ("b", "h100", "full", [None, 5.0, None, None], [10.0] * 4),
        ("a", "mi250", "vanilla", [150.0, None, 200.0, None], [200.0, 200.0, 250.0, 250.0]),
        ("a", "mi250", "full", [100.0, 100.0, 125.0, 300.0], [200.0, 200.0, 250.0, 250.0]),
    ]
    return [
        outcome(app, device, trial, stage, energy, source)
        for app, device, stage, trial_energies, trial_sources in rows
        for trial, (energy, source) in enumerate(zip(trial_energies, trial_sources, strict=True))
    ]


# (app, device, stage, k) -> (pass@k, energy-reduction@k), from campaign()'s docstring and
# the means of those by hand (device None: the three tasks).
EXPECTED = {
    ("a", "h100", "vanilla", 1): (0.5, 0.05),
    ("a", "h100", "vanilla", 3): (1.0, 0.2),
    ("a", "h100", "full", 1): (0.75, 0.225),
    ("a", "h100", "full", 3): (1.0, 0.5),
    ("b", "h100", "vanilla", 1): (0.0, 0.0),
    ("b", "h100", "vanilla", 3): (0.0, 0.0),
    ("b", "h100", "full", 1): (0.25, 0.125),
    ("b", "h100", "full", 3): (0.75, 0.375),
    ("a", "mi250", "vanilla", 1): (0.5, 0.1125),
    ("a", "mi250", "vanilla", 3): (1.0, 0.25),
    ("a", "mi250", "full", 1): (1.0, 0.375),
    ("a", "mi250", "full", 3): (1.0, 0.5),
    (None, "h100", "vanilla", 1): (0.25, 0.025),
    (None, "h100", "vanilla", 3): (0.5, 0.1),
    (None, "h100", "full", 1): (0.5, 0.175),
    (None, "h100", "full", 3): (0.875, 0.4375),
    (None, "mi250", "vanilla", 1): (0.5, 0.1125),
    (None, "mi250", "vanilla", 3): (1.0, 0.25),
    (None, "mi250", "full", 1): (1.0, 0.375),
    (None, "mi250", "full", 3): (1.0, 0.5),
    (None, None, "vanilla", 1): (1 / 3, 0.1625 / 3),
    (None, None, "vanilla", 3): (2 / 3, 0.45 / 3),
    (None, None, "full", 1): (2 / 3, 0.725 / 3),
    (None, None, "full", 3): (2.75 / 3, 1.375 / 3),
}


def by_key(rows: list[MetricRow]) -> dict:
    return {(r.app, r.device, r.stage, r.k): r for r in rows}


def test_summarize_matches_hand_worked_campaign() -> None:
    rows = summarize(campaign(), ks=(1, 3))
    got = by_key(rows)
    assert len(rows) == len(got) == len(EXPECTED)
    for key, (passed, reduced) in EXPECTED.items():
        assert got[key].pass_at_k == pytest.approx(passed), key
        assert got[key].energy_reduction_at_k == pytest.approx(reduced), key
    everything = got[(None, None, "full", 1)]
    assert (everything.n_tasks, everything.n_trials, everything.n_valid) == (3, 12, 8)
    h100 = got[(None, "h100", "vanilla", 3)]
    assert (h100.n_tasks, h100.n_trials, h100.n_valid) == (2, 8, 2)
    app = got[("a", "mi250", "full", 3)]
    assert (app.n_tasks, app.n_trials, app.n_valid) == (1, 4, 4)


def test_summarize_order_means_first() -> None:
    keys = [(r.app, r.device, r.stage, r.k) for r in summarize(campaign(), ks=(3, 1))]
    means = [
        (d, s, k) for s in ("vanilla", "full") for d in ("h100", "mi250", None) for k in (1, 3)
    ]
    apps = [
        (a, d, s, k)
        for d, a in (("h100", "a"), ("h100", "b"), ("mi250", "a"))
        for s in ("vanilla", "full")
        for k in (1, 3)
    ]
    assert keys == [(None, d, s, k) for d, s, k in means] + apps


def test_summarize_monte_carlo_is_close_and_reproducible() -> None:
    exact = by_key(summarize(campaign(), ks=(1, 3)))
    first = summarize(campaign(), ks=(1, 3), method="monte_carlo", samples=20_000, seed=3)
    again = summarize(campaign(), ks=(1, 3), method="monte_carlo", samples=20_000, seed=3)
    assert first == again
    for row in first:
        key = (row.app, row.device, row.stage, row.k)
        assert row.pass_at_k == exact[key].pass_at_k  # pass@k has no sampling
        assert row.energy_reduction_at_k == pytest.approx(
            exact[key].energy_reduction_at_k, abs=0.01
        )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["x", "y"]),
            st.sampled_from(["d1", "d2"]),
            st.sampled_from(["vanilla", "full"]),
            st.lists(st.one_of(st.none(), energies), min_size=3, max_size=6),
            sources,
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda t: t[:3],
    )
)
def test_summarize_equals_enumeration(tasks: list) -> None:
    outcomes = [
        outcome(app, device, trial, stage, energy, source)
        for app, device, stage, trial_energies, source in tasks
        for trial, energy in enumerate(trial_energies)
    ]
    ks = (1, 2, 3)
    got = by_key(summarize(outcomes, ks=ks))
    per_task = {}
    for app, device, stage, trial_energies, source in tasks:
        reductions = [brute_reduction(source, e) for e in trial_energies if e is not None]
        for k in ks:
            passed = brute_pass_at_k(len(trial_energies), len(reductions), k)
            per_task[(app, device, stage, k)] = (passed, passed * brute_best_of_k(reductions, k))
    for key, (passed, reduced) in per_task.items():
        assert got[key].pass_at_k == pytest.approx(passed, abs=1e-12)
        assert got[key].energy_reduction_at_k == pytest.approx(reduced, abs=1e-12)
    for device in ("d1", "d2", None):
        for stage in ("vanilla", "full"):
            for k in ks:
                members = [
                    value
                    for (_, d, s, kk), value in per_task.items()
                    if s == stage and kk == k and device in (None, d)
                ]
                if not members:
                    assert (None, device, stage, k) not in got
                    continue
                row = got[(None, device, stage, k)]
                assert row.n_tasks == len(members)
                assert row.pass_at_k == pytest.approx(statistics.fmean(m[0] for m in members))
                assert row.energy_reduction_at_k == pytest.approx(
                    statistics.fmean(m[1] for m in members)
                )


def test_summarize_rejects_a_trial_recorded_twice() -> None:
    outcomes = [*campaign(), outcome("a", "h100", 0, "vanilla", 10.0, 100.0)]
    with pytest.raises(ValueError, match=r"trial 0 of app 'a' on device 'h100'.*appears twice"):
        summarize(outcomes, ks=(1,))


def test_summarize_rejects_k_above_the_trial_count() -> None:
    with pytest.raises(ValueError, match="k=5 exceeds the 4 trial"):
        summarize(campaign())  # default ks (1, 3, 5), 4 trials per task


def test_summarize_rejects_empty_or_non_positive_ks() -> None:
    for ks in ((), (0, 1)):
        with pytest.raises(ValueError, match="ks must be"):
            summarize(campaign(), ks=ks)


def test_summarize_of_nothing_is_empty() -> None:
    assert summarize([], ks=(1,)) == []


def test_outcome_validation() -> None:
    with pytest.raises(ValidationError, match="needs energy_j"):
        TrialOutcome(app="a", device="d", trial=0, stage="full", valid=True, source_energy_j=1.0)
    with pytest.raises(ValidationError):
        outcome("a", "d", 0, "full", 1.0, 0.0)  # a source of 0 J has nothing to reduce
    with pytest.raises(ValidationError):
        outcome("a", "d", 0, "full", -1.0, 1.0)
    with pytest.raises(ValidationError):
        outcome("a", "d", 0, "staged", 1.0, 1.0)
    # An invalid outcome may carry a measurement; it is ignored.
    ignored = TrialOutcome(
        app="a", device="d", trial=0, stage="full", valid=False, energy_j=0.0, source_energy_j=1.0
    )
    row = by_key(summarize([ignored], ks=(1,)))[("a", "d", "full", 1)]
    assert (row.n_valid, row.energy_reduction_at_k) == (0, 0.0)


def test_compare_stages_pairs_by_trial() -> None:
    # Trial 4 of app a on h100 has a vanilla outcome only (cut off before the full stage).
    # summarize() counts it; compare_stages() must not.
    unpaired = outcome("a", "h100", 4, "vanilla", 10.0, 100.0)
    outcomes = [*campaign(), unpaired]
    assert by_key(summarize(outcomes, ks=(1, 3)))[("a", "h100", "vanilla", 1)].n_trials == 5

    comparisons = compare_stages(outcomes, ks=(1, 3))
    got = {(c.app, c.device, c.k): c for c in comparisons}
    assert len(comparisons) == len(got) == len(EXPECTED) // 2
    for (app, device, stage, k), (passed, reduced) in EXPECTED.items():
        if stage != "full":
            continue
        vanilla_pass, vanilla_reduced = EXPECTED[(app, device, "vanilla", k)]
        row = got[(app, device, k)]
        assert isinstance(row, StageComparison)
        assert row.vanilla_pass_at_k == pytest.approx(vanilla_pass)
        assert row.full_pass_at_k == pytest.approx(passed)
        assert row.delta_pass_at_k == pytest.approx(passed - vanilla_pass)
        assert row.vanilla_energy_reduction_at_k == pytest.approx(vanilla_reduced)
        assert row.full_energy_reduction_at_k == pytest.approx(reduced)
        assert row.delta_energy_reduction_at_k == pytest.approx(reduced - vanilla_reduced)
    # By hand, all devices at k=3: pass 2.75/3 - 2/3 = 0.25; reduction (1.375 - 0.45)/3.
    assert got[(None, None, 3)].delta_pass_at_k == pytest.approx(0.25)
    assert got[(None, None, 3)].delta_energy_reduction_at_k == pytest.approx(0.925 / 3)
    assert (got[(None, None, 3)].n_tasks, got[(None, None, 3)].n_pairs) == (3, 12)


def test_compare_stages_with_no_pairs_is_empty() -> None:
    only_vanilla = [o for o in campaign() if o.stage == "vanilla"]
    assert compare_stages(only_vanilla, ks=(1,)) == []
