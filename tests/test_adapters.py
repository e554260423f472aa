"""Adapters for HeCBench, XSBench and miniMDock checkouts, on small fake checkout trees.

The trees are laid out like the real suites but hold toy host-only programs
written here, so the real make and nvcc build them and the binaries run
without a GPU: the builds the manifests describe are exercised for real.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lassi_ee.adapters import (
    import_hecbench,
    import_minimdock,
    import_xsbench,
    merge_sources,
    paper_apps,
)
from lassi_ee.adapters.common import derived_check_args, makefile_variables, run_target_args
from lassi_ee.apps import load_app
from lassi_ee.errors import UsageError
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.run import RunRequest, run_program
from tests.helpers.fake_devices import H100

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")

HECBENCH_MAKEFILE = """\
CC        = {compiler}
OPTIMIZE  = yes
DEBUG     = no
ARCH      = sm_60
LAUNCHER  =

program = main

source = {sources}

obj = $(source:.cu=.o)

CFLAGS := $(EXTRA_CFLAGS) -std=c++14 -Xcompiler -Wall -arch=$(ARCH) {cflags}
LDFLAGS = {ldflags}

ifeq ($(DEBUG),yes)
  CFLAGS += -g -DDEBUG
endif

ifeq ($(OPTIMIZE),yes)
  CFLAGS += -O3
endif

$(program): $(obj) Makefile
\t$(CC) $(CFLAGS) $(obj) -o $@ $(LDFLAGS)

%.o: %.cu Makefile
\t$(CC) $(CFLAGS) -c $< -o $@

clean:
\trm -rf $(program) $(obj)

run: $(program)
\t$(LAUNCHER) ./$(program) {run_args}
"""

TOY_MAIN = """\
#include <cstdio>
{includes}
int main(int argc, char **argv) {{
  printf("arguments %d value %d\\n", argc - 1, {value});
  printf("PASS\\n");
  return 0;
}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hecbench_app(
    src: Path,
    directory: str,
    headers: dict[str, str] | None = None,
    value: str = "7",
    cflags: str = "",
    ldflags: str = "",
    run_args: str = "5000 100",
) -> Path:
    app_dir = src / directory
    headers = headers or {}
    for name, text in headers.items():
        write(app_dir / name, text)
    includes = "\n".join(f'#include "{name}"' for name in headers)
    write(app_dir / "main.cu", TOY_MAIN.format(includes=includes, value=value))
    compiler = "hipcc" if directory.endswith("-hip") else "nvcc"
    makefile = HECBENCH_MAKEFILE.format(
        compiler=compiler, sources="main.cu", cflags=cflags, ldflags=ldflags, run_args=run_args
    )
    write(app_dir / "Makefile", makefile)
    return app_dir


@pytest.fixture
def hecbench(tmp_path: Path) -> Path:
    """A fake checkout: three of the paper's apps, one other app, one without CUDA."""
    checkout = tmp_path / "HeCBench"
    src = checkout / "src"
    hecbench_app(src, "matrix-rotate-cuda")
    hecbench_app(src, "matrix-rotate-hip")
    hecbench_app(  # the paper did not hand reference.h to the LLM
        src,
        "entropy-cuda",
        {"reference.h": "#pragma once\nstatic int reference_value() { return 11; }\n"},
        value="reference_value()",
    )
    hecbench_app(  # the paper merged these headers into what it handed to the LLM
        src,
        "extrema-cuda",
        {
            "kernels.h": '#pragma once\n#include "reference.h"\nstatic int kernel_value() { return 2 * reference_value(); }\n',
            "reference.h": "#pragma once\nstatic int reference_value() { return 21; }\n",
        },
        value="kernel_value() + TOY_OFFSET",
        cflags="-DTOY_OFFSET=100",
        ldflags="-lm",
    )
    hecbench_app(
        src, "mytoy-cuda", {"util.h": "static int util() { return 3; }\n"}, "util()", run_args="7 8"
    )
    write(src / "onlysycl-sycl" / "main.cpp", "int main() {}\n")
    return checkout


def manifest_of(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_package_carries_the_papers_22_apps():
    apps = paper_apps()
    assert len(apps) == 22
    assert sum(app.suite == "HeCBench" for app in apps) == 20
    entropy = next(app for app in apps if app.name == "entropy")
    assert entropy.category == "Data encoding, decoding, or verification"
    rotate = next(app for app in apps if app.name == "matrix-rotate")
    assert rotate.args == ["30000", "100"] and rotate.category == "Math"
    assert {app.name for app in apps if app.dependency_not_refactored} == {
        "marchingCubes", "chacha20", "entropy", "keogh",
    }  # fmt: skip


def test_import_points_into_the_checkout_with_the_papers_arguments(hecbench, tmp_path):
    out = tmp_path / "apps"
    written = import_hecbench(hecbench, out, ["matrix-rotate", "entropy", "mytoy"])
    assert written == [
        out / "matrix-rotate" / "app.yaml",
        out / "matrix-rotate-hip" / "app.yaml",
        out / "entropy" / "app.yaml",
        out / "mytoy" / "app.yaml",
    ]
    rotate = load_app(out / "matrix-rotate")
    assert rotate.root == hecbench.resolve() / "src" / "matrix-rotate-cuda"
    assert rotate.manifest.args == ["30000", "100"], "the paper's, not the run target's"
    assert rotate.manifest.check_args == [["15000", "100"]]
    assert "check_args halves the argument 30000" in rotate.manifest.note
    assert rotate.manifest.build.system == "make" and rotate.manifest.build.binary == "main"
    assert (rotate.manifest.category, rotate.manifest.suite) == ("Math", "HeCBench")
    assert sorted(p.name for p in (out / "matrix-rotate").iterdir()) == ["app.yaml"], "no copy"
    hip = load_app(out / "matrix-rotate-hip")
    assert hip.manifest.language == "hip" and hip.manifest.name == "matrix-rotate-hip"
    entropy = load_app(out / "entropy")
    assert entropy.manifest.refactor == "main.cu"
    assert entropy.manifest.dependencies == ["reference.h"]
    assert "dependencies not given to the LLM" in entropy.manifest.note
    toy = load_app(out / "mytoy")
    assert toy.manifest.args == ["7", "8"], "not a paper app: the run target's arguments"
    assert toy.manifest.check_args == [["3", "8"]]
    assert toy.manifest.dependencies == ["util.h"] and toy.manifest.category == ""


def test_paper_apps_whose_headers_the_llm_saw_are_merged(hecbench, tmp_path):
    out = tmp_path / "apps"
    import_hecbench(hecbench, out, ["extrema"])
    app = load_app(out / "extrema")
    assert app.root == (out / "extrema").resolve() and app.manifest.root is None
    merged = app.source_code()
    assert merged.count("static int reference_value()") == 1, "each file once"
    assert merged.count("static int kernel_value()") == 1
    assert '#include "kernels.h"' not in merged and "#pragma once" not in merged
    assert merged.index("reference_value() { return 21") < merged.index("kernel_value()")
    flags = app.manifest.build.extra_flags
    assert "-DTOY_OFFSET=100" in flags and "-lm" in flags
    assert "-DDEBUG" not in flags, "flags inside ifeq blocks are not taken"
    assert f"-I{hecbench.resolve() / 'src' / 'extrema-cuda'}" in flags
    assert app.manifest.build.system == "compiler"


@needs_nvcc
def test_a_linked_app_builds_with_its_own_makefile_for_the_device(hecbench, tmp_path, settings):
    out = tmp_path / "apps"
    import_hecbench(hecbench, out, ["entropy"])
    app = load_app(out / "entropy")
    build = compile_app(CompileRequest(app=app, device=H100, build_dir=tmp_path / "b"), settings)
    assert build.ok, build.log
    assert "-arch=sm_90" in build.log, "make ARCH=sm_90 overrides the Makefile's sm_60"
    run = run_program(RunRequest(binary=build.binary, args=app.manifest.args), settings)
    assert run.stdout.splitlines() == ["arguments 3 value 11", "PASS"]
    assert not (hecbench / "src" / "entropy-cuda" / "main").exists(), "built in a copy"


@needs_nvcc
def test_a_merged_app_builds_with_the_compiler_line_and_runs(hecbench, tmp_path, settings):
    out = tmp_path / "apps"
    import_hecbench(hecbench, out, ["extrema"])
    app = load_app(out / "extrema")
    build = compile_app(CompileRequest(app=app, device=H100, build_dir=tmp_path / "b"), settings)
    assert build.ok, build.log
    assert build.command[0] == "nvcc" and "-lm" in build.command
    run = run_program(RunRequest(binary=build.binary, args=app.manifest.args), settings)
    assert run.stdout.splitlines() == ["arguments 1 value 142", "PASS"]
    candidate = app.source_code().replace("return 21;", "return 20;")
    build = compile_app(
        CompileRequest(app=app, device=H100, build_dir=tmp_path / "c", code=candidate), settings
    )
    run = run_program(RunRequest(binary=build.binary, args=app.manifest.args), settings)
    assert run.stdout.splitlines()[0] == "arguments 1 value 140", "the candidate replaces it whole"


def test_without_names_the_papers_twenty_are_imported(tmp_path):
    src = tmp_path / "HeCBench" / "src"
    hecbench_apps = [app for app in paper_apps() if app.suite == "HeCBench"]
    for app in hecbench_apps:
        hecbench_app(src, f"{app.name}-cuda")
    written = import_hecbench(tmp_path / "HeCBench", tmp_path / "apps")
    assert [path.parent.name for path in written] == [app.name for app in hecbench_apps]
    for path, app in zip(written, hecbench_apps, strict=True):
        manifest = manifest_of(path)
        assert manifest.get("args", []) == app.args
        assert manifest["category"] == app.category
    jacobi = manifest_of(tmp_path / "apps" / "jacobi" / "app.yaml")
    assert "modified its source" in jacobi["note"]
    # the paper ran jacobi without arguments and the run target passes other ones
    assert jacobi["check_args"] == [["5000", "100"]] and "run-target arguments" in jacobi["note"]
    cavity = load_app(tmp_path / "apps" / "lid-driven-cavity").manifest
    assert cavity.args == [] and cavity.check_args == [["5000", "100"]]
    colorwheel = load_app(tmp_path / "apps" / "colorwheel").manifest
    assert colorwheel.check_args == [["5000", "8", "1"]]


def test_a_program_without_a_size_to_vary_says_it_is_checked_on_one_input():
    assert derived_check_args(["-f", "grid.dat"], ["-f", "small.dat"]) == (
        [["-f", "small.dat"]],
        "check_args are the Makefile's run-target arguments: the output check compares "
        "source and candidate on them too.",
    )
    none, note = derived_check_args([], None)
    assert none == [] and note.startswith("No check_args: the program takes no arguments")
    none, note = derived_check_args(["-v", "1"], ["-v", "1"])
    assert none == [] and "has no size or count among its arguments" in note


def test_reimport_replaces_its_own_output_but_not_other_files(hecbench, tmp_path):
    out = tmp_path / "apps"
    import_hecbench(hecbench, out, ["mytoy"])
    import_hecbench(hecbench, out, ["mytoy"])  # idempotent
    assert load_app(out / "mytoy").manifest.args == ["7", "8"]
    write(out / "entropy" / "notes.txt", "mine\n")
    with pytest.raises(UsageError, match="was not written by lassi-ee"):
        import_hecbench(hecbench, out, ["entropy"])
    assert (out / "entropy" / "notes.txt").read_text() == "mine\n"


def test_bad_checkout_paths_say_what_was_expected(tmp_path):
    with pytest.raises(UsageError, match="no such directory"):
        import_hecbench(tmp_path / "missing", tmp_path / "apps")
    write(tmp_path / "notes" / "README", "hello\n")
    with pytest.raises(UsageError, match=r"not a HeCBench checkout: expected a src/ directory"):
        import_hecbench(tmp_path / "notes", tmp_path / "apps")


def test_bad_app_names_are_all_reported_before_anything_is_written(hecbench, tmp_path):
    out = tmp_path / "apps"
    with pytest.raises(UsageError) as caught:
        import_hecbench(hecbench, out, ["matrix-rotate", "entropi", "onlysycl"])
    message = str(caught.value)
    assert "no app 'entropi'" in message and "did you mean 'entropy'?" in message
    assert "'onlysycl' has no CUDA version: expected src/onlysycl-cuda/" in message
    assert "found only src/onlysycl-sycl/" in message
    assert not out.exists()


def test_a_checkout_given_as_its_src_directory_is_accepted(hecbench, tmp_path):
    written = import_hecbench(hecbench / "src", tmp_path / "apps", ["mytoy"])
    assert manifest_of(written[0])["root"] == str(hecbench.resolve() / "src" / "mytoy-cuda")


def test_an_app_without_a_makefile_is_a_clear_error(hecbench, tmp_path):
    (hecbench / "src" / "mytoy-cuda" / "Makefile").unlink()
    with pytest.raises(UsageError, match="mytoy-cuda: no Makefile"):
        import_hecbench(hecbench, tmp_path / "apps", ["mytoy"])


def test_a_manifest_whose_checkout_moved_is_a_clear_error(hecbench, tmp_path):
    import_hecbench(hecbench, tmp_path / "apps", ["mytoy"])
    shutil.rmtree(hecbench / "src" / "mytoy-cuda")
    with pytest.raises(UsageError, match="is not a directory"):
        load_app(tmp_path / "apps" / "mytoy")


def test_a_relative_root_is_relative_to_the_manifest(tmp_path):
    write(tmp_path / "code" / "main.cpp", "int main() { return 0; }\n")
    write(
        tmp_path / "apps" / "toy" / "app.yaml",
        "name: toy\nlanguage: openmp\nroot: ../../code\nrefactor: main.cpp\n",
    )
    app = load_app(tmp_path / "apps" / "toy")
    assert app.root == (tmp_path / "code").resolve()
    assert app.source_code().startswith("int main()")


# --- merging -------------------------------------------------------------------------


def test_merge_inlines_each_local_file_once_in_include_order(tmp_path):
    write(tmp_path / "a.cu", '#include "common.h"\n#include <cstdio>\nint a() { return B; }\n')
    write(tmp_path / "b.cu", '#include "common.h"\n#include "missing.h"\nint b();\n')
    write(tmp_path / "common.h", '#pragma once\n#include "inner/defs.h"\nint common;\n')
    write(tmp_path / "inner" / "defs.h", '#include "../common.h"\n#define B 2\n')
    merged = merge_sources(tmp_path, ["a.cu", "b.cu"])
    assert merged.files == ["a.cu", "common.h", "inner/defs.h", "b.cu"]
    assert merged.unresolved == ["missing.h"]
    text = merged.text
    assert text.count("int common;") == 1 and text.count("#define B 2") == 1
    assert text.index("#define B 2") < text.index("int common;") < text.index("int a()")
    assert '#include "missing.h"' in text and "#include <cstdio>" in text
    assert "#pragma once" not in text and '#include "common.h"' not in text


def test_merge_prefers_model_variants_and_searches_include_dirs(tmp_path):
    write(tmp_path / "src" / "main.cpp", '#include "data.h"\nint main() { return DATA; }\n')
    write(tmp_path / "inc" / "data.h", "#define DATA 1\n")
    write(tmp_path / "inc" / "data.h.Cuda", "#define DATA 2\n")
    merged = merge_sources(tmp_path, ["src/main.cpp"], ["inc"], variant_suffix=".Cuda")
    assert merged.files == ["src/main.cpp", "inc/data.h.Cuda"]
    assert "#define DATA 2" in merged.text and "#define DATA 1" not in merged.text


def test_merge_of_a_missing_unit_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"expected the source file gone\.cu"):
        merge_sources(tmp_path, ["gone.cu"])


def test_makefile_variables_skip_conditionals_and_join_continuations():
    text = (
        "program = XSBench\nsource = \\\nMain.cu \\\nio.cu\nLDFLAGS = -lm\n"
        "ifeq ($(DEBUG),yes)\n  LDFLAGS += -g\nendif\nLDFLAGS += -lcurand\nCC ?= nvcc\n"
        "run:\n\t./$(program) -m event\n"
    )
    variables = makefile_variables(text)
    assert variables["source"] == ["Main.cu", "io.cu"]
    assert variables["LDFLAGS"] == ["-lm", "-lcurand"]
    assert variables["CC"] == ["nvcc"]
    assert run_target_args(text, "XSBench") == ["-m", "event"]
    assert run_target_args("all:\n\tmake\n", "main") is None


# --- XSBench and miniMDock -------------------------------------------------------------


@pytest.fixture
def xsbench(tmp_path: Path) -> Path:
    cuda = tmp_path / "XSBench" / "cuda"
    write(
        cuda / "XSbench_header.cuh",
        "#ifndef XS_HEADER\n#define XS_HEADER\n#include <cstdio>\n"
        "typedef struct { long lookups; } Inputs;\nInputs read_cli(int, char **);\n"
        "unsigned long long simulate(Inputs);\n#endif\n",
    )
    write(
        cuda / "Main.cu",
        '#include "XSbench_header.cuh"\nint main(int argc, char **argv) {\n'
        "  Inputs in = read_cli(argc, argv);\n"
        '  printf("Runtime:     0.123 seconds\\n");\n'
        '  printf("Verification checksum: %llu (Valid)\\n", simulate(in));\n  return 0;\n}\n',
    )
    write(
        cuda / "io.cu",
        '#include "XSbench_header.cuh"\n#include <cstdlib>\n'
        "Inputs read_cli(int argc, char **argv) { Inputs in; in.lookups = atol(argv[argc - 1]);"
        " return in; }\n",
    )
    write(
        cuda / "Simulation.cu",
        '#include "XSbench_header.cuh"\n'
        "unsigned long long simulate(Inputs in) { return in.lookups % 999983; }\n",
    )
    write(cuda / "aml.cu", "this file is not in the Makefile's source list\n")
    write(
        cuda / "Makefile",
        "COMPILER = nvidia\nprogram = XSBench\n\nsource = \\\nMain.cu \\\nio.cu \\\n"
        "Simulation.cu\n\nobj = $(source:.cu=.o)\nCFLAGS :=\nLDFLAGS = -lm\n"
        "ifeq ($(COMPILER),nvidia)\n  CC = nvcc\n  CFLAGS += -arch=sm_$(SM_VERSION)\nendif\n",
    )
    return tmp_path / "XSBench"


def test_xsbench_is_merged_in_the_makefiles_order(xsbench, tmp_path):
    manifest_path = import_xsbench(xsbench, tmp_path / "apps")
    app = load_app(manifest_path.parent)
    assert manifest_path == tmp_path / "apps" / "XSBench" / "app.yaml"
    assert app.manifest.refactor == "XSBench.cu" and app.manifest.build.binary == "XSBench"
    assert app.manifest.args == ["-m", "event", "-l", "1700000000"]
    assert app.manifest.check_args == [["-m", "event", "-l", "850000000"]]
    assert "halves the argument 1700000000" in app.manifest.note
    assert app.manifest.build.extra_flags == ["-lm"]
    assert app.manifest.unverified and app.manifest.suite == "miniApp"
    text = app.source_code()
    assert text.count("typedef struct") == 1
    order = [text.index(f"from {name}") for name in ("Main.cu", "XSbench_header.cuh", "io.cu")]
    assert order == sorted(order)
    assert "not in the Makefile" not in text


@needs_nvcc
def test_merged_xsbench_builds_and_its_output_check_ignores_timing(xsbench, tmp_path, settings):
    app = load_app(import_xsbench(xsbench / "cuda", tmp_path / "apps").parent)
    build = compile_app(CompileRequest(app=app, device=H100, build_dir=tmp_path / "b"), settings)
    assert build.ok, build.log
    run = run_program(RunRequest(binary=build.binary, args=app.manifest.args), settings)
    assert "Verification checksum: 28900 (Valid)" in run.stdout  # 1700000000 % 999983
    [check_args] = app.manifest.check_args
    checked = run_program(RunRequest(binary=build.binary, args=check_args), settings)
    assert "Verification checksum: 14450 (Valid)" in checked.stdout  # the answer changes
    assert app.manifest.ignore_regex and "Runtime" in app.manifest.ignore_regex


def test_not_an_xsbench_checkout(tmp_path):
    write(tmp_path / "other" / "cuda" / "main.cu", "int main() {}\n")
    with pytest.raises(UsageError, match=r"not a XSBench checkout .*expected cuda/XSbench_header"):
        import_xsbench(tmp_path / "other", tmp_path / "apps")


@pytest.fixture
def minimdock(tmp_path: Path) -> Path:
    root = tmp_path / "miniMDock"
    guard = "#ifndef GPUDATA_H\n#define GPUDATA_H\n{body}#endif\n"
    write(root / "common" / "defines.h", "#pragma once\n#define NUM_ATOMS 4\n")
    write(root / "device" / "cuda" / "GpuData.h", guard.format(body="struct GpuData { int n; };\n"))
    write(
        root / "device" / "cuda" / "kernels.cu",
        '#include "defines.h"\n#include "GpuData.h"\nstatic GpuData cpuData;\n'
        'void SetKernelsGpuData(GpuData *p) { cpuData = *p; }\n#include "kernel1.cu"\n',
    )
    write(
        root / "device" / "cuda" / "kernel1.cu", "int atoms() { return cpuData.n * NUM_ATOMS; }\n"
    )
    write(root / "host" / "inc" / "GpuData.h", "this broken plain copy must not be used\n")
    write(
        root / "host" / "inc" / "GpuData.h.Cuda", guard.format(body="struct GpuData { int n; };\n")
    )
    write(root / "host" / "inc" / "performdocking.h.Cuda", "void dock(const char *ligand);\n")
    write(
        root / "host" / "src" / "performdocking.cpp.Cuda",
        '#include <cstdio>\n#include "performdocking.h"\n#include "GpuData.h"\n'
        "int atoms();\nvoid SetKernelsGpuData(GpuData *p);\n"
        "void dock(const char *ligand) {\n  GpuData d{2};\n  SetKernelsGpuData(&d);\n"
        '  FILE *f = fopen(ligand, "r");\n  char line[64] = "";\n'
        "  if (f && fgets(line, sizeof line, f)) fclose(f);\n"
        '  printf("%s atoms %d version %s\\n", line, atoms(), VERSION);\n}\n',
    )
    write(
        root / "host" / "src" / "main.cpp",
        '#include "performdocking.h"\n#include <cstring>\n'
        "int main(int argc, char **argv) {\n  for (int i = 1; i + 1 < argc; i++)\n"
        '    if (!strcmp(argv[i], "-lfile")) dock(argv[i + 1]);\n  return 0;\n}\n',
    )
    write(root / "input" / "7cpa" / "7cpa_ligand.pdbqt", "REMARK toy ligand\n")
    return root


def test_minimdock_merges_kernels_and_host_code_with_cuda_variants(minimdock, tmp_path):
    app = load_app(import_minimdock(minimdock, tmp_path / "apps").parent)
    text = app.source_code()
    assert "broken plain copy" not in text, "x.h.Cuda is used where it exists"
    assert text.count("struct GpuData") == 2 and text.count("#define GPUDATA_H") == 2
    assert "#define NUM_ATOMS 4" in text and "int atoms()" in text
    assert "from host/src/performdocking.cpp.Cuda" in text
    assert text.index("from device/cuda/kernels.cu") < text.index("from host/src/main.cpp")
    assert app.manifest.data_files == [str(minimdock.resolve() / "input")]
    assert app.manifest.args[:2] == ["-lfile", "./input/7cpa/7cpa_ligand.pdbqt"]
    assert app.manifest.check_args == [[*app.manifest.args[:3], "250"]]
    assert "-lcurand" in app.manifest.build.extra_flags


@needs_nvcc
def test_merged_minimdock_builds_and_finds_its_data_files(minimdock, tmp_path, settings):
    app = load_app(import_minimdock(minimdock, tmp_path / "apps").parent)
    app.manifest.build.extra_flags.remove("-lcurand")  # the toy needs no cuRAND; CI may lack it
    build = compile_app(CompileRequest(app=app, device=H100, build_dir=tmp_path / "b"), settings)
    assert build.ok, build.log
    data = [app.root / name for name in app.manifest.data_files]
    run = run_program(
        RunRequest(binary=build.binary, args=app.manifest.args, data_files=data), settings
    )
    assert run.stdout.splitlines() == ["REMARK toy ligand", " atoms 8 version lassi-ee"]


def test_minimdock_without_the_papers_test_case_is_a_clear_error(minimdock, tmp_path):
    shutil.rmtree(minimdock / "input" / "7cpa")
    with pytest.raises(UsageError, match=r"expected the paper's test case input/7cpa"):
        import_minimdock(minimdock, tmp_path / "apps")
