"""What a real model's trials cost and how they failed, from what the trials kept.

    python benchmarks/llm_trials.py benchmarks/real-campaign-cpu.yaml [--json FILE]

For every trial of the campaign that has started: its status and confirmed reduction;
the LLM's calls, tokens and time (the transcript's requests, overlapping ones counted
once) against the trial's running time, the rest being compiling, running and measuring;
what became of every reply (used, continued, re-asked, unusable; how many hit the output
limit); and what became of every version the model wrote: compile failures and whether a
self-correction fixed them, runtime failures, vetoes of the output check and of the
self-check guard, the judge's verdicts, unchanged programs, valid ones that measured no
lower, confirmed gains. The taxonomy is the finding: a weak model failing often is
recorded, not hidden.

It reads the checkpoint database through the door to stored trials and each trial's
llm-transcript.jsonl; it runs nothing and asks no model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lassi_ee.campaign.spec import load_campaign  # noqa: E402
from lassi_ee.nodes.common import TRANSCRIPT_FILE  # noqa: E402
from lassi_ee.state import Candidate  # noqa: E402
from lassi_ee.trials import database_exists, open_trials  # noqa: E402


@dataclass
class TrialCost:
    """One trial: its end, its spending, and what became of its replies and versions."""

    thread_id: str
    app: str | None
    status: str
    reduction: float | None
    reduction_ci95: tuple[float, float] | None
    vanilla_outcome: str | None
    wall_s: float | None
    llm_s: float
    calls: int
    tokens_in: int
    tokens_out: int
    fates: dict[str, int] = field(default_factory=dict)
    cut_off: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None


def version_fate(candidate: Candidate) -> str:
    """What became of one version, in the taxonomy's words."""
    if candidate.outcome == "compile_failed":
        return "compile failed"
    if candidate.outcome == "run_failed":
        return "run failed"
    if candidate.outcome == "invalid" and candidate.verdict is not None:
        if candidate.verdict.by == "judge":
            return "judge: INVALID"
        guards = candidate.check.guards if candidate.check else []
        vetoes = sorted({finding.rule for finding in guards if finding.vetoes})
        return f"vetoed: {', '.join(vetoes)}" if vetoes else "output check: differs"
    return {
        "unchanged": "unchanged",
        "not_lower": "valid, not lower",
        "improved": "valid, confirmed lower",
        "abandoned": "abandoned",
        "pending": "pending",
    }.get(candidate.outcome, candidate.outcome)


def self_corrections(history: list[Candidate]) -> tuple[int, int]:
    """(versions written as self-corrections, of them the ones that built and ran)."""
    fixes = [c for c in history if c.attempt > 0]
    worked = [c for c in fixes if c.outcome not in ("compile_failed", "run_failed")]
    return len(fixes), len(worked)


def read_transcript(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def model_seconds(entries: list[dict[str, Any]]) -> float:
    """Seconds in which at least one request waited for the model.

    The n requests of a step of siblings are sent at once and each one's seconds include
    its turn behind the others at the server, so the requests' intervals are merged, not
    summed. Transcripts written before the entries carried ``ended``: the plain sum.
    """
    if not all("ended" in e for e in entries):
        return sum(e.get("seconds") or 0.0 for e in entries)
    ends = [dt.datetime.fromisoformat(e["ended"]).timestamp() for e in entries]
    intervals = sorted(
        (end - (e.get("seconds") or 0.0), end) for e, end in zip(entries, ends, strict=True)
    )
    total, covered_to = 0.0, float("-inf")
    for start, end in intervals:
        total += max(0.0, end - max(start, covered_to))
        covered_to = max(covered_to, end)
    return total


def trial_cost(thread_id: str, state: dict[str, Any], result: Any, runs_dir: Path) -> TrialCost:
    entries = read_transcript(runs_dir / thread_id / TRANSCRIPT_FILE)
    history: list[Candidate] = state.get("history", [])
    versions = Counter(version_fate(c) for c in history)
    fixes, fixed = self_corrections(history)
    if fixes:
        versions["self-corrections"] = fixes
        versions["self-corrections that built and ran"] = fixed
    judged = [c for c in history if c.verdict is not None and c.verdict.by == "judge"]
    versions["judge: VALID"] = sum(1 for c in judged if c.verdict and c.verdict.verdict == "VALID")
    return TrialCost(
        thread_id=thread_id,
        app=result.app,
        status=result.status,
        reduction=result.reduction,
        reduction_ci95=result.reduction_ci95,
        vanilla_outcome=result.vanilla_outcome,
        wall_s=result.pipeline_s,
        llm_s=round(model_seconds(entries), 1),
        calls=len(entries),
        tokens_in=sum(e.get("tokens_in") or 0 for e in entries),
        tokens_out=sum(e.get("tokens_out") or 0 for e in entries),
        fates=dict(Counter(str(e.get("fate")) for e in entries)),
        cut_off=sum(1 for e in entries if e.get("finish_reason") == "length"),
        versions={k: v for k, v in versions.items() if v},
        stop_reason=result.stop_reason,
    )


def collect(campaign_file: Path) -> list[TrialCost]:
    campaign = load_campaign(campaign_file)
    settings = campaign.settings()
    if not database_exists(settings):
        raise SystemExit(f"no trials yet: {settings.checkpoint_url} does not exist")
    costs = []
    with open_trials(settings, create=False) as trials:
        for trial in campaign.trials():
            stored = trials.read(trial.thread_id)
            if stored is None:
                continue
            costs.append(
                trial_cost(trial.thread_id, dict(stored.state), stored.result, settings.runs_dir)
            )
    return costs


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} %"


def markdown(costs: list[TrialCost]) -> str:
    lines = [
        "| trial | status | vanilla | confirmed reduction (95 % CI) | wall s | LLM s | calls "
        "| tokens in / out | cut off |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        ci = (
            f" ({_pct(c.reduction_ci95[0])} .. {_pct(c.reduction_ci95[1])})"
            if c.reduction_ci95
            else ""
        )
        wall = f"{c.wall_s:.0f}" if c.wall_s else "-"
        lines.append(
            f"| {c.thread_id} | {c.status} | {c.vanilla_outcome or '-'} | {_pct(c.reduction)}{ci} "
            f"| {wall} | {c.llm_s:.0f} | {c.calls} | {c.tokens_in} / {c.tokens_out} | {c.cut_off} |"
        )
    fates: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    for c in costs:
        fates.update(c.fates)
        versions.update(c.versions)
    # an unfinished trial has model seconds but no running time yet: it would count in one
    # sum and not the other
    timed = [c for c in costs if c.wall_s]
    wall = sum(c.wall_s or 0.0 for c in timed)
    llm = sum(c.llm_s for c in timed)
    lines += [
        "",
        f"Replies ({sum(fates.values())}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(fates.items())),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        f"Time in the model: {llm:.0f} s of {wall:.0f} s of trial running time"
        + (f" ({100 * llm / wall:.0f} %)" if wall else "")
        + f", over the {len(timed)} finished trial(s)",
    ]
    stops = [f"{c.thread_id}: {c.stop_reason}" for c in costs if c.stop_reason]
    if stops:
        lines += ["", "Stopped early:", *(f"- {s}" for s in stops)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("campaign", type=Path, help="the campaign file the trials ran from")
    parser.add_argument("--json", type=Path, help="also write every trial's figures here")
    args = parser.parse_args(argv)
    costs = collect(args.campaign)
    print(markdown(costs))
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in costs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
