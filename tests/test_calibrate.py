"""`lassi-ee calibrate`: the same binary as A and B, interleaved, as users run it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lassi_ee.calibrate import latest_calibrations
from tests.helpers.trial_programs import SOURCE

ROOT = Path(__file__).resolve().parents[1]
LAST_LINE = re.compile(r"^minimum detectable gain: \d+\.\d % at 95 % confidence$")


def calibrate(source: Path, settings, tmp_path: Path, *extra: str, **env: str):
    return subprocess.run(
        [sys.executable, "-m", "lassi_ee.cli", "calibrate", str(source), "--device", "cpu",
         *extra],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LASSI_WORK_ROOT": str(settings.work_root),
            "LASSI_LOCK_DIR": str(settings.lock_dir),
            "LASSI_CALIBRATION_LOG": str(tmp_path / "calibrations.jsonl"),
            "LASSI_MIN_WINDOW_S": "0.3",
            **env,
        },
        timeout=300,
    )  # fmt: skip


def test_calibrate_prints_the_noise_floor_and_logs_it(settings, tmp_path):
    source = tmp_path / "spin.cpp"
    source.write_text(SOURCE)
    proc = calibrate(source, settings, tmp_path, "--pairs", "4")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert "4 interleaved pairs" in lines[0] and "runtime per run" in lines[0]
    spread = float(re.search(r"paired spread: ([\d.]+) %", proc.stdout).group(1))
    gain = float(re.search(r"minimum detectable gain: ([\d.]+) %", lines[-1]).group(1))
    assert gain >= 2.0  # min_energy_gain is part of what a confirmation needs
    assert gain < 2.0 + 10 * spread + 0.1
    logged = [
        json.loads(line) for line in (tmp_path / "calibrations.jsonl").read_text().splitlines()
    ]
    assert len(logged) == 1 and logged[0]["app"] == "spin" and logged[0]["pairs"] == 4
    assert 0.9 < logged[0]["ratio"] < 1.1  # the same binary: no real difference
    latest = latest_calibrations(tmp_path / "calibrations.jsonl")
    assert latest[("spin", "cpu")].minimum_detectable_gain * 100 == pytest.approx(gain, abs=0.05)


def test_a_program_that_fails_cannot_be_calibrated(settings, tmp_path):
    source = tmp_path / "fails.cpp"
    source.write_text(SOURCE.replace('std::printf("PASS\\n");', 'std::printf("FAIL\\n");'))
    proc = calibrate(source, settings, tmp_path)
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert first.startswith("lassi-ee: fails cannot be calibrated") and "failure marker" in first
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "calibrations.jsonl").exists()


def test_a_program_too_short_to_measure_is_one_line(settings, tmp_path):
    source = tmp_path / "quick.c"
    source.write_text('#include <stdio.h>\nint main(void){puts("PASS");return 0;}\n')
    # a sandboxed run of it costs a millisecond or two: 1000 of them are not 30 s
    proc = calibrate(source, settings, tmp_path, LASSI_MIN_WINDOW_S="30")
    assert proc.returncode == 1, proc.stderr
    assert "too short to measure well" in proc.stderr.splitlines()[0]
    assert "Traceback" not in proc.stderr


def test_too_few_pairs_is_a_usage_error(settings, tmp_path):
    source = tmp_path / "spin.cpp"
    source.write_text(SOURCE)
    proc = calibrate(source, settings, tmp_path, "--pairs", "1")
    assert proc.returncode == 2 and "--pairs must be at least 2" in proc.stderr
