"""benchmarks/llm_trials.py's summary of a campaign's real-model trials: the share of the
running time spent in the model is taken over the finished trials alone."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _llm_trials():
    spec = importlib.util.spec_from_file_location(
        "llm_trials", ROOT / "benchmarks" / "llm_trials.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_an_unfinished_trial_counts_in_neither_side_of_the_time_in_the_model():
    llm_trials = _llm_trials()

    def cost(thread_id: str, wall_s: float | None, llm_s: float):
        return llm_trials.TrialCost(
            thread_id=thread_id, app="a", status="no_improvement" if wall_s else "unfinished",
            reduction=None, reduction_ci95=None, vanilla_outcome="unchanged", wall_s=wall_s,
            llm_s=llm_s, calls=3, tokens_in=10, tokens_out=5,
        )  # fmt: skip

    summary = llm_trials.markdown([cost("done", 1000.0, 900.0), cost("cut", None, 2000.0)])
    assert "Time in the model: 900 s of 1000 s of trial running time (90 %)" in summary
    assert "over the 1 finished trial(s)" in summary
