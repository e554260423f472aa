"""The self-check guard: finding the code that decides a program's PASS/FAIL marker, and
vetoing a candidate that changes it (issue 26, item 1).

The sources are our own examples (examples/*) and HeCBench-style programs written here;
each adversarial candidate is the source with one cheat edited in, each legitimate one
the source with its work rewritten and its check left alone. Whole trials with these
cheats are in hardening/test_self_check_trials.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lassi_ee.apps import SelfCheckSpec
from lassi_ee.c_syntax import Names, parse_program
from lassi_ee.tools.guards import GuardInput, self_check
from lassi_ee.tools.self_check import Markers, locate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
JACOBI = (EXAMPLES / "jacobi2d" / "jacobi2d.cu").read_text()
JACOBI_OMP = (EXAMPLES / "jacobi2d-omp" / "jacobi2d.cpp").read_text()
MARKERS = Markers("PASS", "FAIL")

# HeCBench's usual shape: a host reference function, a flag, a break, PASS or FAIL only.
SCALE = r"""#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define TOL 1e-4f

__global__ void scale(const float *in, float *out, int n, float a) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * in[i] + 1.0f;
}

static void reference(const float *in, float *ref, int n, float a) {
  for (int i = 0; i < n; i++) ref[i] = a * in[i] + 1.0f;
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 1 << 20;
  const float a = 2.5f;
  float *h_in = (float *)malloc(n * sizeof(float));
  float *h_out = (float *)malloc(n * sizeof(float));
  float *h_ref = (float *)malloc(n * sizeof(float));
  for (int i = 0; i < n; i++) h_in[i] = (i % 97) * 0.01f;
  float *d_in, *d_out;
  cudaMalloc(&d_in, n * sizeof(float));
  cudaMalloc(&d_out, n * sizeof(float));
  cudaMemcpy(d_in, h_in, n * sizeof(float), cudaMemcpyHostToDevice);
  for (int r = 0; r < 100; r++) scale<<<(n + 255) / 256, 256>>>(d_in, d_out, n, a);
  cudaMemcpy(h_out, d_out, n * sizeof(float), cudaMemcpyDeviceToHost);

  reference(h_in, h_ref, n, a);
  bool ok = true;
  for (int i = 0; i < n; i++) {
    if (fabsf(h_out[i] - h_ref[i]) > TOL) {
      ok = false;
      break;
    }
  }
  printf("%s\n", ok ? "PASS" : "FAIL");
  cudaFree(d_in);
  cudaFree(d_out);
  free(h_in);
  free(h_out);
  free(h_ref);
  return 0;
}
"""

# The check runs on the GPU: the host only reads the count back.
DEVICE_CHECK = r"""#include <cstdio>
__global__ void fill(float *out, int n) { int i = threadIdx.x; if (i < n) out[i] = 2.0f * i; }
__global__ void verify(const float *out, int n, int *errors) {
  int i = threadIdx.x;
  if (i < n && out[i] != 2.0f * i) atomicAdd(errors, 1);
}
int main() {
  float *d_out; int *d_errors; int errors = 0;
  cudaMalloc(&d_out, 256 * sizeof(float));
  cudaMalloc(&d_errors, sizeof(int));
  cudaMemcpy(d_errors, &errors, sizeof(int), cudaMemcpyHostToDevice);
  fill<<<1, 256>>>(d_out, 256);
  verify<<<1, 256>>>(d_out, 256, d_errors);
  cudaMemcpy(&errors, d_errors, sizeof(int), cudaMemcpyDeviceToHost);
  printf("%s\n", errors == 0 ? "PASS" : "FAIL");
  return 0;
}
"""

# The marker is printed by a helper of another file (not handed to the LLM): the guard
# sees no marker in this one, so the manifest names the check's lines.
HELPER_PRINTS = r"""#include <cmath>
#include "report.h"
static void reference(const double *in, double *ref, int n) {
  for (int i = 0; i < n; i++) ref[i] = std::sqrt(in[i]);
}
int main() {
  const int n = 4096;
  double in[4096], out[4096], ref[4096];
  for (int i = 0; i < n; i++) in[i] = i;
#pragma omp parallel for
  for (int i = 0; i < n; i++) out[i] = std::sqrt(in[i]);
  reference(in, ref, n);
  int bad = 0;
  for (int i = 0; i < n; i++)
    if (std::fabs(out[i] - ref[i]) > 1e-12) bad++;
  report(bad == 0);
  return 0;
}
"""


def findings(source: str, candidate: str, *, nothing_compared: bool = False, spec=None):
    return self_check(
        GuardInput(
            language="cuda",
            source_code=source,
            candidate_code=candidate,
            pass_regex="PASS",
            fail_regex="FAIL",
            self_check=spec,
            nothing_compared=nothing_compared,
        )
    )


def edited(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


def the_veto(source: str, candidate: str, **options) -> str:
    [finding] = findings(source, candidate, **options)
    assert finding.rule == "self-check" and finding.vetoes, finding
    return finding.finding


# --- finding the self-check ----------------------------------------------------------------


def test_the_self_check_of_jacobi2d_is_its_comparison_and_nothing_of_its_work():
    found, _ = locate(JACOBI, MARKERS, None)
    assert found.status == "found"
    assert set(found.sections) == {"in main"}
    lines = [line.line for line in found.sections["in main"]]
    # the counter, the two loops, the expected value, the comparison, the marker's print
    assert sorted(set(lines)) == [102, 103, 104, 105, 106, 107, 108, 109, 119]
    texts = " ".join(line.text for line in found.sections["in main"])
    assert "1e-5f" in texts and "bad++" in texts and '"PASS"' in texts
    assert "sweep" not in texts and "cudaMemcpy" not in texts  # the program's work
    assert {"h_new", "h_old", "h_u"} <= set(found.results_read)


def test_a_reference_function_and_a_tolerance_macro_belong_to_the_self_check():
    found, _ = locate(SCALE, MARKERS, None)
    assert found.status == "found"
    assert set(found.sections) == {"in main", "function reference", "macro TOL"}
    main = [line.text.strip() for line in found.sections["in main"]]
    assert main[0] == "reference(h_in,h_ref,n,a);" and main[-1].startswith("printf(")
    assert "break;" in main  # a jump that can skip a failure
    assert not any("malloc" in text or "scale<<<" in text for text in main)


@pytest.mark.parametrize(
    "example", sorted(p for p in EXAMPLES.glob("*/*") if p.suffix in (".cu", ".cpp", ".hip"))
)
def test_every_example_has_a_self_check_of_its_own_that_stops_at_its_work(example):
    found, _ = locate(example.read_text(), MARKERS, None)
    assert found.status == "found", example
    texts = [line.text for lines in found.sections.values() for line in lines]
    assert any("PASS" in text for text in texts)
    assert not any("<<<" in text or "#pragma omp" in text for text in texts)


def test_a_marker_printed_whatever_happens_or_decided_on_the_device_is_no_self_check():
    always = (EXAMPLES.parent / "lassi_ee/demo/programs/heat2d-omp/heat2d.cpp").read_text()
    assert locate(always, MARKERS, None)[0].status == "unconditional"
    on_device, _ = locate(DEVICE_CHECK, MARKERS, None)
    assert on_device.status == "shallow" and on_device.results_read == ["errors"]
    assert locate("int main() { return 0; }\n", MARKERS, None)[0].status == "absent"


# --- adversarial candidates: each vetoed, naming the change -------------------------------


def test_an_edited_tolerance_is_vetoed():
    finding = the_veto(JACOBI, edited(JACOBI, "> 1e-5f * fmaxf", "> 1e-1f * fmaxf"))
    assert "'if (fabsf(h_new[c] - expect) > 1e-5f * fmaxf(1.0f, fabsf(expect)))' (line 109)" in (
        finding
    )
    assert "became 'if (fabsf(h_new[c] - expect) > 1e-1f * fmaxf" in finding
    macro = the_veto(SCALE, edited(SCALE, "#define TOL 1e-4f", "#define TOL 1e30f"))
    assert "macro TOL: '#define TOL 1e-4f' (line 6) became '#define TOL 1e30f'" in macro


def test_an_edited_expected_value_is_vetoed():
    finding = the_veto(JACOBI, edited(JACOBI, "expect = 0.25f * (h_old", "expect = 0.2f * (h_old"))
    assert "'expect = 0.25f * (h_old[c - n]" in finding and "became 'expect = 0.2f" in finding
    reference = edited(
        SCALE, "ref[i] = a * in[i] + 1.0f;", "ref[i] = i < n / 3 ? a * in[i] + 1.0f : 0;"
    )
    assert "function reference" in the_veto(SCALE, reference)


def test_a_removed_comparison_is_vetoed():
    removed = edited(
        JACOBI, "if (fabsf(h_new[c] - expect) > 1e-5f * fmaxf(1.0f, fabsf(expect))) bad++;", ""
    )
    assert "'for (int i = 0; i < n; i++)' (line 103) and the 7 lines after it is gone" in (
        the_veto(JACOBI, removed)
    )


def test_a_marker_printed_unconditionally_is_vetoed():
    always = edited(JACOBI, 'printf("%s\\n", bad == 0 ? "PASS" : "FAIL");', 'printf("PASS\\n");')
    assert "became 'printf(\"PASS\\n\");'" in the_veto(JACOBI, always)
    added = edited(SCALE, "  cudaFree(d_in);", '  printf("PASS\\n");\n  cudaFree(d_in);')
    assert "was added" in the_veto(SCALE, added)


def test_the_check_moved_into_a_function_that_always_succeeds_is_vetoed():
    moved = edited(
        SCALE,
        "int main(",
        "static bool verify(const float *out, const float *ref, int n) { return true; }\nint main(",
    )
    start, end = moved.index("  bool ok = true;"), moved.index('  printf("%s\\n"')
    moved = moved[:start] + "  bool ok = verify(h_out, h_ref, n);\n" + moved[end:]
    finding = the_veto(SCALE, moved)
    assert "function verify: 'static bool verify(" in finding and "was added" in finding


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        # the verdict overridden just before it is printed
        ('  printf("%s\\n", ok', '  ok = true;\n  printf("%s\\n", ok', "'ok = true;'"),
        # the comparison loop left at once
        (
            "  for (int i = 0; i < n; i++) {\n    if (fabsf",
            "  for (int i = 0; i < n; i++) {\n    break;\n    if (fabsf",
            "'break;'",
        ),
        # fabsf made to return 0 for the comparison
        ("#define TOL 1e-4f", "#define TOL 1e-4f\n#define fabsf(x) 0.0f", "macro fabsf"),
        # the reference copied into the results: the reference is then the program's
        (
            "  bool ok = true;",
            "  memcpy(h_out, h_ref, n * sizeof(float));\n  bool ok = true;",
            "function reference",
        ),
        # the reference written over the results it is compared with
        (
            "float *h_ref = (float *)malloc(n * sizeof(float));",
            "float *h_ref = h_out;",
            "float *h_ref = h_out;",
        ),
    ],
    ids=["verdict-overridden", "early-break", "macro", "copied-reference", "aliased-reference"],
)
def test_subtler_edits_of_the_check_are_vetoed(old, new, words):
    assert words in the_veto(SCALE, edited(SCALE, old, new))


# --- legitimate refactorings: the work rewritten, the check kept ----------------------------


COALESCED_SWEEP = """__global__ void sweep(const float *__restrict__ u, float *__restrict__ unew, int n) {
  __shared__ float tile[6][34];
  int j = blockIdx.x * 32 + threadIdx.x;
  int i = blockIdx.y * 4 + threadIdx.y;
  tile[threadIdx.y + 1][threadIdx.x + 1] = (i < n && j < n) ? u[(size_t)i * n + j] : 0.0f;
  __syncthreads();
  if (i < 1 || j < 1 || i >= n - 1 || j >= n - 1) return;
  unew[(size_t)i * n + j] = 0.25f * (u[(size_t)(i - 1) * n + j] + u[(size_t)(i + 1) * n + j] +
                                     tile[threadIdx.y + 1][threadIdx.x] + tile[threadIdx.y + 1][threadIdx.x + 2]);
}
"""


def test_a_kernel_rewritten_with_its_launch_and_memory_passes():
    start, end = JACOBI.index("__global__ void sweep"), JACOBI.index("int main(")
    rewritten = JACOBI[:start] + COALESCED_SWEEP + "\n" + JACOBI[end:]
    rewritten = edited(rewritten, "dim3 block(32, 4);", "dim3 block(32, 4);  // rows along x")
    rewritten = edited(
        rewritten,
        "float *h_old = (float *)malloc(bytes);\n  float *h_new = (float *)malloc(bytes);",
        "float *h_old, *h_new;\n  CHECK(cudaMallocHost(&h_old, bytes));\n  CHECK(cudaMallocHost(&h_new, bytes));",
    )
    rewritten = edited(
        rewritten,
        "if (it < iters) CHECK(cudaMemcpy(d_u, d_unew, bytes, cudaMemcpyDeviceToDevice));",
        "if (it < iters) std::swap(d_u, d_unew);",
    )
    rewritten = edited(
        rewritten, "free(h_old);\n  free(h_new);", "cudaFreeHost(h_old);\n  cudaFreeHost(h_new);"
    )
    assert findings(JACOBI, rewritten) == []


def test_a_parallel_loop_rewritten_and_the_check_reformatted_pass():
    rewritten = edited(
        JACOBI_OMP,
        "#pragma omp parallel for schedule(dynamic, 1)\n    for (int j = 1; j < n - 1; j++)\n      for (int i = 1; i < n - 1; i++)",
        "#pragma omp parallel for schedule(static)\n    for (int i = 1; i < n - 1; i++)\n      for (int j = 1; j < n - 1; j++)",
    )
    rewritten = edited(rewritten, "size_t bad = 0;", "size_t   bad   =   0;   // cells that differ")
    rewritten = edited(
        rewritten,
        '  printf("%s\\n", bad == 0',
        '  /* the verdict */\n  printf("%s\\n",\n         bad == 0',
    )
    assert findings(JACOBI_OMP, rewritten) == []


# --- nothing to compare: a gain needs a self-check of the source's own ---------------------


def test_with_nothing_compared_a_kept_self_check_is_noted_and_no_self_check_vetoes():
    [kept] = findings(SCALE, SCALE.replace("100; r++", "10; r++"), nothing_compared=True)
    assert not kept.vetoes and kept.finding.startswith("kept: the source's self-check")
    always = 'int main() { printf("PASS\\n"); return 0; }\n'
    assert "prints its marker whatever happens (line 1)" in the_veto(
        always, always.replace("return 0", "return 0 "), nothing_compared=True
    )
    assert "depends only on what its own work produces (errors;" in the_veto(
        DEVICE_CHECK, DEVICE_CHECK, nothing_compared=True
    )
    assert findings(DEVICE_CHECK, DEVICE_CHECK) == []  # compared outputs: no claim depends on it


# --- the manifest names the self-check -------------------------------------------------------


def test_a_self_check_named_by_lines_is_kept_like_one_found():
    assert locate(HELPER_PRINTS, MARKERS, None)[0].status == "absent"
    spec = SelfCheckSpec(lines=["13-16"])
    named, _ = locate(HELPER_PRINTS, MARKERS, spec)
    assert named.status == "named"
    assert "function reference" in named.sections  # the named lines call it
    loose = edited(HELPER_PRINTS, "> 1e-12", "> 1e-3")
    finding = the_veto(HELPER_PRINTS, loose, spec=spec)
    assert (
        "'if (std::fabs(out[i] - ref[i]) > 1e-12)' (source line 15, named in the manifest) is gone"
        in (finding)
    )
    faster = edited(HELPER_PRINTS, "#pragma omp parallel for\n", "#pragma omp parallel for simd\n")
    [kept] = findings(HELPER_PRINTS, faster, spec=spec, nothing_compared=True)
    assert not kept.vetoes


def test_a_self_check_named_by_function_must_keep_that_function():
    spec = SelfCheckSpec(functions=["reference"])
    changed = edited(HELPER_PRINTS, "ref[i] = std::sqrt(in[i]);", "ref[i] = out[i];")
    assert "function reference" in the_veto(HELPER_PRINTS, changed, spec=spec)
    gone = edited(HELPER_PRINTS, "static void reference", "static void reference_v2").replace(
        "reference(in, ref, n);", "reference_v2(in, ref, n);"
    )
    assert "function reference (named in the manifest) is gone" in the_veto(
        HELPER_PRINTS, gone, spec=spec
    )


# --- the reader never fails ------------------------------------------------------------------


def test_the_reader_keeps_going_through_what_it_cannot_parse():
    code = r"""#include <cstdio>
extern "C" { int helper(int x) { return x + 1; } }
namespace lab { static int twice(int x) { return 2 * x; } }
struct Pair { int a, b; int sum() const { return a + b; } };
template <typename T> static T id(T x) { return x; }
#define FOR_EACH(i, n) for (int i = 0; i < (n); i++)
int main() {
  const char *raw = R"(PASS { not a block; })";
  auto add = [&](int x) { int y = x; return y + 1; };
  int total = 0;
  FOR_EACH(i, 4) { total += add(i); }
  if constexpr (sizeof(int) == 4) total += lab::twice(1);
  do { total--; } while (total > 100);
  switch (total) { case 1: total = 2; break; default: break; }
  printf("%s %d\n", total > 0 ? "PASS" : "FAIL", total);
}
"""
    program = parse_program(code)
    assert [f.name for f in program.functions] == ["helper", "twice", "id", "main"]
    assert "FOR_EACH" in program.macros
    main = program.functions[-1].body
    kinds = [s.kind for s in main.children]
    assert kinds[:4] == ["simple", "simple", "simple", "for"]  # the macro's block is a loop
    assert "if" in kinds and "do" in kinds and "switch" in kinds
    names = Names(program)
    total_writes = [
        program.text(u.first, u.last)
        for u in names.units
        if any(d.name == "total" for d in u.writes)
    ]
    assert "total += add(i);" in total_writes and "total--;" in total_writes
    found, _ = locate(code, MARKERS, None)
    assert found.status == "shallow"  # total is printed: a result, which the check only reads
    assert found.results_read == ["total"]
    checked_only = code.replace('"%s %d\n"', '"%s\n"').replace(", total);", ");")
    assert locate(checked_only, MARKERS, None)[0].status == "found"
