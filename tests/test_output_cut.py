"""Output longer than max_output_bytes: its start and end are kept, its success marker is
found at the end, and a comparison of cut outputs is never called a match."""

from __future__ import annotations

import pytest

from lassi_ee.apps import load_app
from lassi_ee.tools.check import CheckRequest, ProgramOutput, compare_outputs
from lassi_ee.tools.profile import self_check_failure
from lassi_ee.tools.run import RunRequest, run_program

CHATTY = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  for (long i = 0; i < 100000; i++) printf("progress line %ld of many, padded out a bit\n", i % 7);
  printf("result %s\nPASS\n", argv[1]);
  return 0;
}
"""


@pytest.fixture
def chatty(settings, build_c, tmp_path):
    """Run the 4.5 MB program with 100 kB kept; the app expects PASS."""
    binary = build_c("chatty", CHATTY)
    source = tmp_path / "chatty.c"  # written by build_c: an app of one file
    app = load_app(source).model_copy(deep=True)
    app.manifest.pass_regex = "PASS"
    capped = settings.model_copy(update={"max_output_bytes": 100_000})

    def run(result: str):
        return run_program(RunRequest(binary=binary, args=[result]), capped)

    return app, run


def test_the_end_of_a_cut_output_is_kept_and_its_success_marker_found(chatty):
    app, run = chatty
    result = run("42")
    assert result.ok and result.output_truncated
    assert result.stdout.startswith("progress line 0")
    assert "bytes of output cut here" in result.stdout
    assert result.stdout.endswith("result 42\nPASS\n")
    assert len(result.stdout) <= 100_000
    assert self_check_failure(app, result) is None  # it used to say "no success marker"


def test_a_comparison_of_cut_outputs_is_incomplete_never_a_match(chatty):
    _, run = chatty
    source, same, other = run("42").stdout, run("42").stdout, run("43").stdout

    def check(candidate: str):
        return compare_outputs(
            CheckRequest(
                reference=ProgramOutput(stdout=source),
                candidate=ProgramOutput(stdout=candidate),
                pass_regex="PASS",
            )
        )

    agreed = check(same)
    assert agreed.status == "incomplete" and not agreed.vetoes
    assert "not all compared" in agreed.finding and "match" not in agreed.finding
    assert "source and the candidate's output was longer than max_output_bytes" in agreed.finding
    differs = check(other)  # the end is compared: a wrong final result is still caught
    assert differs.status == "mismatch" and "result 43" in differs.finding
    whole = compare_outputs(
        CheckRequest(
            reference=ProgramOutput(stdout="r 1\n"), candidate=ProgramOutput(stdout="r 1\n")
        )
    )
    assert whole.status == "match"
