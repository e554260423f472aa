"""When a version counts as lower: a cheap screen, then a paired decision that can claim.

The screen (``screen_lower``) compares two profiles measured at different
times: lower by more than ``min_energy_gain`` and by more than ``noise_sigmas``
times their repeats' combined spread. It decides only which candidates are
worth confirming. It cannot back a claim: on the lent H200 the same binary,
measured minutes apart, moved by 3-4 % (up to 11 %) while its repeats agreed
within 0.4 % (../shared/reference/h200-measurements.md).

A claim rests on ``decide``: best and candidate measured in one settled
session with their windows interleaved (``paired.py``), and a paired one-sided
t-test (``scipy.stats.ttest_1samp``) on the per-pair log-ratios
d_i = ln(candidate_i / baseline_i). Why this test:

- Pairs taken seconds apart share the session's drift (clocks, board
  temperature, idle level), which cancels in each ratio; what is left is the
  short-term noise the test's spread estimates from the data themselves.
- Logs make ratios additive and symmetric, and the interval of the mean log
  maps back to an interval of the ratio candidate/best.
- A single outlier moves the mean by as much as it widens the spread, so it
  cannot manufacture a claim (it keeps t near 1); heavy tails make the t-test
  conservative rather than liberal. The Wilcoxon signed-rank test would need
  more pairs (its smallest one-sided p with 5 pairs is 1/32) for our levels.

A gain is claimed only when the one-sided upper confidence bound of the ratio
lies below ``1 - min_energy_gain``. The level is Bonferroni-corrected over
every look a trial may take: a trial makes at most ``max_iterations + 1``
confirmations (vanilla and each Stage-3 iteration), each looks after every
``confirm_pairs`` pairs up to ``confirm_max_pairs``, and each look spends
``false_claim_rate / (comparisons x looks)``. By the union bound the chance
that a trial claims any gain that is not there is at most ``false_claim_rate``
(1 %), whatever the looks' dependence. Stopping early because no gain is in
sight (``futile``) can only lower that chance. No gain is in sight when the
estimate itself is not below the threshold, or when the gain is out of reach:
even the optimistic end of the data (the one-sided 95 % lower bound of the
mean log-ratio), measured to ``max_pairs`` pairs with today's spread, would
leave the upper bound above the threshold. On simulated windows
(benchmarks/decisions.py simulate) this spares the undecided cases, the
dearest ones, 11-23 % of their pairs and costs at most 5 points of power,
where power was low already; projecting the estimate itself (50 %) spared
more but lost up to 24 points at 3-5 % noise.

Stage 4 re-measures the final answer against the source in a fresh session and
reports that paired estimate with a two-sided 95 % interval; a trial whose
interval reaches 0 is not called improved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from lassi_ee.energy.base import EnergyProfile, Objective

REPORTED_CONFIDENCE = 0.95
OPTIMISM = 0.95
"""How optimistic the out-of-reach projection is: it starts from this lower bound of the gain."""


def screen_lower(
    baseline: EnergyProfile, candidate: EnergyProfile, min_gain: float, noise_sigmas: float
) -> bool:
    """True when the candidate's separate measurement is lower by more than its noise.

    gain = baseline mean - candidate mean must exceed both ``min_gain`` x
    baseline mean and ``noise_sigmas`` x sqrt(baseline stdev^2 + candidate
    stdev^2). The quantity is net energy per run, or runtime when either profile
    has no energy sensor behind it. A screen only: see the module docstring.
    """
    objective: Objective = (
        "energy" if baseline.objective == candidate.objective == "energy" else "runtime"
    )
    before, after = baseline.stats_for(objective), candidate.stats_for(objective)
    gain = before.mean - after.mean
    noise = math.hypot(before.stdev, after.stdev)
    return gain > max(min_gain * abs(before.mean), noise_sigmas * noise)


class DecisionRule(BaseModel):
    """How a confirmation decides.

    It is copied into a trial's state at Stage 0, so that a resumed trial decides exactly as
    the original would have.
    """

    min_gain: float = Field(description="the smallest relative gain worth claiming")
    confidence: float = Field(description="one-sided confidence level of each look")
    pairs_per_look: int = Field(ge=2, description="pairs measured before each look")
    max_pairs: int = Field(ge=2, description="no more pairs than this in one confirmation")

    @property
    def looks(self) -> int:
        """How many times one confirmation may look at its pairs."""
        return math.ceil(self.max_pairs / self.pairs_per_look)

    @classmethod
    def for_trial(
        cls,
        *,
        max_iterations: int,
        false_claim_rate: float,
        min_gain: float,
        pairs_per_look: int,
        max_pairs: int,
    ) -> DecisionRule:
        """The per-look level that keeps a whole trial's false-claim chance in bounds.

        A trial confirms at most once per iteration and once for its vanilla version, each
        confirmation looking up to ``max_pairs / pairs_per_look`` times; the chance stays
        under ``false_claim_rate`` (Bonferroni over every look of every confirmation).
        """
        comparisons = max_iterations + 1
        looks = math.ceil(max_pairs / pairs_per_look)
        return cls(
            min_gain=min_gain,
            confidence=1.0 - false_claim_rate / (comparisons * looks),
            pairs_per_look=pairs_per_look,
            max_pairs=max_pairs,
        )

    @classmethod
    def fixed(cls, pairs: int, min_gain: float, confidence: float) -> DecisionRule:
        """One look after ``pairs`` pairs (the final confirmation, calibration)."""
        return cls(min_gain=min_gain, confidence=confidence, pairs_per_look=pairs, max_pairs=pairs)


class Decision(BaseModel):
    """What the pairs so far show about candidate / baseline."""

    pairs: int
    ratio: float | None = Field(None, description="geometric mean of candidate / baseline")
    ratio_upper: float | None = Field(
        None, description="one-sided upper confidence bound of the ratio at the rule's level"
    )
    ratio_ci95: tuple[float, float] | None = Field(
        None, description="two-sided 95 % confidence interval of the ratio"
    )
    spread: float | None = Field(None, description="sample stdev of the per-pair log-ratios")
    claimed: bool = Field(description="lower beyond doubt: the upper bound < 1 - min_gain")
    settled: bool = Field(description="claimed, or no gain in sight: more pairs would not help")
    reason: str

    @property
    def reduction(self) -> float | None:
        """1 - ratio: the estimated relative reduction (negative: an increase)."""
        return None if self.ratio is None else 1.0 - self.ratio

    @property
    def reduction_ci95(self) -> tuple[float, float] | None:
        """The 95 % interval of the reduction (low, high), from the ratio's interval."""
        if self.ratio_ci95 is None:
            return None
        low, high = self.ratio_ci95
        return (1.0 - high, 1.0 - low)

    @property
    def interval_excludes_no_change(self) -> bool:
        """The 95 % interval of the reduction lies above 0."""
        return self.ratio_ci95 is not None and self.ratio_ci95[1] < 1.0


def log_ratios(baseline: Sequence[float], candidate: Sequence[float]) -> list[float] | None:
    """ln(candidate / baseline) per pair; None when a figure is not positive (no ratio)."""
    if any(value <= 0 for value in (*baseline, *candidate)):
        return None
    return [math.log(c / b) for b, c in zip(baseline, candidate, strict=True)]


def _ratio_interval(diffs: np.ndarray, confidence: float, alternative: str) -> tuple[float, float]:
    """The t interval of the mean log-ratio, as an interval of the ratio."""
    if np.ptp(diffs) == 0.0:  # no spread at all: the interval is the point
        point = math.exp(float(diffs[0]))
        return (0.0 if alternative == "less" else point, point)
    result = stats.ttest_1samp(diffs, popmean=0.0, alternative=alternative)
    interval = result.confidence_interval(confidence_level=confidence)
    return (math.exp(interval.low), math.exp(interval.high))


def _upper_margin(spread: float, pairs: int, confidence: float) -> float:
    """How far the one-sided upper bound of the mean log-ratio lies above the mean."""
    return float(stats.t.ppf(confidence, pairs - 1)) * spread / math.sqrt(pairs)


def _upper_at_cap(mean_log: float, spread: float, rule: DecisionRule) -> float:
    """The upper bound the rule would give at ``max_pairs`` pairs of this mean and spread."""
    return math.exp(mean_log + _upper_margin(spread, rule.max_pairs, rule.confidence))


def decide(baseline: Sequence[float], candidate: Sequence[float], rule: DecisionRule) -> Decision:
    """Decide from per-pair figures (same unit, one per window) whether the candidate is lower."""
    n = len(baseline)
    if n != len(candidate):
        raise ValueError(f"{n} baseline figures but {len(candidate)} candidate figures")
    threshold = 1.0 - rule.min_gain
    diffs_list = log_ratios(baseline, candidate)
    if diffs_list is None:
        return Decision(
            pairs=n,
            claimed=False,
            settled=True,
            reason="a window's figure is at or below zero (the program draws about idle power): "
            "no ratio can be formed, so no gain is claimed",
        )
    if n < 2:
        return Decision(pairs=n, claimed=False, settled=False, reason="fewer than 2 pairs")
    diffs = np.asarray(diffs_list)
    ratio = math.exp(float(np.mean(diffs)))
    upper = _ratio_interval(diffs, rule.confidence, "less")[1]
    ci95 = _ratio_interval(diffs, REPORTED_CONFIDENCE, "two-sided")
    claimed = upper < threshold
    spread = float(np.std(diffs, ddof=1))
    optimistic = float(np.mean(diffs)) - _upper_margin(spread, n, OPTIMISM)
    out_of_reach = _upper_at_cap(optimistic, spread, rule) >= threshold
    futile = not claimed and (ratio >= threshold or (n < rule.max_pairs and out_of_reach))
    level = f"{100 * rule.confidence:.4g} %"
    if claimed:
        reason = (
            f"lower: candidate/baseline {ratio:.4f}, upper bound {upper:.4f} at {level} "
            f"< {threshold:.4f} ({n} pairs)"
        )
    elif ratio >= threshold:
        reason = (
            f"not lower: candidate/baseline {ratio:.4f} is not below {threshold:.4f} ({n} pairs)"
        )
    elif futile:
        reason = (
            f"out of reach: candidate/baseline {ratio:.4f} with its spread could not be "
            f"confirmed below {threshold:.4f} even at {rule.max_pairs} pairs, however "
            f"optimistically estimated ({n} pairs)"
        )
    else:
        reason = (
            f"undecided: candidate/baseline {ratio:.4f}, but its upper bound {upper:.4f} at "
            f"{level} is not below {threshold:.4f} ({n} pairs)"
        )
    return Decision(
        pairs=n,
        ratio=ratio,
        ratio_upper=upper,
        ratio_ci95=ci95,
        spread=spread,
        claimed=claimed,
        settled=claimed or futile,
        reason=reason,
    )


def minimum_detectable_gain(spread: float, pairs: int, min_gain: float, confidence: float) -> float:
    """The smallest true gain whose expected pairs would be claimed at ``confidence``.

    With per-pair log-ratio spread ``spread`` and ``pairs`` pairs, the one-sided
    upper bound lies t(confidence, pairs - 1) x spread / sqrt(pairs) above the
    mean; it must fall below ln(1 - min_gain).
    """
    if pairs < 2:
        raise ValueError("at least 2 pairs are needed for a spread")
    return 1.0 - math.exp(math.log(1.0 - min_gain) - _upper_margin(spread, pairs, confidence))
