"""benchmarks/llm_trials.py's summary of a campaign's real-model trials: the share of the
running time spent in the model is taken over the finished trials alone, with requests
that overlapped counted once."""

from __future__ import annotations

import datetime as dt
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


def test_requests_asked_at_once_count_their_overlap_once():
    """Four siblings sent together wait in turn at a one-at-a-time server: each one's
    seconds include the others', so their sum (here 100 + 200 + 300 + 400) overstates the
    time the trial spent in the model (400 s), as a real n = 4 campaign printed 158 %."""
    llm_trials = _llm_trials()
    asked = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)

    def entry(seconds: float, after_s: float | None = None) -> dict[str, object]:
        ended = asked + dt.timedelta(seconds=after_s if after_s is not None else seconds)
        return {"seconds": seconds, "ended": ended.isoformat(timespec="milliseconds")}

    siblings = [entry(100.0), entry(200.0), entry(300.0), entry(400.0)]
    assert llm_trials.model_seconds(siblings) == 400.0
    later = entry(50.0, after_s=1000.0)  # one more request after a pause of 550 s
    assert llm_trials.model_seconds([*siblings, later]) == 450.0
    without_dates = [{"seconds": 100.0}, {"seconds": 200.0}]  # an older transcript
    assert llm_trials.model_seconds(without_dates) == 300.0
