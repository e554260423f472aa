"""The compile tool with the real compilers on this machine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lassi_ee.apps import load_app
from lassi_ee.devices import cpu_device
from lassi_ee.errors import UsageError
from lassi_ee.tools.compile import CompileRequest, compile_app, trim_diagnostics
from lassi_ee.tools.run import RunRequest, run_program
from tests.helpers.fake_devices import H100

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")

KERNEL = r"""
#include <cstdio>
__global__ void scale(float *a, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) a[i] *= 2.0f; }
int main() { float *d; cudaMalloc(&d, 1024 * sizeof(float)); scale<<<4, 256>>>(d, 1024);
  cudaDeviceSynchronize(); printf("PASS\n"); return 0; }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@needs_nvcc
def test_cuda_source_builds_with_the_papers_flags_for_the_device_arch(tmp_path, settings):
    app = load_app(write(tmp_path, "scale.cu", KERNEL))
    result = compile_app(CompileRequest(app=app, device=H100, build_dir=tmp_path / "b"), settings)
    assert result.ok, result.diagnostics
    assert result.binary is not None and result.binary.is_file()
    assert result.command[:6] == ["nvcc", "-std=c++14", "-Xcompiler", "-Wall", "-O3", "-arch=sm_90"]


@needs_nvcc
def test_candidate_code_replaces_the_source_and_errors_come_back_trimmed(tmp_path, settings):
    app = load_app(write(tmp_path, "scale.cu", KERNEL))
    broken = KERNEL.replace("a[i] *= 2.0f;", "a[i] *= 2.0f undeclared_name;")
    result = compile_app(
        CompileRequest(app=app, device=H100, build_dir=tmp_path / "b", code=broken), settings
    )
    assert not result.ok and result.binary is None
    assert "scale.cu(4): error" in result.diagnostics
    assert str(tmp_path) not in result.diagnostics and "/tmp/work" not in result.diagnostics
    assert (tmp_path / "scale.cu").read_text() == KERNEL  # the original is untouched


def test_openmp_program_builds_and_runs(tmp_path, settings):
    code = r"""
    #include <cstdio>
    #include <omp.h>
    int main() { double s = 0;
      #pragma omp parallel for reduction(+:s)
      for (int i = 1; i <= 1000; i++) s += i;
      std::printf("sum %.0f PASS\n", s); return 0; }
    """
    app = load_app(write(tmp_path, "sum.cpp", code))
    assert app.manifest.language == "openmp"
    result = compile_app(
        CompileRequest(app=app, device=cpu_device(), build_dir=tmp_path / "b"), settings
    )
    assert result.ok, result.diagnostics
    assert "-fopenmp" in result.command
    run = run_program(RunRequest(binary=result.binary), settings)
    assert run.stdout.strip() == "sum 500500 PASS"


def test_multi_file_app_with_makefile(tmp_path, settings):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    write(
        app_dir,
        "main.cpp",
        '#include "util.h"\n#include <cstdio>\nint main(){std::printf("%d\\n", twice(21));}\n',
    )
    write(app_dir, "util.h", "int twice(int x);\n")
    write(app_dir, "util.cpp", '#include "util.h"\nint twice(int x){return 2*x;}\n')
    write(app_dir, "Makefile", "main: main.cpp util.cpp\n\tc++ -O2 -o main main.cpp util.cpp\n")
    write(
        app_dir,
        "app.yaml",
        "name: twice\nlanguage: openmp\nrefactor: main.cpp\nsources: [main.cpp, util.cpp]\n"
        "dependencies: [util.h]\nbuild: {system: make, binary: main}\npass_regex: null\n",
    )
    app = load_app(app_dir)
    result = compile_app(
        CompileRequest(app=app, device=cpu_device(), build_dir=tmp_path / "b"), settings
    )
    assert result.ok, result.log
    assert result.command[0] == "make"
    assert run_program(RunRequest(binary=result.binary), settings).stdout.strip() == "42"


def test_compile_timeout_is_a_result(tmp_path, settings):
    app_dir = tmp_path / "slow"
    app_dir.mkdir()
    write(app_dir, "main.cpp", "int main(){}\n")
    write(app_dir, "Makefile", "main:\n\tsleep 30\n")
    write(
        app_dir,
        "app.yaml",
        "name: slow\nlanguage: openmp\nrefactor: main.cpp\nbuild: {system: make, binary: main}\n",
    )
    result = compile_app(
        CompileRequest(
            app=load_app(app_dir), device=cpu_device(), build_dir=tmp_path / "b", timeout_s=1
        ),
        settings,
    )
    assert not result.ok and result.timed_out
    assert result.duration_s < 15
    assert "timed out" in result.log


def test_cuda_program_on_a_cpu_device_is_a_usage_error(tmp_path, settings):
    app = load_app(write(tmp_path, "scale.cu", KERNEL))
    with pytest.raises(UsageError, match="use --device cuda:0"):
        compile_app(
            CompileRequest(app=app, device=cpu_device(), build_dir=tmp_path / "b"), settings
        )


def test_missing_compiler_is_a_usage_error(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    app = load_app(write(tmp_path, "sum.cpp", "int main(){}\n"))
    with pytest.raises(UsageError, match="not on PATH"):
        compile_app(
            CompileRequest(app=app, device=cpu_device(), build_dir=tmp_path / "b"), settings
        )


def test_diagnostics_are_deduplicated_and_capped(tmp_path):
    log = "\n".join(
        [f'{tmp_path}/a.cu(1{i}): error: identifier "x" is undefined' for i in range(100)]
        + ["some unrelated progress line", "a.cu(5): warning: unused variable y"]
    )
    trimmed = trim_diagnostics(log, tmp_path)
    assert trimmed.count("is undefined") == 1  # same message at other lines: kept once
    assert "warning: unused variable y" in trimmed
    assert "progress" not in trimmed and str(tmp_path) not in trimmed


def test_a_single_source_builds_from_itself_and_its_headers_only(tmp_path, settings):
    (tmp_path / "big-unrelated-folder").mkdir()
    (tmp_path / "big-unrelated-folder" / "data.bin").write_bytes(b"x" * 1000)
    write(tmp_path, "util.h", "inline int twice(int x) { return 2 * x; }\n")
    source = write(
        tmp_path,
        "main.cpp",
        '#include "util.h"\n#include <cstdio>\nint main(){std::printf("%d\\n", twice(21));}\n',
    )
    result = compile_app(
        CompileRequest(app=load_app(source), device=cpu_device(), build_dir=tmp_path / "b"),
        settings,
    )
    assert result.ok, result.diagnostics
    copied = sorted(p.name for p in (tmp_path / "b" / "src").iterdir())
    assert copied == ["app", "main.cpp", "util.h"]
