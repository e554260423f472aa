"""The Ray engine on this machine's GPU: one trial per GPU task, a worker killed mid-trial,
and the campaign's results against the local engine's.

    python benchmarks/ray_resume.py --out ray-resume.md           # a machine with a GPU
    python benchmarks/ray_resume.py --device cpu                  # no GPU: a GPU-like resource
    python benchmarks/ray_resume.py --keep DIR --phase local      # two calls, when one is
    python benchmarks/ray_resume.py --keep DIR --phase ray        # too short for both

The campaign is benchmarks/scaleout.py's (two apps, real trials with the `null` model) on
one GPU. It runs first with the local engine, then with Ray on a new local instance; when
the first trial has written ``--kill-at`` of the checkpoints it wrote under the local
engine, its Ray worker is SIGKILLed. (By checkpoints, not by time: Stage 0's build and
measurements are most of a short trial's time, so half its time fell at its first step on
the H100.) Ray runs the task again (``ray.max_retries`` 1) and the trial must resume from
its checkpoint. Printed (and written with --out): where the kill
fell (the trial's last checkpoint before it), each trial under both engines, and Table 4 of
both reports. The two must agree on everything a measurement does not decide: each
trial's status, vanilla outcome, number of versions and iterations, its LLM calls, pass@k
and the confirmed energy-reduction@k; the paper's ER@k (single measurements) is shown, not
compared. Exit status 1 when they disagree, the kill missed, or the killed trial did not
resume.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from langgraph.types import StateSnapshot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from scaleout import machine, start_ray, write_campaign  # noqa: E402

from lassi_ee.campaign.ray_engine import run_ray  # noqa: E402
from lassi_ee.campaign.runner import TrialEvent, run_local  # noqa: E402
from lassi_ee.campaign.spec import Campaign, load_campaign  # noqa: E402
from lassi_ee.campaign.store import ResultsStore, TrialRecord  # noqa: E402
from lassi_ee.campaign.tables import table4  # noqa: E402
from lassi_ee.trials import open_trials  # noqa: E402

# What a measurement does not decide: equal under both engines when the trials are right.
DECIDED = ("status", "vanilla_outcome", "final_valid", "iterations", "versions", "llm_calls")
TABLE4_DECIDED = ("vanilla_pass_at_k", "full_pass_at_k", "vanilla_confirmed_reduction_at_k",
                  "full_confirmed_reduction_at_k")  # fmt: skip


class Killer:
    """Kills the victim trial's first worker once the trial has written ``checkpoints``
    checkpoints, watching the campaign's checkpoint store from this process."""

    def __init__(self, campaign: Campaign, victim: str, checkpoints: int) -> None:
        self.campaign, self.victim, self.checkpoints = campaign, victim, checkpoints
        self.events: list[TrialEvent] = []
        self.killed_pid: int | None = None
        self.killed_unix: float | None = None
        self.after_s: float | None = None

    def on_event(self, event: TrialEvent) -> None:
        self.events.append(event)
        first_start = event.kind == "started" and not event.resumed
        if first_start and event.trial.thread_id == self.victim:
            pid = int(event.where.rsplit("pid ", 1)[1])
            threading.Thread(target=self._watch, args=(pid,), daemon=True).start()

    def _watch(self, pid: int) -> None:
        started = time.monotonic()
        with open_trials(self.campaign.settings()) as trials:
            while len(trials.history(self.victim)) < self.checkpoints:
                if self._ended():  # the trial was over first: the kill missed
                    return
                time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.killed_pid, self.killed_unix = pid, time.time()
        self.after_s = time.monotonic() - started

    def _ended(self) -> bool:
        return any(
            e.kind != "started" and e.trial.thread_id == self.victim for e in list(self.events)
        )

    def starts(self) -> list[TrialEvent]:
        return [e for e in self.events if e.kind == "started" and e.trial.thread_id == self.victim]


def checkpoint_count(campaign: Campaign, thread_id: str) -> int:
    with open_trials(campaign.settings()) as trials:
        return len(trials.history(thread_id))


def records(campaign: Campaign) -> dict[str, TrialRecord]:
    return {r.thread_id: r for r in ResultsStore(campaign.store_path).records(campaign.name)}


def kill_point(campaign: Campaign, thread_id: str, when_unix: float) -> tuple[str, bool]:
    """Where the kill fell (the trial's last checkpoint before ``when_unix``: its step and
    what came next), and whether the retry went on from that very checkpoint (the first
    one written after the kill has it as its parent) rather than starting again."""
    with open_trials(campaign.settings()) as trials:
        history = trials.history(thread_id)  # newest first

    def written_before(snapshot: StateSnapshot) -> bool:
        created = snapshot.created_at
        return bool(created) and dt.datetime.fromisoformat(str(created)).timestamp() < when_unix

    before = [s for s in history if written_before(s)]
    after = [s for s in history if not written_before(s)]
    if not before:
        return f"before its first checkpoint (of {len(history)})", False
    last = before[0]
    parent = (after[-1].parent_config or {}).get("configurable", {}) if after else {}
    went_on = parent.get("checkpoint_id") == last.config["configurable"]["checkpoint_id"]
    step = (last.metadata or {}).get("step")
    where = (
        f"after checkpoint step {step} ({len(before)} of {len(history)} written), "
        f"before node {', '.join(last.next) or '(end)'}"
    )
    return where, went_on


def compare(local: dict[str, TrialRecord], ray_: dict[str, TrialRecord]) -> list[str]:
    differences = []
    for thread in sorted(set(local) | set(ray_)):
        if thread not in local or thread not in ray_:
            differences.append(f"{thread}: recorded by one engine only")
            continue
        for field in DECIDED:
            a, b = getattr(local[thread], field), getattr(ray_[thread], field)
            if a != b:
                differences.append(f"{thread}: {field} {a!r} (local) vs {b!r} (ray)")
    return differences


def trial_lines(local: dict[str, TrialRecord], ray_: dict[str, TrialRecord]) -> list[str]:
    lines = [
        "| trial | engine | status | vanilla | versions | iterations | LLM calls | "
        "screen reduction | trial s |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for thread in sorted(local):
        for engine, recs in (("local", local), ("ray", ray_)):
            r = recs.get(thread)
            if r is None:
                continue
            screen = f"{100 * r.screen_reduction:.1f} %" if r.screen_reduction is not None else "-"
            lines.append(
                f"| {thread} | {engine} | {r.status} | {r.vanilla_outcome} | {r.versions} | "
                f"{r.iterations} | {r.llm_calls} | {screen} | {r.pipeline_s or 0:.1f} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "rocm", "cpu"), default="cuda")
    parser.add_argument("--apps", nargs="+", help="app folders (default: scaleout.py's)")
    parser.add_argument("--trials", type=int, default=2, help="trials per app (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="measured repeats (default 2)")
    parser.add_argument("--max-iterations", type=int, default=2, help="Stage-3 iterations")
    parser.add_argument(
        "--kill-at", type=float, default=0.5,
        help="kill when the first trial has written this share of its local checkpoints",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--keep", type=Path, help="keep the campaign folders here")
    parser.add_argument(
        "--phase", choices=("both", "local", "ray"), default="both",
        help="local: only the local engine's campaign, into --keep; ray: the Ray part "
        "against the local campaign kept there (for a device call too short for both)",
    )  # fmt: skip
    options = parser.parse_args()
    if options.phase != "both" and options.keep is None:
        parser.error(f"--phase {options.phase} needs --keep DIR, where the phases meet")
    work = options.keep or Path(tempfile.mkdtemp(prefix="lassi-ray-resume-"))
    local_campaign = load_campaign(write_campaign(work / "local", 1, options))
    local_wall = work / "local" / "wall_s.txt"  # written when the local campaign is done
    if local_wall.is_file():
        local_wall_s = float(local_wall.read_text())
    elif options.phase == "ray":
        parser.error(f"no finished local campaign in {work}: run --phase local first")
    else:
        started = time.monotonic()
        run_local(local_campaign)
        local_wall_s = time.monotonic() - started
        local_wall.write_text(f"{local_wall_s:.1f}\n")
    local = records(local_campaign)
    if options.phase == "local":
        print(f"local engine: {len(local)} trials in {local_wall_s:.1f} s; the Ray part: "
              f"--phase ray --keep {work}")  # fmt: skip
        return 0
    import ray  # here: the local phase runs where Ray is not installed

    ray_campaign = load_campaign(write_campaign(work / "ray", 1, options))
    victim = ray_campaign.trials()[0].thread_id
    local_checkpoints = checkpoint_count(local_campaign, victim)
    killer = Killer(ray_campaign, victim, max(1, round(options.kill_at * local_checkpoints)))
    start_ray(1, options.device)
    try:
        started = time.monotonic()
        summary = run_ray(ray_campaign, None, killer.on_event)
        ray_wall_s = time.monotonic() - started
    finally:
        ray.shutdown()
    ray_ = records(ray_campaign)

    problems = compare(local, ray_)
    starts = killer.starts()
    if killer.killed_unix is None:
        problems.append(f"the kill missed: {victim} ended before {killer.checkpoints} checkpoints")
        where = "missed"
    else:
        where, went_on = kill_point(ray_campaign, victim, killer.killed_unix)
        if went_on:
            where += "; the retry's first checkpoint follows it"
        else:
            problems.append(f"{victim}: the retry did not go on from the last checkpoint")
    if [e.resumed for e in starts] != [False, True]:
        problems.append(
            f"{victim} started {len(starts)} time(s), resumed: {[e.resumed for e in starts]} "
            "(expected a first start and one resume)"
        )
    if summary.errors or summary.workers_lost:
        problems.append(f"Ray: {summary.errors} error(s), workers lost: {summary.workers_lost}")
    local_table = table4(list(local.values()), ray_campaign.ks)
    ray_table = table4(list(ray_.values()), ray_campaign.ks)
    for a, b in zip(local_table.rows, ray_table.rows, strict=True):
        for key in TABLE4_DECIDED:
            if a[key] != b[key]:
                problems.append(f"Table 4 {a['device']} k={a['k']}: {key} {a[key]} vs {b[key]}")

    text = "\n".join([
        f"## The Ray engine on one GPU, a worker killed mid-trial "
        f"({dt.date.today().isoformat()}, {machine()})",
        "",
        f"Device {options.device}; {len(local)} trials ({options.trials} per app), repeats "
        f"{options.repeats}, max_iterations {options.max_iterations}, the null model. Local "
        f"engine {local_wall_s:.1f} s, Ray {ray_wall_s:.1f} s (the killed trial's lost work "
        "included).",
        "",
        f"Killed: the Ray worker (pid {killer.killed_pid}) of {victim}, "
        f"{killer.after_s or 0:.1f} s into its task, when it had written {killer.checkpoints} "
        f"of the {local_checkpoints} checkpoints it wrote under the local engine: {where}. "
        "Its starts: "
        + ", ".join(f"{'resumed' if e.resumed else 'first'} on {e.where}" for e in starts) + ".",
        "",
        *trial_lines(local, ray_),
        "",
        "Table 4, local engine:", "", local_table.markdown(), "",
        "Table 4, Ray engine:", "", ray_table.markdown(), "",
        "**The same where a measurement does not decide**"
        + (": yes." if not problems else ": NO:\n" + "\n".join(f"- {p}" for p in problems)),
        "",
    ])  # fmt: skip
    print(text)
    if options.out:
        options.out.write_text(text)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
