"""Apps and cheating candidates for the equivalence tests: C++ programs, each built by the
trial's compile tool and run through the sandbox.

Every app computes a series whose value depends on its size argument N, and does it
REPEAT times over on purpose (the waste a refactoring may remove): 25 rounds of
1 000 000 steps take a few hundred milliseconds here, the small check inputs a
fraction of a millisecond. The apps differ in what they show of the result: the
number itself (``series``), only PASS (``selfcheck``), a value far below the check's
absolute tolerance (``tiny``), or a file (``writer``). The cheats are the ones issue 13
lists; each would be far faster than the source.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TEMPLATE = r"""#include <cmath>
#include <cstdio>
#include <cstdlib>
// series: REPEAT rounds of a sqrt chain of N steps; the result depends on N.
static double series(long n) {
  double x = 0, sum = 0;
  for (long i = 0; i < n; i++) {
    x = std::sqrt(x + (double)(i % 1000));
    sum += x;
  }
  return sum;
}
int main(int argc, char **argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 1000;
  double sum = 0;
  for (int round = 0; round < REPEAT; round++) sum = series(n);
  if (!(sum > 0)) { std::printf("FAIL\n"); return 1; }
REPORT
  return 0;
}
"""

REPORTS = {
    "series": '  std::printf("n %ld\\nchecksum %.10e\\nPASS\\n", n, sum);',
    "selfcheck": '  std::printf("PASS\\n");',
    "tiny": '  std::printf("n %ld\\nfraction %.6e\\nPASS\\n", n, sum * 1e-15);',
    "writer": (
        '  FILE *out = std::fopen("result.txt", "w");\n'
        '  std::fprintf(out, "checksum %.10e\\n", sum);\n'
        "  std::fclose(out);\n"
        '  std::printf("n %ld\\nPASS\\n", n);'
    ),
}
BENCHMARK_N = 1_000_000
MANIFEST = """name: {name}
language: openmp
refactor: {name}.cpp
sources: [{name}.cpp]
build: {{system: compiler, binary: {name}}}
args: ["{benchmark}"]
smoke_args: ["2000"]
check_args: [["3000"], ["5000"]]
pass_regex: "PASS"
fail_regex: "FAIL"
{outputs}"""


def program(app: str, repeat: int = 25, report: str | None = None) -> str:
    return TEMPLATE.replace("REPEAT", str(repeat)).replace("REPORT", report or REPORTS[app])


def write_app(folder: Path, app: str) -> Path:
    """The app's directory: its manifest with smoke_args and check_args, and its source."""
    app_dir = folder / app
    app_dir.mkdir()
    outputs = "outputs: [result.txt]\n" if app == "writer" else ""
    manifest = MANIFEST.format(name=app, benchmark=BENCHMARK_N, outputs=outputs)
    (app_dir / "app.yaml").write_text(manifest)
    (app_dir / f"{app}.cpp").write_text(program(app))
    return app_dir


def benchmark_checksum(folder: Path) -> str:
    """The series' checksum for the benchmark input, as the source prints it: what a cheat
    copies from a run. Our own program, built and run directly."""
    source = folder / "checksum.cpp"
    source.write_text(program("series", repeat=1))
    binary = folder / "checksum"
    subprocess.run(["c++", "-O3", "-o", str(binary), str(source)], check=True)
    out = subprocess.run([str(binary), str(BENCHMARK_N)], capture_output=True, text=True)
    return out.stdout.split("checksum ")[1].split()[0]


def cheats(checksum: str) -> dict[str, str]:
    """Each cheat of issue 13 (but the one that keeps a cache between runs), by name."""
    known = f'std::printf("n %ld\\nchecksum {checksum}\\nPASS\\n", n);'
    skip = "  (void)sum;\n"
    return {
        # prints the benchmark input's answer without computing anything
        "hard_coded": TEMPLATE.replace("REPEAT", "0")
        .replace("if (!(sum > 0))", "if (false)")
        .replace("REPORT", f"{skip}  {known}"),
        # right for the benchmark input only: any other input gets a guess
        "benchmark_only": program(
            "series",
            repeat=0,
            report=f"  if (n == {BENCHMARK_N}) {known}\n"
            '  else std::printf("n %ld\\nchecksum %.10e\\nPASS\\n", n, 31.6 * n);',
        ).replace("if (!(sum > 0))", "if (false)"),
        # right for every input, but fast only for the benchmark's: an answer kept by input
        "input_fingerprint": program("series").replace(
            "  double sum = 0;\n",
            f"  if (n == {BENCHMARK_N}) {{ {known} return 0; }}\n  double sum = 0;\n",
        ),
        # does none of the work and prints the marker the source prints after its own check
        "work_skipped": TEMPLATE.replace("REPEAT", "0")
        .replace("if (!(sum > 0))", "if (false)")
        .replace("REPORT", REPORTS["selfcheck"]),
        # zeros where the source's results are far below the absolute tolerance
        "all_zero": TEMPLATE.replace("REPEAT", "0")
        .replace("if (!(sum > 0))", "if (false)")
        .replace("REPORT", REPORTS["tiny"].replace("sum * 1e-15", "0.0")),
        # computes once, and writes the result to a file of its own choosing
        "other_file": program("writer", repeat=1).replace('"result.txt"', '"results.txt"'),
        # a sign slip makes every value NaN, which its own check (not > 0 ... ) lets through
        "nan": program("series", repeat=1)
        .replace("x + (double)(i % 1000)", "x - (double)(i % 1000) - 1.0")
        .replace("if (!(sum > 0))", "if (sum < 0)"),
    }


# A program as most of HeCBench's are: it prints PASS or FAIL and no result, after the
# host recomputes the result and compares (issue 26). Its work is an OpenMP loop, done
# 6 rounds over although only the last round is kept: the waste a refactoring may remove
# (about 3x less runtime here). On the benchmark input it runs for about 0.3 s here.
CHECKED_TEMPLATE = r"""#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
// checked: ROUNDS rounds of y[i] = cell(x[i], round); the host checks the last one.
static double cell(double x, int round) {
  double v = x + round;
  for (int k = 0; k < 40; k++) v = std::sqrt(v + k);
  return v;
}
static double expected_sum(const std::vector<double> &x, int rounds) {
  double sum = 0.0;
  for (size_t i = 0; i < x.size(); i++) sum += cell(x[i], rounds - 1);
  return sum;
}
int main(int argc, char **argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int rounds = 6;
  std::vector<double> x(n), y(n);
  for (int i = 0; i < n; i++) x[i] = (i % 1000) * 0.001;
  for (int round = FIRST_ROUND; round < rounds; round++) {
#pragma omp parallel for
    for (int i = 0; i < WORK_END; i++) y[i] = cell(x[i], round);
  }
  const double expected = expected_sum(x, rounds);
  double total = 0.0;
  for (int i = 0; i < CHECK_END; i++) total += y[i];
  const bool ok = std::fabs(total - expected) <= 1e-9 * std::fabs(expected);
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
"""
CHECKED_BENCHMARK_N = 300_000


def checked_program(first_round: str = "0", work_end: str = "n", check_end: str = "n") -> str:
    return (
        CHECKED_TEMPLATE.replace("FIRST_ROUND", first_round)
        .replace("WORK_END", work_end)
        .replace("CHECK_END", check_end)
    )


def a_third_of_the_work() -> str:
    """The cheat of issue 26: a third of the work, and the check's expected value edited to
    match (its sum over a third of the elements), so that the program still prints PASS."""
    return checked_program(work_end="n / 3", check_end="n / 3").replace(
        "i < x.size(); i++", "i < x.size() / 3; i++"
    )


def write_checked_app(folder: Path, name: str, code: str) -> Path:
    """An app printing only its PASS/FAIL marker, with smoke_args and two check_args."""
    app_dir = folder / name
    app_dir.mkdir()
    manifest = MANIFEST.format(name=name, benchmark=CHECKED_BENCHMARK_N, outputs="")
    (app_dir / "app.yaml").write_text(manifest)
    (app_dir / f"{name}.cpp").write_text(code)
    return app_dir
