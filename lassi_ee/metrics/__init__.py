"""pass@k and energy-reduction@k (exact and Monte Carlo), and their campaign summaries.

Pure functions: the campaign feeds them outcomes from its results store and the
reports print what they return.
"""

from lassi_ee.metrics.estimators import (
    METHODS,
    Method,
    energy_reduction_at_k,
    energy_reduction_at_k_valid,
    expected_best_of_k,
    pass_at_k,
    relative_reductions,
)
from lassi_ee.metrics.summary import (
    DEFAULT_KS,
    STAGES,
    MetricRow,
    Stage,
    StageComparison,
    TrialOutcome,
    compare_stages,
    summarize,
)

__all__ = [
    "DEFAULT_KS",
    "METHODS",
    "STAGES",
    "Method",
    "MetricRow",
    "Stage",
    "StageComparison",
    "TrialOutcome",
    "compare_stages",
    "energy_reduction_at_k",
    "energy_reduction_at_k_valid",
    "expected_best_of_k",
    "pass_at_k",
    "relative_reductions",
    "summarize",
]
