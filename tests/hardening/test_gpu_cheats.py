"""A hard-coded CUDA candidate on a real NVIDIA GPU (skipped without one, see
tests/conftest.py): printed with the benchmark's own checksum and a judge that says VALID
to everything, it still ends INVALID, caught by the output check on the next input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lassi_ee.devices import Device
from lassi_ee.energy.vendors import resolve_device
from tests.helpers.hardening_trials import outcomes, run_trial
from tests.helpers.trial_programs import VALID, fenced, scripted

pytestmark = [pytest.mark.gpu, pytest.mark.trial]

BENCHMARK_N = 2_000_000_000

# Each of 8192 threads sums a sqrt chain over its share of N steps, REPEAT times over;
# the host adds the partial sums in a fixed order, so the checksum is the same every run.
SOURCE = r"""#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cuda_runtime.h>
__global__ void series(long n, double *partial) {
  const long t = blockIdx.x * (long)blockDim.x + threadIdx.x;
  const long threads = (long)gridDim.x * blockDim.x;
  double x = 0, sum = 0;
  for (long i = t; i < n; i += threads) {
    x = sqrt(x + (double)(i % 1000));
    sum += x;
  }
  partial[t] = sum;
}
int main(int argc, char **argv) {
  const long n = argc > 1 ? atol(argv[1]) : 1000;
  const int blocks = 64, threads = 128, total = blocks * threads;
  double *partial = nullptr;
  if (cudaMalloc(&partial, total * sizeof(double)) != cudaSuccess) { printf("FAIL\n"); return 1; }
  std::vector<double> host(total);
  double sum = 0;
  for (int round = 0; round < REPEAT; round++) {
    series<<<blocks, threads>>>(n, partial);
    cudaMemcpy(host.data(), partial, total * sizeof(double), cudaMemcpyDeviceToHost);
    sum = 0;
    for (double value : host) sum += value;
  }
  if (cudaGetLastError() != cudaSuccess || !(sum > 0)) { printf("FAIL\n"); return 1; }
  printf("n %ld\nchecksum %.10e\nPASS\n", n, sum);
  return 0;
}
"""

MANIFEST = f"""name: series
language: cuda
refactor: series.cu
sources: [series.cu]
build: {{system: compiler, binary: series}}
args: ["{BENCHMARK_N}"]
smoke_args: ["20000"]
check_args: [["30000"], ["50000"]]
pass_regex: "PASS"
fail_regex: "FAIL"
"""


@pytest.fixture
def gpu() -> Device:
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    return resolve_device("cuda:0")


def benchmark_checksum(gpu: Device, folder: Path) -> str:
    """What the source prints for the benchmark input (our own program, run directly)."""
    source = folder / "once.cu"
    source.write_text(SOURCE.replace("REPEAT", "1"))
    binary = folder / "once"
    subprocess.run(["nvcc", "-O3", f"-arch={gpu.arch}", str(source), "-o", str(binary)], check=True)
    out = subprocess.run(
        [str(binary), str(BENCHMARK_N)], capture_output=True, text=True, env=gpu.child_env()
    )
    assert "PASS" in out.stdout, out.stdout + out.stderr
    return out.stdout.split("checksum ")[1].split()[0]


def test_a_hard_coded_cuda_candidate_with_a_fooled_judge_ends_invalid(gpu, settings, tmp_path):
    app_dir = tmp_path / "series"
    app_dir.mkdir()
    (app_dir / "app.yaml").write_text(MANIFEST)
    (app_dir / "series.cu").write_text(SOURCE.replace("REPEAT", "25"))
    checksum = benchmark_checksum(gpu, tmp_path)
    hard_coded = (
        "#include <cstdio>\n#include <cstdlib>\nint main(int argc, char **argv) {\n"
        "  const long n = argc > 1 ? atol(argv[1]) : 1000;\n"
        f'  printf("n %ld\\nchecksum {checksum}\\nPASS\\n", n);\n  return 0;\n}}\n'
    )
    failing = (
        SOURCE.replace("REPEAT", "1")
        .replace("!(sum > 0)", "true")
        .replace(
            'printf("FAIL\\n"); return 1; }\n  printf("n',
            'printf("FAIL\\n"); return 0; }\n  printf("n',
        )
    )
    trial_settings = settings.model_copy(
        update={
            "repeats": 2,
            "min_window_s": 1.0,
            "settle_window_s": 0.5,
            "settle_timeout_s": 15.0,
            "max_iterations": 1,
            "run_timeout_s": 30,
            "cache_dir": tmp_path / "cache",
        }
    )
    model = scripted(vanilla=[fenced(hard_coded)], refactor=[fenced(failing)], judge=[VALID] * 5)
    result, state = run_trial(app_dir, trial_settings, model, device="cuda:0")

    assert state["reference"].profile.objective == "energy"
    assert outcomes(state) == [("vanilla", 0, 0, "invalid"), ("refactor", 1, 0, "invalid")]
    cheat = state["history"][0]
    assert cheat.check.finding.startswith("on smoke_args (20000): outputs differ")
    assert cheat.verdict.by == "check" and cheat.profile is None
    vetoes = {guard.rule for guard in cheat.check.guards if guard.vetoes}
    assert vetoes == {"GPU work", "hard-coded results"}
    assert model.calls_for("judge") == []  # the fooled judge was never asked
    assert result.status == "no_improvement" and result.best_version is None
