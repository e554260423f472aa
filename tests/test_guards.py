"""The static guards: each rule on code that should trip it, and on code that should not."""

from __future__ import annotations

from lassi_ee.tools.guards import (
    RULES,
    GuardInput,
    files_outside_workdir,
    gpu_work,
    hard_coded_results,
    power_shaping,
    printed_literals,
    recorded_outputs,
    run_guards,
)

SOURCE = r"""#include <cstdio>
#include <cstdlib>
#include <cmath>
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  double sum = 0;
  for (long i = 0; i < n; i++) sum += sqrt((double)i);
  printf("n %ld\n", n);
  printf("checksum %.6f\n", sum);
  printf("PASS\n");
  return 0;
}
"""
OUTPUT = "n 1000\nchecksum 21065.833111\nelapsed time 0.01 s\nPASS\n"

CUDA_SOURCE = r"""#include <cstdio>
__global__ void square(float *x, int n) { int i = threadIdx.x; if (i < n) x[i] *= x[i]; }
__global__ void offset(float *x, int n) { int i = threadIdx.x; if (i < n) x[i] += 1; }
int main() {
  float *x; cudaMalloc(&x, 256 * sizeof(float));
  square<<<1, 256>>>(x, 256);
  offset<<<1, 256>>>(x, 256);
  cudaDeviceSynchronize();
  printf("PASS\n");
}
"""


def guard(candidate: str, **kw) -> GuardInput:
    values = {
        "language": "openmp",
        "source_code": SOURCE,
        "candidate_code": candidate,
        "source_outputs": [OUTPUT],
        "arg_sets": [["1000"]],
        **kw,
    }
    return GuardInput.model_validate(values)


def test_reading_the_recorded_outputs_vetoes():
    reader = SOURCE.replace(
        'printf("PASS\\n");', 'FILE *f = fopen("/srv/cache/ab12/reference.json", "r");'
    )
    [finding] = recorded_outputs(guard(reader))
    assert finding.vetoes and "reference.json" in finding.finding
    protected = SOURCE.replace("return 0;", 'system("cat /srv/lassi/cache/*/outputs/*");')
    [finding] = recorded_outputs(guard(protected, protected_paths=["/srv/lassi/cache"]))
    assert finding.vetoes and "/srv/lassi/cache" in finding.finding
    # named only in a comment, or by the source itself: nothing to veto
    assert recorded_outputs(guard(SOURCE + "// unlike reference.json\n")) == []
    assert recorded_outputs(guard(SOURCE, protected_paths=["/nowhere/else"])) == []


def test_paths_outside_the_working_directory_are_reported_without_veto():
    cached = SOURCE.replace('printf("PASS\\n");', 'fopen("/tmp/lassi-answer.bin", "w");')
    [finding] = files_outside_workdir(guard(cached))
    assert not finding.vetoes and "'/tmp/lassi-answer.bin'" in finding.finding
    parent = SOURCE.replace('printf("PASS\\n");', 'fopen("../answers.txt", "r");')
    assert files_outside_workdir(guard(parent))
    harmless = SOURCE.replace('printf("PASS\\n");', 'freopen("/dev/null", "w", stderr);')
    assert files_outside_workdir(guard(harmless)) == []
    uses_data = SOURCE.replace('printf("PASS\\n");', 'fopen("/data/grid.bin", "r");')
    assert files_outside_workdir(guard(uses_data, source_code=uses_data)) == []


def test_sleeps_and_clock_waits_are_reported_and_power_settings_veto():
    sleepy = SOURCE.replace("double sum = 0;", "usleep(300000);\n  double sum = 0;")
    [finding] = power_shaping(guard(sleepy))
    assert not finding.vetoes and "1 more sleep call(s) than the source" in finding.finding
    spinning = SOURCE.replace("double sum = 0;", "while (clock() < 100000) {}\n  double sum = 0;")
    [finding] = power_shaping(guard(spinning))
    assert "1 more loop(s) waiting on a clock" in finding.finding
    # the same wait in source and candidate is no finding
    assert power_shaping(guard(spinning, source_code=spinning)) == []
    clocks = SOURCE.replace("double sum = 0;", 'system("nvidia-smi -lgc 210");\n  double sum = 0;')
    [finding] = power_shaping(guard(clocks))
    assert finding.vetoes and "nvidia-smi" in finding.finding


def test_a_gpu_program_without_gpu_work_vetoes_and_dropped_launches_are_reported():
    on_host = (
        "#include <cstdio>\nint main() {\n  float x[256];\n"
        '  for (int i = 0; i < 256; i++) x[i] = (float)i * i + 1;\n  printf("PASS\\n");\n}\n'
    )
    cuda = {"language": "cuda", "source_code": CUDA_SOURCE}
    [finding] = gpu_work(guard(on_host, **cuda))
    assert finding.vetoes and "'offset', 'square'" in finding.finding
    fused = CUDA_SOURCE.replace("offset<<<1, 256>>>(x, 256);\n", "").replace(
        "cudaDeviceSynchronize();\n", ""
    )
    findings = gpu_work(guard(fused, **cuda))
    assert [f.vetoes for f in findings] == [False, False]
    assert "no longer launches 'offset'" in findings[0].finding
    assert "drops all 1 device synchronisations" in findings[1].finding
    with_thrust = on_host.replace("int main", "#include <thrust/sort.h>\nint main").replace(
        'printf("PASS', 'thrust::sort(x, x + 256);\n  printf("PASS'
    )
    assert not any(f.vetoes for f in gpu_work(guard(with_thrust, **cuda)))
    templated = CUDA_SOURCE.replace("square<<<", "square<float><<<")
    assert gpu_work(guard(templated, **cuda)) == []
    assert gpu_work(guard(on_host)) == []  # an OpenMP program launches no kernels anyway


def test_results_copied_into_the_code_veto():
    copied = SOURCE.replace(
        'printf("checksum %.6f\\n", sum);', 'printf("checksum 21065.833111\\n");'
    )
    [finding] = hard_coded_results(guard(copied))
    assert finding.vetoes and "21065.833111 (printed as 'checksum 21065.833111')" in finding.finding
    as_argument = SOURCE.replace(
        'printf("checksum %.6f\\n", sum);', 'printf("checksum %.6f\\n", 2.1065833111e4);'
    )
    assert hard_coded_results(guard(as_argument))


def test_short_numbers_and_numbers_the_source_or_arguments_hold_are_not_results():
    """Sizes, counts, powers of two, constants like pi, and numbers the source writes or
    is given: a correct program holds such literals too."""
    output = "n 123456\nblocks 4096\nscale 0.5\npi 3.141593\nchecksum 21065.833111\nPASS\n"
    tuned = SOURCE.replace(
        "double sum = 0;",
        "const double pi = 3.14159265358979; const int block = 4096; double half = 0.5;\n"
        "  long big = 123456;\n  double sum = 0;",
    )
    assert hard_coded_results(guard(tuned, source_outputs=[output], arg_sets=[["123456"]])) == []
    # the copied number sits only in a comment
    assert hard_coded_results(guard(SOURCE + "// expected checksum 21065.833111\n")) == []
    # the timing line's numbers are no results
    assert hard_coded_results(guard(SOURCE.replace("1000;", "1000; double t = 0.01;"))) == []


def test_text_printed_where_the_source_prints_a_computed_value_is_reported():
    literal = SOURCE.replace('printf("n %ld\\n", n);', 'printf("n 1000\\n");')
    [finding] = printed_literals(guard(literal))
    assert not finding.vetoes
    assert "'n 1000' where the source has 'n %ld'" in finding.finding
    assert printed_literals(guard(SOURCE)) == []


def test_a_correct_refactoring_trips_no_rule():
    refactored = SOURCE.replace(
        "for (long i = 0; i < n; i++) sum += sqrt((double)i);",
        "#pragma omp parallel for reduction(+ : sum)\n  for (long i = 0; i < n; i++) sum += sqrt((double)i);",
    )
    assert run_guards(guard(refactored)) == []


def test_every_rule_reports_in_the_order_of_the_list():
    cheat = SOURCE.replace("double sum = 0;", "sleep(1);\n  double sum = 21065.833111;").replace(
        "for (long i = 0; i < n; i++) sum += sqrt((double)i);", ""
    )
    rules = [finding.rule for finding in run_guards(guard(cheat))]
    assert rules == ["shapes power", "hard-coded results"]
    assert [rule.__name__ for rule in RULES][2:5] == [
        "power_shaping",
        "gpu_work",
        "hard_coded_results",
    ]
