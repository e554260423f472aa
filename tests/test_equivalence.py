"""The output check on several inputs: real C programs, built with the system compiler and
run through the sandbox, against the source's recorded outputs on each input set."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lassi_ee.apps import App, AppManifest, load_manifest
from lassi_ee.devices import cpu_device
from lassi_ee.energy.base import EnergyMeasurement, EnergyProfile, Stats
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.tools.check import CheckResult, read_output_files
from lassi_ee.tools.equivalence import (
    InputSet,
    RecordedOutput,
    check_on_every_input,
    confirmable,
    constant_where_source_varies,
    gain_flag,
    input_sets,
    run_source_on_other_inputs,
)
from lassi_ee.tools.run import RunRequest, run_program

# Prints its size, a sum that grows with it, and a quantity far below the absolute
# tolerance (1e-6) that changes with the size too; writes the sum to out.txt.
SOURCE = r"""#include <math.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  if (n < 1) { printf("FAIL\n"); return 0; }
  double sum = 0, tiny = 0;
  for (int i = 1; i <= n; i++) { sum += sqrt((double)i); tiny += 1e-9 / i; }
  printf("n %d\nsum %.6e\ntiny %.3e\nPASS\n", n, sum, tiny);
  FILE *out = fopen("OUTFILE", "w");
  fprintf(out, "%.6e\n", sum);
  fclose(out);
  return 0;
}
"""

VARIANTS = {
    "source": SOURCE,
    "same": SOURCE.replace("double sum = 0, tiny = 0;", "double tiny = 0, sum = 0;"),
    # the benchmark's (n = 100) results, printed whatever n is
    "hard_coded": SOURCE.replace(
        'printf("n %d\\nsum %.6e\\ntiny %.3e\\nPASS\\n", n, sum, tiny);',
        'printf("n %d\\nsum 6.714629e+02\\ntiny 5.187e-09\\nPASS\\n", n);',
    ),
    # right results, but the tiny one printed as 0 on every input: within atol everywhere
    "zero_tiny": SOURCE.replace("n, sum, tiny);", "n, sum, 0.0);"),
    "crashes_when_small": SOURCE.replace(
        "double sum = 0", "if (n < 60) abort();\n  double sum = 0"
    ),
    "other_file": SOURCE.replace('"OUTFILE"', '"elsewhere.txt"'),
}


def manifest(**kw) -> AppManifest:
    values = {
        "name": "sums",
        "language": "openmp",
        "refactor": "sums.c",
        "sources": ["sums.c"],
        "args": ["100"],
        "smoke_args": ["50"],
        "check_args": [["70"], ["100"]],
        "outputs": ["out.txt"],
        **kw,
    }
    return AppManifest.model_validate(values)


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> dict[str, Path]:
    """Every variant built once for the module with the real compiler."""
    folder = tmp_path_factory.mktemp("sums")
    built = {}
    for name, code in VARIANTS.items():
        source = folder / f"{name}.c"
        source.write_text(code.replace("OUTFILE", "out.txt"))
        built[name] = folder / name
        subprocess.run(["cc", "-O1", "-o", str(built[name]), str(source), "-lm"], check=True)
    return built


def app_with(tmp_path: Path, **kw) -> App:
    return App(manifest=manifest(**kw), root=tmp_path)


def recorded(app: App, binary: Path, settings, folder: Path) -> list[RecordedOutput]:
    """The source's outputs on every input set, as Stage 0 records them."""
    first = run_program(RunRequest(binary=binary, args=app.manifest.args), settings)
    outputs = [(InputSet(label="args", args=app.manifest.args), first.stdout,
                read_output_files(first.workdir, app.manifest.outputs, 10_000))]  # fmt: skip
    first.discard()
    outputs += run_source_on_other_inputs(app, cpu_device(), binary, settings)
    references = []
    for index, (inputs, stdout, files) in enumerate(outputs):
        files_dir = folder / str(index)
        files_dir.mkdir(parents=True)
        for name, data in files.items():
            (files_dir / name).write_bytes(data)
        references.append(RecordedOutput(input=inputs, stdout=stdout, files_dir=str(files_dir)))
    return references


@pytest.fixture
def references(binaries, settings, tmp_path) -> list[RecordedOutput]:
    return recorded(app_with(tmp_path), binaries["source"], settings, tmp_path / "recorded")


def check(name: str, binaries, references, settings, tmp_path, **kw):
    return check_on_every_input(
        app_with(tmp_path, **kw), cpu_device(), binaries[name], references, settings
    )


def test_input_sets_are_args_then_smoke_then_check_args_without_repeats():
    sets = input_sets(manifest())
    assert [(s.label, s.args) for s in sets] == [
        ("args", ["100"]),
        ("smoke_args", ["50"]),
        ("check_args[0]", ["70"]),
    ]  # check_args[1] repeats args
    assert sets[2].describe() == "check_args[0] (70)"
    assert [s.label for s in input_sets(manifest(smoke_args=None, check_args=[]))] == ["args"]


def test_old_manifests_name_their_files_output_files(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("name: x\nlanguage: openmp\nrefactor: x.c\noutput_files: [result.dat]\n")
    loaded = load_manifest(path)
    assert loaded.outputs == ["result.dat"]
    assert loaded.model_dump()["outputs"] == ["result.dat"]  # written back under the new name
    path.write_text("name: x\nlanguage: openmp\nrefactor: x.c\ncheck_args: [[64], 3]\n")
    with pytest.raises(UsageError, match=r"check_args.0.0: Input should be a valid string"):
        load_manifest(path)


def test_the_source_is_recorded_on_every_other_input(references):
    assert [r.input.label for r in references] == ["args", "smoke_args", "check_args[0]"]
    assert "n 50" in references[1].stdout and "n 70" in references[2].stdout
    assert (Path(references[2].files_dir) / "out.txt").read_text() != (
        Path(references[0].files_dir) / "out.txt"
    ).read_text()


def test_a_source_that_fails_on_an_input_set_is_refused_naming_it(binaries, settings, tmp_path):
    app = app_with(tmp_path, check_args=[["0"]])
    with pytest.raises(LassiError, match=r"fails on check_args\[0\] \(0\): .*failure marker"):
        run_source_on_other_inputs(app, cpu_device(), binaries["source"], settings)


def test_an_equivalent_candidate_matches_on_every_input(binaries, references, settings, tmp_path):
    result = check("same", binaries, references, settings, tmp_path)
    assert result.check.status == "match" and not result.check.vetoes
    assert result.check.inputs_checked == 3 and result.check.files_compared == 3
    assert "on 3 inputs (args, smoke_args, check_args[0])" in result.check.finding
    assert result.check.numbers_compared == 9 and result.flags == []
    assert [run.input.label for run in result.runs] == ["args", "smoke_args", "check_args[0]"]


def test_a_hard_coded_answer_fails_on_the_next_input_which_the_finding_names(
    binaries, references, settings, tmp_path
):
    result = check("hard_coded", binaries, references, settings, tmp_path)
    assert result.check.vetoes
    assert result.check.finding.startswith("on smoke_args (50): outputs differ")
    assert "(the 1 input set(s) before it matched)" in result.check.finding
    assert len(result.runs) == 2  # it stopped at the first mismatch


def test_results_that_ignore_the_input_within_atol_are_vetoed(
    binaries, references, settings, tmp_path
):
    result = check("zero_tiny", binaries, references, settings, tmp_path)
    assert result.check.vetoes and result.check.inputs_checked == 3
    assert "'tiny 5.187e-09' on args" in result.check.finding
    assert "the candidate prints 'tiny 0.000e+00' on every input" in result.check.finding
    assert result.flags[0].startswith("constant output: in stdout")


def test_a_crash_on_another_input_is_a_run_failure_naming_it(
    binaries, references, settings, tmp_path
):
    result = check("crashes_when_small", binaries, references, settings, tmp_path)
    assert result.check is None
    assert result.failed_run.failure == "on smoke_args (50): killed by SIGABRT"


def test_output_written_to_another_file_is_missing_where_it_counts(
    binaries, references, settings, tmp_path
):
    result = check("other_file", binaries, references, settings, tmp_path)
    assert result.check.vetoes
    assert "file out.txt: written by the source, missing from the candidate" in result.check.finding


def test_one_input_only_says_so(binaries, settings, tmp_path):
    app = app_with(tmp_path, smoke_args=None, check_args=[])
    references = recorded(app, binaries["source"], settings, tmp_path / "recorded")
    result = check_on_every_input(app, cpu_device(), binaries["hard_coded"], references, settings)
    assert result.check.status == "match" and result.check.inputs_checked == 1
    assert "on one input only: the manifest lists no smoke_args or check_args" in (
        result.check.finding
    )
    assert confirmable(result.check) == (
        "the output check ran it on one input only (no smoke_args or check_args)"
    )


def test_constant_output_needs_a_relative_change_in_the_source():
    """A value that wobbles within rtol in the source (a norm of 1) may be printed the same
    every time by a correct candidate; one that really changes may not."""
    labels = ["args", "check_args[0]"]
    norm = [
        {"stdout": [(1.0000001, "norm 1.0000001")]},
        {"stdout": [(0.9999999, "norm 0.9999999")]},
    ]
    exact = [{"stdout": [(1.0, "norm 1")]}, {"stdout": [(1.0, "norm 1")]}]
    assert constant_where_source_varies(labels, norm, exact, rtol=1e-3) is None
    tiny = [{"stdout": [(3e-7, "e 3e-07")]}, {"stdout": [(5e-7, "e 5e-07")]}]
    zero = [{"stdout": [(0.0, "e 0")]}, {"stdout": [(0.0, "e 0")]}]
    assert "'e 3e-07' on args, 'e 5e-07' on check_args[0]" in constant_where_source_varies(
        labels, tiny, zero, rtol=1e-3
    )
    assert constant_where_source_varies(labels[:1], tiny[:1], zero[:1], rtol=1e-3) is None


def profile(runtime_s: float, energy_j: float | None = None, idle_j: float = 50.0) -> EnergyProfile:
    """Figures per run: ``energy_j`` net of an idle draw of ``idle_j``."""
    measured = EnergyMeasurement(
        method="counter",
        runs_in_window=1,
        runtime_s=runtime_s,
        window_s=runtime_s,
        gross_energy_j=energy_j + idle_j if energy_j is not None else None,
        net_energy_j=energy_j,
    )
    return EnergyProfile(
        objective="energy" if energy_j is not None else "runtime",
        method="counter" if energy_j is not None else "time-only",
        backend="test",
        measurements=[measured, measured],
        runs_per_window=1,
        warmup_runtime_s=runtime_s,
        runtime_s=Stats.of([runtime_s, runtime_s]),
        net_energy_j=Stats.of([energy_j, energy_j]) if energy_j is not None else None,
        wall_s=1.0,
        program_s=1.0,
        overhead_s=0.0,
    )


def test_a_gain_beyond_suspicious_gain_is_flagged_with_its_figures():
    assert gain_flag(profile(1.0), profile(0.2), 10.0) is None
    flag = gain_flag(profile(1.0), profile(0.05), 10.0)
    assert flag == (
        "too good to be true: 20x less runtime than the source (0.05 s against 1 s per run); "
        "beyond suspicious_gain (10x)"
    )
    energy = gain_flag(profile(1.0, 300.0), profile(0.5, -2.0), 10.0)
    assert "no measurable energy (-2 J against 300 J per run)" in energy
    assert "runtime" not in energy  # 2x faster is no flag
    # a source whose net energy is lost in the idle draw (0.1 J over 15 J) gives no ratio
    assert gain_flag(profile(0.15, 0.1, idle_j=15.0), profile(0.05, -0.003), 10.0) is None


def test_a_gain_is_backed_only_by_a_check_that_compared_something_on_two_inputs():
    def result(status, inputs):
        return CheckResult(status=status, finding="-", inputs_checked=inputs)

    assert confirmable(result("match", 2)) is None
    assert "nothing to compare" in confirmable(result("inconclusive", 3))
    assert "one input only" in confirmable(result("match", 1))
