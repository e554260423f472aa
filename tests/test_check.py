"""The deterministic output check."""

from __future__ import annotations

from lassi_ee.tools.check import CheckRequest, ProgramOutput, compare_outputs, numbers_in

SOURCE = """Jacobi 2-D on 1024 x 1024, 500 iterations
residual = 1.234567e-03
checksum: 52341.125
kernel time: 1.52 s (123.4 GB/s)
PASS
"""


def check(candidate: str, **kw) -> object:
    return compare_outputs(
        CheckRequest(
            reference=ProgramOutput(stdout=SOURCE),
            candidate=ProgramOutput(stdout=candidate),
            pass_regex="PASS",
            fail_regex="FAIL",
            **kw,
        )
    )


def test_same_numbers_with_other_formatting_and_timing_match():
    candidate = """Jacobi 2-D on 1024 x 1024, 500 iterations
Residual: 0.0012345671
Checksum = 52341.1250
Elapsed time 0.41 s, bandwidth 480 GB/s
PASS
"""
    result = check(candidate)
    assert result.status == "match", result.finding
    assert result.numbers_compared == 6  # 2, 1024, 1024, 500, residual, checksum
    assert "outputs match" in result.finding


def test_changed_result_beyond_tolerance_is_a_mismatch_naming_the_line():
    result = check(SOURCE.replace("52341.125", "52399.000"))
    assert result.vetoes
    assert "checksum: 52341.125" in result.finding and "52399.000" in result.finding


def test_small_float_noise_is_within_tolerance_but_not_when_tightened():
    noisy = SOURCE.replace("1.234567e-03", "1.234600e-03")
    assert check(noisy).status == "match"
    assert check(noisy, rtol=1e-6, atol=0.0).status == "mismatch"


def test_missing_pass_or_printed_fail_vetoes():
    assert "success marker" in check(SOURCE.replace("PASS", "done")).finding
    assert "failure marker" in check(SOURCE.replace("PASS", "FAIL")).finding


def test_missing_work_shows_as_fewer_numbers():
    result = check(SOURCE.replace("residual = 1.234567e-03\n", ""))
    assert result.vetoes and "prints 6 numbers, the candidate 5" in result.finding


def test_output_files_are_compared_numerically_and_missing_files_caught():
    ref = ProgramOutput(stdout="PASS", files={"out.txt": b"1.0 2.0\n3.0\n", "raw.bin": b"\x00\x01"})
    same = ProgramOutput(
        stdout="PASS", files={"out.txt": b"1.0000001 2.0 3.0\n", "raw.bin": b"\x00\x01"}
    )
    other = ProgramOutput(stdout="PASS", files={"out.txt": b"1.0 2.5\n3.0\n"})
    assert compare_outputs(CheckRequest(reference=ref, candidate=same)).status == "match"
    result = compare_outputs(CheckRequest(reference=ref, candidate=other))
    assert result.vetoes
    assert "file out.txt" in result.finding and "raw.bin: written by the source" in result.finding


def test_number_extraction_skips_identifiers_and_words():
    values = [v for v, _ in numbers_in(["sm_90 float32 information: -2.5e3 and nan, 7"])]
    assert values[0] == -2500.0 and values[2] == 7.0 and len(values) == 3


def test_nothing_to_compare_is_inconclusive_and_says_what_was_compared():
    """A program that prints no result and writes no file matched "0 printed numbers" once:
    now the check says it compared only the marker, and it is no match."""
    only_pass = ProgramOutput(stdout="all good\ntime: 0.2 s\nPASS\n")
    result = compare_outputs(
        CheckRequest(reference=only_pass, candidate=only_pass, pass_regex="PASS")
    )
    assert result.status == "inconclusive" and not result.vetoes
    assert "only the success marker /PASS/ was compared" in result.finding
    assert result.numbers_compared == 0 and result.files_compared == 0
    with_file = ProgramOutput(stdout="PASS\n", files={"out.txt": b"1 2 3\n"})
    matched = compare_outputs(CheckRequest(reference=with_file, candidate=with_file))
    assert matched.status == "match" and matched.files_compared == 1


def test_nan_never_matches_a_number_whatever_the_tolerance():
    result = check(SOURCE.replace("52341.125", "nan"), rtol=1.0, atol=1e9)
    assert result.vetoes and "got 'checksum: nan'" in result.finding
    assert check(SOURCE.replace("52341.125", "-nan")).vetoes
    both = SOURCE.replace("52341.125", "nan")
    assert (
        compare_outputs(
            CheckRequest(reference=ProgramOutput(stdout=both), candidate=ProgramOutput(stdout=both))
        ).status
        == "match"
    )
