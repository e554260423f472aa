"""Record real NVML traces for the replay tests: idle, one GPU program, the tail after it.

Run on a machine with an NVIDIA GPU and nvcc, from the repository root:

    python benchmarks/record_nvml.py --out tests/data/nvml --busy-s 0.4 2.0

For each busy length it samples power (nvmlDeviceGetPowerUsage) and the energy
counter (nvmlDeviceGetTotalEnergyConsumption) every 10 ms through ``--idle-s``
of idle, a run of benchmarks/busy_gpu.cu for that long, and ``--tail-s``
after it, and writes ``<out>/<gpu>-busy-<seconds>s.json`` in the Trace format
of lassi_ee/energy/replay.py. busy_start_s/busy_end_s are the program's
process start and exit (CUDA context creation included).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path

import pynvml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lassi_ee.energy.replay import Trace  # noqa: E402


def build_busy_program(workdir: Path, arch: str) -> Path:
    binary = workdir / "busy_gpu"
    source = ROOT / "benchmarks" / "busy_gpu.cu"
    subprocess.run(["nvcc", "-O3", f"-arch={arch}", str(source), "-o", str(binary)], check=True)
    return binary


def record(
    handle: object,
    binary: Path,
    uuid: str,
    busy_s: float,
    idle_s: float,
    tail_s: float,
    period_s: float,
) -> tuple[list[tuple[float, float, float]], float, float]:
    samples: list[tuple[float, float, float]] = []
    stop = threading.Event()
    t0 = time.perf_counter()

    def sampler() -> None:
        due = time.perf_counter()
        while not stop.is_set():
            power_w = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            energy_j = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
            samples.append((time.perf_counter() - t0, power_w, energy_j))
            due += period_s
            stop.wait(max(due - time.perf_counter(), 0.0))

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    time.sleep(idle_s)
    busy_start = time.perf_counter() - t0
    subprocess.run(
        [str(binary), str(busy_s)],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": uuid},
    )
    busy_end = time.perf_counter() - t0
    time.sleep(tail_s)
    stop.set()
    thread.join()
    return samples, busy_start, busy_end


def describe(trace: Trace) -> str:
    times = [t for t, _, _ in trace.samples]
    energy = [e for _, _, e in trace.samples]
    changes = [t for t, (e0, e1) in zip(times[1:], pairwise(energy), strict=True) if e1 != e0]
    period = statistics.median(b - a for a, b in pairwise(changes)) if changes else 0.0
    idle = [p for t, p, _ in trace.samples if t < trace.busy_start_s - 0.2]
    busy = [p for t, p, _ in trace.samples if trace.busy_start_s + 0.3 < t < trace.busy_end_s]
    return (
        f"{len(trace.samples)} samples, counter update every {period * 1000:.0f} ms, "
        f"idle {statistics.fmean(idle):.1f} W, busy {statistics.fmean(busy or [0.0]):.1f} W"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "nvml")
    parser.add_argument("--device", type=int, default=0, help="NVML index")
    parser.add_argument("--busy-s", type=float, nargs="+", default=[0.4, 2.0])
    parser.add_argument("--idle-s", type=float, default=3.0)
    parser.add_argument("--tail-s", type=float, default=8.0)
    parser.add_argument("--period-s", type=float, default=0.01)
    args = parser.parse_args()

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(args.device)
    name = pynvml.nvmlDeviceGetName(handle)
    uuid = pynvml.nvmlDeviceGetUUID(handle)
    major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    driver = pynvml.nvmlSystemGetDriverVersion()
    with tempfile.TemporaryDirectory() as workdir:
        binary = build_busy_program(Path(workdir), f"sm_{major}{minor}")
        for busy_s in args.busy_s:
            samples, start, end = record(
                handle, binary, uuid, busy_s, args.idle_s, args.tail_s, args.period_s
            )
            trace = Trace(
                device=f"{name} (driver {driver})",
                source=f"recorded {time.strftime('%Y-%m-%d')} on {name}: busy_gpu {busy_s} s",
                sample_period_s=args.period_s,
                busy_start_s=start,
                busy_end_s=end,
                samples=samples,
                note="benchmarks/record_nvml.py; busy_start/end are process start and exit",
            )
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            path = args.out / f"{slug}-busy-{busy_s:g}s.json"
            trace.save(path)
            print(f"{path}: {describe(trace)}")
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    main()
