"""Hostile CUDA candidates on a real NVIDIA GPU (skipped without one, see tests/conftest.py):
a program that takes all GPU memory and a kernel that never finishes are killed at the
run timeout, the GPU is left usable, and a trial goes on past both."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lassi_ee.devices import Device
from lassi_ee.energy.nvidia import handle_for
from lassi_ee.energy.vendors import resolve_device
from lassi_ee.tools.run import RunRequest, run_program
from tests.helpers.hardening_trials import outcomes, run_trial
from tests.helpers.hostile_programs import process_name, processes_named
from tests.helpers.trial_programs import VALID, fenced, scripted

pytestmark = [pytest.mark.gpu, pytest.mark.trial]

NAMED = "#include <sys/prctl.h>\n#include <cstdio>\n#include <vector>\n#include <cuda_runtime.h>\n"

ALL_GPU_MEMORY = (
    NAMED
    + r"""int main() {
  prctl(PR_SET_NAME, "NAME");
  std::vector<void *> held;
  size_t chunk = size_t(1) << 30, total = 0;
  while (chunk >= (size_t(1) << 20)) {
    void *block = nullptr;
    if (cudaMalloc(&block, chunk) != cudaSuccess) { cudaGetLastError(); chunk /= 2; continue; }
    cudaMemset(block, 1, chunk);
    held.push_back(block);
    total += chunk;
  }
  size_t free_bytes = 0, all_bytes = 0;
  cudaMemGetInfo(&free_bytes, &all_bytes);
  std::printf("holding %zu MiB, %zu MiB left\n", total >> 20, free_bytes >> 20);
  std::fflush(stdout);
  for (;;) {}
}
"""
)

KERNEL_NEVER_ENDS = (
    NAMED
    + r"""__global__ void forever(volatile int *flag) { while (*flag == 0) {} }
int main() {
  prctl(PR_SET_NAME, "NAME");
  int *flag = nullptr;
  cudaMalloc(&flag, sizeof(int));
  cudaMemset(flag, 0, sizeof(int));
  forever<<<1, 1>>>(flag);
  std::printf("launched\n");
  std::fflush(stdout);
  cudaDeviceSynchronize();
  std::printf("never printed\n");
  return 0;
}
"""
)


def spin_program(spin_s: float) -> str:
    """Every SM spins ``spin_s`` seconds, then the program prints its result and PASS."""
    return (
        NAMED
        + r"""__global__ void spin(long long cycles, int *out) {
  long long start = clock64();
  while (clock64() - start < cycles) {}
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = 42;
}
int main() {
  int khz = 0;
  cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0);
  int *out = nullptr;
  cudaMalloc(&out, sizeof(int));
  cudaMemset(out, 0, sizeof(int));
  spin<<<1024, 256>>>((long long)(SPIN_S * khz * 1000.0), out);
  int result = 0;
  cudaMemcpy(&result, out, sizeof(int), cudaMemcpyDeviceToHost);
  std::printf("result %d\n", result);
  std::printf(result == 42 ? "PASS\n" : "FAIL\n");
  return 0;
}
""".replace("SPIN_S", f"{spin_s:.3f}")
    )


def named(code: str, case: str) -> str:
    return code.replace('"NAME"', f'"{process_name(case)}"')


@pytest.fixture
def gpu() -> Device:
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    return resolve_device("cuda:0")


def build(gpu: Device, code: str, folder: Path, name: str) -> Path:
    source = folder / f"{name}.cu"
    source.write_text(code)
    binary = folder / name
    subprocess.run(["nvcc", "-O3", f"-arch={gpu.arch}", str(source), "-o", str(binary)], check=True)
    return binary


def used_gpu_memory_mib(gpu: Device) -> float:
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = handle_for(pynvml, gpu.visible_id or str(gpu.index))
        return pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
    finally:
        pynvml.nvmlShutdown()


def assert_gpu_still_works(gpu: Device, settings, tmp_path: Path, used_before_mib: float) -> None:
    """Memory comes back within seconds, and a normal CUDA program runs and passes."""
    deadline = time.monotonic() + 15
    while used_gpu_memory_mib(gpu) > used_before_mib + 1024 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert used_gpu_memory_mib(gpu) <= used_before_mib + 1024
    normal = build(gpu, named(spin_program(0.2), "normal"), tmp_path, "normal")
    result = run_program(RunRequest(binary=normal, device=gpu, timeout_s=60), settings)
    assert result.ok, result.failure()
    assert "result 42" in result.stdout and "PASS" in result.stdout


def test_a_program_holding_all_gpu_memory_is_killed_and_the_memory_comes_back(
    gpu, settings, tmp_path
):
    used_before = used_gpu_memory_mib(gpu)
    hog = build(gpu, named(ALL_GPU_MEMORY, "gpumem"), tmp_path, "gpumem")
    result = run_program(RunRequest(binary=hog, device=gpu, timeout_s=15), settings)
    assert result.timed_out, result.failure()
    assert "holding" in result.stdout  # it did get the memory before it was killed
    held_mib = int(result.stdout.split()[1])
    assert held_mib > 0.5 * (gpu.memory_gib or 1) * 1024
    assert processes_named(process_name("gpumem")) == []
    assert_gpu_still_works(gpu, settings, tmp_path, used_before)


def test_a_kernel_that_never_finishes_is_killed_and_the_gpu_still_works(gpu, settings, tmp_path):
    used_before = used_gpu_memory_mib(gpu)
    stuck = build(gpu, named(KERNEL_NEVER_ENDS, "gpuhang"), tmp_path, "gpuhang")
    start = time.monotonic()
    result = run_program(RunRequest(binary=stuck, device=gpu, timeout_s=8), settings)
    assert result.timed_out and "launched" in result.stdout
    assert "never printed" not in result.stdout
    assert time.monotonic() - start < 30
    assert processes_named(process_name("gpuhang")) == []
    assert_gpu_still_works(gpu, settings, tmp_path, used_before)


def test_a_gpu_trial_goes_on_past_a_memory_hog_and_a_stuck_kernel(gpu, settings, tmp_path):
    """The vanilla candidate takes all GPU memory, the refactored one hangs in a kernel;
    both time out, and the self-correction after the hang is measured and wins."""
    folder = tmp_path / "src"
    folder.mkdir()
    source = folder / "spin.cu"
    source.write_text(named(spin_program(1.0), "source"))
    trial_settings = settings.model_copy(
        update={
            "repeats": 2,
            "min_window_s": 1.0,
            "settle_window_s": 0.5,
            "settle_timeout_s": 15.0,
            "max_iterations": 1,
            "run_timeout_s": 10,
            "cache_dir": tmp_path / "cache",
        }
    )
    model = scripted(
        vanilla=[fenced(named(ALL_GPU_MEMORY, "gpumem"))],
        refactor=[fenced(named(KERNEL_NEVER_ENDS, "gpuhang"))],
        fix_runtime=[fenced(named(spin_program(0.25), "faster"))],
        judge=[VALID] * 5,
    )
    result, state = run_trial(source, trial_settings, model, device="cuda:0")
    assert outcomes(state) == [
        ("vanilla", 0, 0, "run_failed"),
        ("refactor", 1, 0, "run_failed"),
        ("refactor", 1, 1, "improved"),
    ]
    assert all("timed out" in c.run.failure for c in state["history"][:2])
    assert result.objective == "energy" and result.status == "improved"
    assert result.best.energy_j < 0.6 * result.source.energy_j
