"""Our example programs: manifests, builds with the real compilers, self-checks.

CUDA and HIP programs cannot run on CI machines, so besides compiling them we
run their logic through a sequential host emulation of the CUDA runtime
(tests/emulation): that checks each program's host code, indexing and
self-check (PASS for the program, FAIL for a deliberately broken copy), not GPU
behaviour. The real thing runs in the `gpu` test at the end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lassi_ee.apps import App, load_app
from lassi_ee.devices import Device, cpu_device
from lassi_ee.tools.check import (
    CheckRequest,
    ProgramOutput,
    compare_outputs,
    numbers_in,
    significant_lines,
)
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.equivalence import InputSet, input_sets
from lassi_ee.tools.run import RunRequest, run_program
from tests.helpers.fake_devices import H100

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EMULATION = Path(__file__).resolve().parent / "emulation"
APPS = {path.parent.name: load_app(path.parent) for path in sorted(EXAMPLES.glob("*/app.yaml"))}
CUDA = sorted(name for name, app in APPS.items() if app.manifest.language == "cuda")
OPENMP = sorted(name for name, app in APPS.items() if app.manifest.language == "openmp")
HIP = sorted(name for name, app in APPS.items() if app.manifest.language == "hip")
MI100 = Device(spec="rocm:0", kind="rocm", name="AMD Instinct MI100", arch="gfx908")

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
needs_hipcc = pytest.mark.skipif(shutil.which("hipcc") is None, reason="hipcc not installed")

# One edit per CUDA example that breaks its kernel but not its host check.
BREAKS = {
    "apsp-floyd": ("d[(size_t)k * v + j];", "d[(size_t)k * v + j] + 1;"),
    "block-entropy": ("h -= prob * log2f(prob);", "h -= prob * log2f(prob) * 1.01f;"),
    "hamming-pairs": ("dist[(size_t)i * n + j] = d;", "dist[(size_t)i * n + j] = d + (i == j);"),
    "jacobi2d": ("unew[(size_t)i * n + j] = 0.25f", "unew[(size_t)i * n + j] = 0.26f"),
    "nbody": ("m / powf(r2, 1.5f);", "m / powf(r2, 1.4f);"),
    "prefix-scan": ("out[i] = i >= offset", "out[i] = i > offset"),
    "rotate90": ("out[(size_t)j * n + (n - 1 - i)]", "out[(size_t)j * n + i]"),
    "segment-sum": ("sum += values[k];", "sum += values[k] * 1.01f;"),
    "spmv-csr": ("sum += vals[k] * x[cols[k]];", "sum += vals[k] * x[cols[k] / 2];"),
    "xs-lookup": ("if (t >= count) return;", "if (t >= count) return;\n  first += 1;"),
}


def emulated_binary(app: App, tmp_path: Path, code: str | None = None) -> Path:
    """Build a CUDA/HIP example for the host emulation with g++."""
    text = code if code is not None else app.source_code()
    text = re.sub(r"(\w+)<<<(.*?)>>>\(", r"emulate_launch(\2, \1, ", text)
    source = tmp_path / "emulated.cpp"
    source.write_text(text)
    binary = tmp_path / "emulated"
    includes = ["-I", str(EMULATION), "-I", str(EMULATION / "hip_on_cuda")]
    subprocess.run(
        ["g++", "-O1", "-w", *includes, "-x", "c++", str(source), "-o", str(binary)],
        check=True,
        capture_output=True,
    )
    return binary


def run_smoke(binary: Path, app: App) -> subprocess.CompletedProcess[str]:
    assert app.manifest.smoke_args is not None
    return subprocess.run(
        [str(binary), *app.manifest.smoke_args], capture_output=True, text=True, timeout=120
    )


def check_sets(app: App) -> list[InputSet]:
    """The input sets a candidate is checked on, but the (long) benchmark input."""
    return input_sets(app.manifest)[1:]


def assert_every_check_set_passes_and_changes_the_results(outputs: dict[str, str]) -> None:
    """Each set prints PASS, and its results differ from every other set's: a hard-coded
    answer cannot match on two of them. Results are the numbers after the first line,
    which echoes the arguments (timing lines left out)."""
    results = {}
    for label, stdout in outputs.items():
        assert stdout.splitlines()[-1] == "PASS", (label, stdout)
        lines = significant_lines(stdout)
        assert "=" in lines[0], "the first line echoes the arguments"
        results[label] = [value for value, _ in numbers_in(lines[1:])]
    labels = sorted(results)
    for n, first in enumerate(labels):
        for second in labels[n + 1 :]:
            assert results[first] != results[second], (first, second)


def test_the_examples_cover_the_papers_categories_in_each_model():
    assert len(CUDA) >= 10 and len(OPENMP) >= 3 and len(HIP) >= 3
    categories = {APPS[name].manifest.category for name in CUDA}
    assert {
        "Math",
        "Simulation",
        "Bioinformatics",
        "Graph and Tree",
        "Particle transport",
        "Data compression and reduction",
        "Data encoding, decoding, or verification",
    } <= categories
    for name in OPENMP + HIP:  # each is a counterpart of a CUDA example
        assert name.rsplit("-", 1)[0] in CUDA


@pytest.mark.parametrize("name", sorted(APPS))
def test_manifest_is_complete(name):
    app = APPS[name]
    manifest = app.manifest
    assert manifest.name == name, "the directory and the manifest name agree"
    assert manifest.suite == "examples" and manifest.category
    assert manifest.args and manifest.smoke_args, "defaults for measuring, small ones for CI"
    assert len(manifest.check_args) >= 2, "more inputs for the output check"
    assert len(input_sets(manifest)) == 2 + len(manifest.check_args), "no set repeats another"
    assert manifest.pass_regex == "PASS" and manifest.fail_regex == "FAIL"
    assert manifest.sources == [manifest.refactor], "one self-contained file each"
    assert manifest.build.system == "compiler" and manifest.build.binary == name
    text = app.source_code()
    assert "PASS" in text and "FAIL" in text and 'printf("time: ' in text
    assert 40 <= len(text.splitlines()) <= 250, "small enough to read in one sitting"
    assert text.startswith(f"// {name.removesuffix('-omp').removesuffix('-hip')}")
    assert "Deliberately inefficient" in text, "the top comment says what is wasteful"
    if manifest.language == "hip":
        assert manifest.unverified, "no hipcc here: HIP code is marked unverified"
    else:
        assert manifest.expected_runtime_s is not None
        assert 1.0 <= manifest.expected_runtime_s <= 10.0


@needs_nvcc
@pytest.mark.parametrize("name", CUDA)
def test_cuda_example_compiles_for_the_h100(name, tmp_path, settings):
    result = compile_app(CompileRequest(app=APPS[name], device=H100, build_dir=tmp_path), settings)
    assert result.ok, result.diagnostics
    assert "-arch=sm_90" in result.command
    assert "warning" not in result.log.lower(), result.log


@pytest.mark.parametrize("name", OPENMP)
def test_openmp_example_compiles_runs_and_passes(name, tmp_path, settings):
    app = APPS[name]
    device = cpu_device()
    result = compile_app(CompileRequest(app=app, device=device, build_dir=tmp_path), settings)
    assert result.ok, result.diagnostics
    assert "warning" not in result.log.lower(), result.log
    assert result.binary is not None
    run = run_program(
        RunRequest(binary=result.binary, args=app.manifest.smoke_args or [], device=device),
        settings,
    )
    assert run.ok, run.failure()
    assert run.stdout.splitlines()[-1] == "PASS"
    outputs = {}
    for inputs in check_sets(app):
        checked = run_program(
            RunRequest(binary=result.binary, args=inputs.args, device=device), settings
        )
        assert checked.ok, (inputs.label, checked.failure())
        outputs[inputs.label] = checked.stdout
    assert_every_check_set_passes_and_changes_the_results(outputs)


@pytest.mark.parametrize("name", CUDA + HIP)
def test_gpu_example_passes_its_self_check_under_host_emulation(name, tmp_path):
    """On the smoke input and on every check input, which change its printed results."""
    app = APPS[name]
    binary = emulated_binary(app, tmp_path)
    outputs = {}
    for inputs in check_sets(app):
        run = subprocess.run(
            [str(binary), *inputs.args], capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, (inputs.label, run.stderr)
        outputs[inputs.label] = run.stdout
    assert_every_check_set_passes_and_changes_the_results(outputs)


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_broken_kernel_makes_the_self_check_print_fail(name, tmp_path):
    app = APPS[name]
    old, new = BREAKS[name]
    code = app.source_code()
    assert code.count(old) == 1, "the edit targets exactly one place: the kernel"
    run = run_smoke(emulated_binary(app, tmp_path, code.replace(old, new)), app)
    assert run.returncode == 1
    assert run.stdout.splitlines()[-1] == "FAIL"


def test_every_cuda_example_has_a_break_for_the_test_above():
    assert sorted(BREAKS) == CUDA


@pytest.mark.parametrize("name", OPENMP)
def test_cpu_and_cuda_versions_print_the_same_results(name, tmp_path, settings):
    """Same inputs, same algorithm: the output check sees the two as equivalent."""
    cpu_app, cuda_app = APPS[name], APPS[name.removesuffix("-omp")]
    assert cpu_app.manifest.smoke_args == cuda_app.manifest.smoke_args
    assert cpu_app.manifest.check_args == cuda_app.manifest.check_args
    (tmp_path / "cuda").mkdir()
    cuda_run = run_smoke(emulated_binary(cuda_app, tmp_path / "cuda"), cuda_app)
    build = compile_app(
        CompileRequest(app=cpu_app, device=cpu_device(), build_dir=tmp_path / "cpu"), settings
    )
    assert build.binary is not None, build.diagnostics
    cpu_run = run_program(
        RunRequest(binary=build.binary, args=cpu_app.manifest.smoke_args or []), settings
    )
    check = compare_outputs(
        CheckRequest(
            reference=ProgramOutput(stdout=cuda_run.stdout),
            candidate=ProgramOutput(stdout=cpu_run.stdout),
            pass_regex="PASS",
            fail_regex="FAIL",
        )
    )
    assert check.status == "match", check.finding
    assert check.numbers_compared >= 4


@needs_nvcc
@pytest.mark.parametrize("name", HIP)
def test_hip_example_compiles_against_the_cuda_runtime_api(name, tmp_path):
    """HIP mirrors the CUDA runtime API; nvcc catches misspelt calls and wrong arguments."""
    app = APPS[name]
    result = subprocess.run(
        [
            "nvcc", "-std=c++14", "-Xcompiler", "-Wall", "-O3", "-arch=sm_90",
            "-I", str(EMULATION / "hip_on_cuda"), "-x", "cu", str(app.refactor_path),
            "-o", str(tmp_path / "hip_on_cuda"),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr


@needs_hipcc
@pytest.mark.parametrize("name", HIP)
def test_hip_example_compiles_with_hipcc(name, tmp_path, settings):
    result = compile_app(CompileRequest(app=APPS[name], device=MI100, build_dir=tmp_path), settings)
    assert result.ok, result.diagnostics


@pytest.mark.gpu
@pytest.mark.parametrize("name", CUDA)
def test_cuda_example_passes_with_its_default_arguments_on_the_gpu(name, tmp_path, settings):
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        device = Device(
            spec="cuda:0",
            kind="cuda",
            name=str(pynvml.nvmlDeviceGetName(handle)),
            arch=f"sm_{major}{minor}",
            visible_id="0",
        )
    finally:
        pynvml.nvmlShutdown()
    app = APPS[name]
    build = compile_app(CompileRequest(app=app, device=device, build_dir=tmp_path), settings)
    assert build.binary is not None, build.diagnostics
    run = run_program(
        RunRequest(binary=build.binary, args=app.manifest.args, device=device, timeout_s=120),
        settings,
    )
    assert run.ok, f"{run.failure()}: {run.stderr[-2000:]}"
    assert run.stdout.splitlines()[-1] == "PASS"
    print(f"{name}: {run.wall_s:.2f} s wall ({app.manifest.expected_runtime_s} s estimated)")
