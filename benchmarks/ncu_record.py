"""Record what Nsight Compute says about the CUDA examples, and what asking costs.

    python3 benchmarks/ncu_record.py examples/jacobi2d ... --out DIR [--launch-count 10]

For each app: build it with nvcc (the paper's flags), time one plain run, then run it under
``ncu --csv --page raw`` with the metrics Stage 0 reads (tools/ncu.py), bounded by
``--launch-count`` and a timeout, and keep the CSV and the seconds it took. A second pass
asks for the warp-stall ratios alone, so that a metric name this ncu does not know spoils
only that pass. ``DIR/ncu-record.json`` lists every pass; the CSVs are the fixtures of the
parser's tests (tests/data/ncu/).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lassi_ee.tools.ncu import CORE_METRICS, STALL_PATTERN  # noqa: E402

# The very metrics Stage 0 asks for, so that the fixtures are what it will read.
STALL_METRICS = [STALL_PATTERN]


def run(command: list[str], timeout_s: float, log: Path | None = None) -> dict[str, object]:
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        code, out, err = None, str(expired.stdout or ""), f"timed out after {timeout_s} s"
    if log is not None:
        log.write_text(out)
    return {
        "command": command,
        "exit": code,
        "seconds": round(time.monotonic() - started, 2),
        "stderr_tail": err[-2000:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--launch-count", type=int, default=10)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--budget-s", type=float, default=420.0)
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    record: dict[str, object] = {
        "ncu_version": run(["ncu", "--version"], 30, options.out / "ncu-version.txt"),
    }
    run(
        ["ncu", "--query-metrics-mode", "suffix", "--query-metrics", "--chip", "gh100"],
        60,
        options.out / "ncu-query-metrics.txt",
    )
    apps: dict[str, object] = {}
    for app_dir in options.apps:
        if time.monotonic() - started > options.budget_s:
            apps[app_dir.name] = "skipped: budget spent"
            continue
        manifest = yaml.safe_load((app_dir / "app.yaml").read_text())
        binary = options.out / f"{app_dir.name}.bin"
        sources = [str(app_dir / name) for name in manifest["sources"]]
        build = run(["nvcc", "-std=c++14", "-O3", "-arch=sm_90", *sources, "-o", str(binary)], 300)
        args = [str(a) for a in manifest["args"]]
        entry: dict[str, object] = {"args": args, "build": build}
        if build["exit"] == 0:
            entry["plain"] = run([str(binary), *args], options.timeout_s)
            base = ["ncu", "--csv", "--page", "raw", "--launch-count", str(options.launch_count)]
            entry["core"] = run(
                [*base, "--metrics", ",".join(CORE_METRICS), str(binary), *args],
                options.timeout_s,
                options.out / f"{app_dir.name}.core.csv",
            )
            entry["stalls"] = run(
                [*base, "--metrics", ",".join(STALL_METRICS), str(binary), *args],
                options.timeout_s,
                options.out / f"{app_dir.name}.stalls.csv",
            )
        binary.unlink(missing_ok=True)
        apps[app_dir.name] = entry
        print(app_dir.name, json.dumps({k: v for k, v in entry.items() if k != "args"})[:600])
    record["apps"] = apps
    (options.out / "ncu-record.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
