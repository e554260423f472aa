"""pass@k and energy-reduction@k for one task (one app on one device, one stage).

The estimators follow the LASSI-EE paper:

- pass@k is Chen et al.'s unbiased estimator: the chance that at least one of
  k trials drawn without replacement from n is valid, given c of the n were.
- energy-reduction@k_valid is the expected best relative reduction
  max((E_source - E_i) / E_source, 0) among k candidates drawn without
  replacement from the valid ones (all of them when fewer than k are valid).
- energy-reduction@k = pass@k x energy-reduction@k_valid.

Nothing here cares which quantity is reduced: on a device without an energy
sensor the objective falls back to runtime, and the same functions take
runtimes instead of energies (the ratio has no unit).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal

Method = Literal["exact", "monte_carlo"]
METHODS: tuple[Method, ...] = ("exact", "monte_carlo")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k of the n trials is valid, given c were: 1 - C(n-c,k)/C(n,k).

    Computed as the product 1 - prod_{i=n-c+1..n} (1 - k/i), which never forms the
    (possibly huge) binomial coefficients.
    """
    if n < 1:
        raise ValueError(f"pass@k needs at least one trial, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"the number of valid trials must be between 0 and n={n}, got c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of trials n={n}, got k={k}")
    if n - c < k:
        return 1.0
    none_valid = 1.0
    for i in range(n - c + 1, n + 1):
        none_valid *= 1.0 - k / i
    return 1.0 - none_valid


def relative_reductions(source: float, candidates: Sequence[float]) -> list[float]:
    """Each candidate's reduction against the source, (source - x) / source, clamped at 0.

    A candidate that uses more than the source counts as no reduction, not as a loss:
    the pipeline would keep the source instead.
    """
    if not (math.isfinite(source) and source > 0):
        raise ValueError(f"the source measurement must be a positive number, got {source}")
    reductions = []
    for value in candidates:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"candidate measurements must be non-negative numbers, got {value}")
        reductions.append(max((source - value) / source, 0.0))
    return reductions


def expected_best_of_k(
    values: Sequence[float],
    k: int,
    method: Method = "exact",
    samples: int = 100_000,
    seed: int = 0,
) -> float:
    """Expected maximum of k values drawn without replacement (all of them when fewer than k).

    "exact" uses order statistics: with the m values sorted ascending, the i-th
    smallest is the maximum of a k-subset with probability C(i-1, k-1) / C(m, k).
    "monte_carlo" draws ``samples`` k-subsets from random.Random(seed), as the paper
    estimates it; the same seed gives the same figure. 0.0 when there are no values.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got k={k}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    if samples < 1:
        raise ValueError(f"monte_carlo needs at least one sample, got samples={samples}")
    if not values:
        return 0.0
    m = len(values)
    if m <= k:
        return max(values)
    if method == "exact":
        ordered = sorted(values)
        subsets = math.comb(m, k)
        # int / int is correctly rounded in Python, so each weight is accurate for any m.
        return math.fsum(
            math.comb(i - 1, k - 1) / subsets * ordered[i - 1] for i in range(k, m + 1)
        )
    rng = random.Random(seed)
    pool = list(values)
    return math.fsum(max(rng.sample(pool, k)) for _ in range(samples)) / samples


def energy_reduction_at_k_valid(
    e_source: float,
    valid_energies: Sequence[float],
    k: int,
    method: Method = "exact",
    samples: int = 100_000,
    seed: int = 0,
) -> float:
    """Expected best relative reduction among k valid candidates (0.0 when none is valid).

    ``e_source`` and ``valid_energies`` are in the same unit: joules where the device
    measures energy, seconds where the objective falls back to runtime.
    """
    reductions = relative_reductions(e_source, valid_energies)
    return expected_best_of_k(reductions, k, method=method, samples=samples, seed=seed)


def energy_reduction_at_k(
    e_source: float,
    valid_energies: Sequence[float],
    n: int,
    k: int,
    method: Method = "exact",
    samples: int = 100_000,
    seed: int = 0,
) -> float:
    """pass@k over n trials times energy-reduction@k_valid, the paper's energy-reduction@k."""
    passed = pass_at_k(n, len(valid_energies), k)
    best = energy_reduction_at_k_valid(
        e_source, valid_energies, k, method=method, samples=samples, seed=seed
    )
    return passed * best
