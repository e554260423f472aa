"""Throughput of the Ray engine on 1 GPU and on 2: the same campaign, run once with Ray given
one GPU and once with two, on one machine. Prints (and writes with --out) a Markdown table:
wall time, trials per hour and their ratio, and the scheduling overhead per trial.

    python benchmarks/scaleout.py --gpus 1 2 --out bench.md      # a machine with 2 GPUs
    python benchmarks/scaleout.py --gpus 1                       # a machine with 1 GPU
    python benchmarks/scaleout.py --device cpu --gpus 1 2        # no GPU: a GPU-like resource

Every trial is a real one (Stage 0, builds, runs, measurements, each iteration) with the
`null` model (the program it is given plus one unused declaration, so that every version is
new and is built and measured; the judge says VALID), so no LLM server is needed and every
trial does the same work. Each run has its own campaign folder, so the Stage-0 cache
starts empty each time.

Overhead per trial, from the timestamps each task records:
- dispatch gap: from the moment a GPU was free (its previous trial ended, or the campaign
  was submitted) to the start of the next trial's task on it (FIFO matching);
- idle GPU time per trial: (GPUs x wall time - time inside trials) / trials, which adds
  Ray's start of the workers and the tail where fewer trials than GPUs are left.

Target: at least 1.8x the throughput on 2 GPUs. On cpu the "GPUs" are a custom resource
on the same cores, so the ratio says nothing about GPUs: that mode checks the script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lassi_ee.campaign.ray_engine import RaySummary, run_ray  # noqa: E402
from lassi_ee.campaign.spec import load_campaign  # noqa: E402

EXAMPLES = {"cuda": ["examples/jacobi2d", "examples/nbody"], "rocm": ["examples/jacobi2d-hip"]}
FAKE_GPU = "fake_gpu"

# A tiny OpenMP-free C++ program for --device cpu: busy for SPIN seconds, then PASS.
SPIN_PROGRAM = r"""#include <chrono>
#include <cstdio>
int main() {
  auto start = std::chrono::steady_clock::now();
  volatile double sink = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < SPIN) {
    sink = sink + 1;
  }
  std::printf("result %d\nPASS\n", RESULT);
  return 0;
}
"""


def gpu_count(kind: str) -> int:
    tool = {"cuda": ["nvidia-smi", "-L"], "rocm": ["rocm-smi", "--showid"]}[kind]
    try:
        listed = subprocess.run(tool, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU") for line in listed.splitlines())


def write_campaign(folder: Path, gpus: int, options: argparse.Namespace) -> Path:
    """The campaign file of one run: the same apps, trials and settings every time."""
    if options.device == "cpu":
        apps = []
        for index, spin_s in enumerate((0.3, 0.2)):
            source = folder / "apps" / f"spin{index}.cpp"
            source.parent.mkdir(parents=True, exist_ok=True)
            program = SPIN_PROGRAM.replace("SPIN", f"{spin_s}").replace("RESULT", str(index))
            source.write_text(program)
            apps.append(str(source))
        device, resources = "cpu", {"cpu": {FAKE_GPU: 1}}
    else:
        apps = [str((ROOT / app).resolve()) for app in options.apps or EXAMPLES[options.device]]
        device, resources = f"{options.device}:0", {options.device: {"GPU": 1}}
    spec: dict[str, Any] = {
        "name": f"scaleout-{gpus}gpu",
        "apps": apps,
        "devices": [device],
        "trials": options.trials,
        "ks": [1],
        "models": {"generate": "null", "context": "null", "judge": "null"},
        "settings": {
            "repeats": options.repeats,
            "max_iterations": options.max_iterations,
            "work_root": str(folder / "work"),
            "lock_dir": str(folder / "locks"),
        },
        "directory": str(folder / "campaign"),
        "ray": {"resources": resources, "max_retries": 1},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def start_ray(gpus: int, device: str) -> float:
    """A new local Ray instance offering ``gpus`` GPUs (fake ones on cpu); seconds it took."""
    import ray

    # workers import this checkout's lassi_ee, whether or not it is installed
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    started = time.monotonic()
    offer: dict[str, Any] = (
        {"resources": {FAKE_GPU: gpus}} if device == "cpu" else {"num_gpus": gpus}
    )
    ray.init("local", include_dashboard=False, log_to_driver=False, **offer)
    return time.monotonic() - started


def run_once(gpus: int, options: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Start Ray with ``gpus`` GPUs (or fake ones), run the campaign, stop Ray."""
    import ray

    folder = work / f"{gpus}gpu"
    campaign = load_campaign(write_campaign(folder, gpus, options))
    ray_start_s = start_ray(gpus, options.device)
    try:
        started = time.monotonic()
        summary = run_ray(campaign)
        wall_s = time.monotonic() - started
    finally:
        ray.shutdown()
    if summary.errors or summary.finished != len(campaign.trials()):
        raise SystemExit(
            f"{gpus} GPU(s): {summary.finished} of {len(campaign.trials())} trials finished, "
            f"{summary.errors} with errors; see {campaign.directory}/errors"
        )
    return {
        "gpus": gpus,
        "ray_start_s": ray_start_s,
        "wall_s": wall_s,
        **overhead(summary, gpus, wall_s),
    }


def overhead(summary: RaySummary, gpus: int, wall_s: float) -> dict[str, float]:
    """Trial time and the two overhead figures of the module docstring."""
    timings = sorted(summary.timings, key=lambda t: t.started_unix)
    busy = [t.finished_unix - t.started_unix for t in timings]
    free_at = [min(t.submitted_unix for t in timings)] * gpus  # a heap of GPU-free moments
    gaps = []
    for timing in timings:
        free = heapq.heappop(free_at)
        gaps.append(max(0.0, timing.started_unix - max(free, timing.submitted_unix)))
        heapq.heappush(free_at, timing.finished_unix)
    return {
        "trials": len(timings),
        "trial_s": statistics.fmean(busy),
        "gap_mean_s": statistics.fmean(gaps),
        "gap_max_s": max(gaps),
        "idle_per_trial_s": (gpus * wall_s - sum(busy)) / len(timings),
    }


def table(rows: list[dict[str, Any]], options: argparse.Namespace) -> str:
    base = next((row for row in rows if row["gpus"] == 1), None)
    gpu_word = "fake GPUs" if options.device == "cpu" else "GPUs"
    lines = [
        f"| {gpu_word} | trials | Ray start (s) | wall (s) | trials/hour | throughput vs 1 | "
        "mean trial (s) | dispatch gap mean / max (s) | idle GPU time per trial (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        per_hour = 3600 * row["trials"] / row["wall_s"]
        ratio = f"{base['wall_s'] / row['wall_s']:.2f}x" if base else "-"
        lines.append(
            f"| {row['gpus']} | {row['trials']} | {row['ray_start_s']:.1f} | {row['wall_s']:.1f} "
            f"| {per_hour:.0f} | {ratio} | {row['trial_s']:.1f} | {row['gap_mean_s']:.2f} / "
            f"{row['gap_max_s']:.2f} | {row['idle_per_trial_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def machine() -> str:
    gpus = ""
    if shutil.which("nvidia-smi"):
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        gpus = ", ".join(line.strip() for line in listed.splitlines() if line.strip())
    cores = os.cpu_count()
    return f"{platform.node()}: {cores} cores" + (f", {gpus}" if gpus else ", no GPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2], help="GPUs per run")
    parser.add_argument("--device", choices=("cuda", "rocm", "cpu"), default="cuda")
    parser.add_argument("--apps", nargs="+", help="app folders (default: two examples)")
    parser.add_argument("--trials", type=int, default=4, help="trials per app (default 4)")
    parser.add_argument("--repeats", type=int, default=2, help="measured repeats (default 2)")
    parser.add_argument("--max-iterations", type=int, default=2, help="Stage-3 iterations")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--keep", type=Path, help="keep the campaign folders here")
    options = parser.parse_args()
    if options.device != "cpu":
        have = gpu_count(options.device)
        if max(options.gpus) > have:
            raise SystemExit(
                f"--gpus {max(options.gpus)} but this machine has {have} {options.device} GPU(s)"
            )
    work = options.keep or Path(tempfile.mkdtemp(prefix="lassi-scaleout-"))
    rows = []
    for gpus in options.gpus:
        rows.append(run_once(gpus, options, work))
        print(f"{gpus} GPU(s): {rows[-1]['wall_s']:.1f} s", flush=True)
    if options.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    apps = (
        "two spin programs"
        if options.device == "cpu"
        else ", ".join(options.apps or EXAMPLES[options.device])
    )
    text = (
        f"## Ray engine scale-out ({dt.date.today().isoformat()}, {machine()})\n\n"
        f"Device {options.device}; apps: {apps}; {options.trials} trials each; repeats "
        f"{options.repeats}, max_iterations {options.max_iterations}; the null model.\n\n"
        + table(rows, options)
    )
    print(text)
    if options.out:
        options.out.write_text(text)


if __name__ == "__main__":
    main()
