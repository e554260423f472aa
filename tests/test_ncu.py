"""Nsight Compute at Stage 0 (tools/ncu.py): reading what ncu printed on the H100, and a run
that degrades to one note whatever ncu does.

The CSVs under tests/data/ncu/ are real: ncu 2025.3.1 on the lent H100 over three of our
CUDA examples (benchmarks/ncu_record.py; the core metrics and the stall ratios in two
passes). The runner's tests put a stand-in ``ncu`` on the PATH that replays them, or
fails as ncu does: no GPU and no ncu here.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from lassi_ee.tools.ncu import (
    CORE_METRICS,
    STALL_PATTERN,
    NcuOutputError,
    parse_csv,
    profile_kernels,
    summarize,
)
from lassi_ee.tools.run import RunRequest
from tests.helpers.fake_devices import H100

RECORDED = Path(__file__).parent / "data" / "ncu"
APPS = ("jacobi2d", "nbody", "xs-lookup")
CUDA0 = H100.model_copy(update={"visible_id": "0"})


def recorded(app: str) -> str:
    """What ncu printed for ``app``: both passes, as two ncu runs would print them."""
    return (RECORDED / f"{app}.core.csv").read_text() + (RECORDED / f"{app}.stalls.csv").read_text()


def test_the_csv_is_read_from_among_the_programs_own_output():
    text = (RECORDED / "jacobi2d.core.csv").read_text()
    assert "iteration 50 residual" in text and "==PROF==" in text  # interleaved, as printed
    launches = parse_csv(text)
    assert [launch["ID"] for launch in launches] == [str(n) for n in range(10)]
    assert {launch["Kernel Name"] for launch in launches} == {"sweep(const float *, float *, int)"}
    assert launches[0]["dram__bytes.sum"] == "125,304,064"  # the units row is not a launch


def test_two_passes_over_the_same_launches_merge_by_launch_id():
    launches = parse_csv(recorded("jacobi2d"))
    assert len(launches) == 10
    stall_columns = [c for c in launches[0] if c.startswith("smsp__average_warps_issue_stalled")]
    assert len(stall_columns) > 10
    assert all(metric in launches[0] for metric in CORE_METRICS)
    # a column both passes printed keeps the first pass's value
    core = parse_csv((RECORDED / "jacobi2d.core.csv").read_text())
    assert [x["gpu__time_duration.sum"] for x in launches] == [
        x["gpu__time_duration.sum"] for x in core
    ]


def test_peaks_come_from_the_run_and_match_the_h100():
    launches = parse_csv(recorded("jacobi2d"))
    peaks = summarize(launches, 10).peaks
    # HBM3 of the H100 SXM: 3.35 TB/s
    assert peaks.dram_bytes_per_s == pytest.approx(3.35e12, rel=0.01)
    # FP32: 128 FMA lanes per SM, two FLOP each, on every SM, at the measured clock
    sms = float(launches[0]["launch__sm_count"])
    assert peaks.fp32_flop_per_s == pytest.approx(sms * 128 * 2 * peaks.sm_clock_hz, rel=0.01)
    assert peaks.fp64_flop_per_s == pytest.approx(peaks.fp32_flop_per_s / 2, rel=0.01)


def test_flop_are_counted_as_the_stencil_does_them():
    profile = summarize(parse_csv(recorded("jacobi2d")), 10)
    (sweep,) = profile.kernels
    interior = (4096 - 2) ** 2  # args 4096: three adds and one multiply per interior point
    assert sweep.fp32_flop == sweep.launches * 4 * interior
    assert sweep.fp64_flop == 0
    # it reads its input grid and writes the next one: about two 64 MiB grids per sweep
    assert sweep.dram_bytes / sweep.launches == pytest.approx(2 * 4096**2 * 4, rel=0.15)


@pytest.mark.parametrize(
    ("app", "side"),
    [("jacobi2d", "memory-bound"), ("xs-lookup", "memory-bound"), ("nbody", "compute-bound")],
)
def test_each_hot_kernel_lands_on_its_side_of_the_roofline(app, side):
    profile = summarize(parse_csv(recorded(app)), 10)
    (kernel,) = profile.kernels  # each profiled run launched one kernel ten times
    assert kernel.launches == 10 and kernel.duration_share == pytest.approx(1.0)
    assert kernel.roofline == side
    fp64 = kernel.fp64_flop > kernel.fp32_flop
    ridge = profile.peaks.ridge_flop_per_byte(fp64)
    intensity = kernel.arithmetic_intensity
    assert intensity is not None
    assert (intensity < ridge) == (side == "memory-bound")
    assert f"({'FP64' if fp64 else 'FP32'})" in kernel.line(profile.peaks)


def test_xs_lookup_is_double_precision_and_limited_by_its_caches_not_dram():
    (lookups,) = summarize(parse_csv(recorded("xs-lookup")), 10).kernels
    assert lookups.fp64_flop > 10 * lookups.fp32_flop
    assert lookups.memory_throughput_pct > 5 * lookups.dram_throughput_pct


def test_stalls_are_the_waiting_reasons_largest_first():
    (sweep,) = summarize(parse_csv(recorded("jacobi2d")), 10).kernels
    values = list(sweep.stalls.values())
    assert values == sorted(values, reverse=True) and len(values) > 10
    assert "selected" not in sweep.stalls  # the warp that issued was not waiting
    # a reason's figure is its launches' mean, weighted by duration: within their range
    (reason, value), *_ = sweep.top_stalls(1)
    column = f"smsp__average_warps_issue_stalled_{reason}_per_issue_active.ratio"
    per_launch = [float(x[column]) for x in parse_csv(recorded("jacobi2d"))]
    assert min(per_launch) <= value <= max(per_launch)


def test_a_long_template_name_is_cut_in_the_prompt_line_only():
    name = "reduce<" + ", ".join(["thrust::tuple<float, float, float>"] * 12) + ">(float *)"
    launches = [{**x, "Kernel Name": name} for x in parse_csv(recorded("nbody"))]
    profile = summarize(launches, 10)
    assert profile.kernels[0].name == name  # kept whole for the report and the archive
    line = profile.kernels[0].line(profile.peaks)
    assert line.startswith(name[:157] + "...: ") and len(name) > 160


def test_a_pass_without_the_core_metrics_is_an_error_that_names_one():
    with pytest.raises(NcuOutputError, match="no number for"):
        summarize(parse_csv((RECORDED / "nbody.stalls.csv").read_text()), 10)
    with pytest.raises(NcuOutputError, match="no profiled launch"):
        summarize(parse_csv("==PROF== Connected\nhello\n"), 10)


def test_several_kernels_share_the_gpu_time_by_duration():
    launches = []
    for offset, app in enumerate(APPS):
        for launch in parse_csv(recorded(app)):
            launches.append({**launch, "ID": str(offset * 100 + int(launch["ID"]))})
    profile = summarize(launches, 30)
    assert sum(k.duration_share for k in profile.kernels) == pytest.approx(1.0)
    durations = [k.duration_s for k in profile.kernels]
    assert durations == sorted(durations, reverse=True)
    assert profile.kernels[0].name.startswith("accelerations")  # 22 ms launches: nbody's


# --- the runner, with a stand-in ncu on the PATH ---------------------------------------------


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _fake_ncu(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir(exist_ok=True)
    _executable(folder / "ncu", "#!/bin/sh\n" + body)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


@pytest.fixture
def request_(tmp_path: Path) -> RunRequest:
    """The source's run: a binary (never started by the stand-in), arguments, a data file."""
    binary = _executable(tmp_path / "prog", "#!/bin/sh\nexit 0\n")
    data = tmp_path / "grid.dat"
    data.write_text("1 2 3\n")
    return RunRequest(binary=binary, args=["4096", "2000"], data_files=[data], device=CUDA0)


def test_ncu_gets_a_bounded_counters_only_run_in_a_fresh_folder(
    tmp_path, request_, settings, monkeypatch
):
    """The stand-in checks its command line and environment, then prints the recording."""
    csv_files = f"{RECORDED}/jacobi2d.core.csv {RECORDED}/jacobi2d.stalls.csv"
    monkeypatch.setenv("LASSI_TEST_SECRET", "must not reach ncu")
    _fake_ncu(
        tmp_path / "bin",
        f"""fail() {{ echo "==ERROR== stand-in: $1"; exit 3; }}
[ "$HOME" = "$(pwd)" ] || fail "HOME is not the run's folder"
[ -z "$LASSI_TEST_SECRET" ] || fail "the caller's environment leaked"
[ "$CUDA_VISIBLE_DEVICES" = "0" ] || fail "the device is not pinned"
[ -x ./prog ] && [ -f ./grid.dat ] || fail "binary or data not in the working folder"
case " $* " in *" --launch-count 7 "*) ;; *) fail "launch count";; esac
case " $* " in *" --kill yes "*) ;; *) fail "not stopped after the profiled launches";; esac
case " $* " in *" --clock-control none "*) ;; *) fail "clocks locked";; esac
case " $* " in *" ./prog 4096 2000 ") ;; *) fail "program and arguments not last";; esac
cat {csv_files}
""",
        monkeypatch,
    )
    run = profile_kernels(request_, settings.model_copy(update={"ncu_max_launches": 7}))
    assert run.note is None, run.note
    assert run.profile is not None and run.profile.kernels[0].name.startswith("sweep")
    assert run.profile.launch_cap == 7
    assert run.raw_csv.startswith('"ID"') and "iteration 50" not in run.raw_csv
    metrics = run.command[run.command.index("--metrics") + 1].split(",")
    assert metrics == [*CORE_METRICS, STALL_PATTERN]
    assert run.exit_code == 0 and run.wall_s > 0
    assert not list(settings.work_root.glob("ncu-*"))  # its folder is gone


def test_no_ncu_on_the_path_is_one_note(tmp_path, request_, settings, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    run = profile_kernels(request_, settings)
    assert run.profile is None
    assert run.note == "no profiler counters: ncu not found on PATH"


def test_no_permission_for_the_counters_is_one_note(tmp_path, request_, settings, monkeypatch):
    _fake_ncu(
        tmp_path / "bin",
        """echo "==PROF== Connected to process 1 (./prog)"
echo "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU \
Performance Counters on the target device 0." >&2
exit 1
""",
        monkeypatch,
    )
    run = profile_kernels(request_, settings)
    assert run.profile is None and run.exit_code == 1
    assert run.note is not None and "ERR_NVGPUCTRPERM" in run.note
    assert "NVreg_RestrictProfilingToAdminUsers=0" in run.note


def test_a_run_past_its_timeout_is_stopped_with_everything_it_started(
    tmp_path, request_, settings, monkeypatch
):
    pid_file = tmp_path / "child.pid"
    _fake_ncu(
        tmp_path / "bin",
        f"sleep 300 &\necho $! > {pid_file}\nexec sleep 300\n",  # the background one ignores ^C
        monkeypatch,
    )
    started = time.monotonic()
    run = profile_kernels(request_, settings.model_copy(update={"ncu_timeout_s": 1.0}))
    assert time.monotonic() - started < 20
    assert run.profile is None and run.exit_code is None
    assert run.note == "no profiler counters: ncu ran past ncu_timeout_s (1 s) and was stopped"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the program ncu started (pid {child}) outlived the timeout")


def test_output_without_counters_is_one_note_that_quotes_ncu(
    tmp_path, request_, settings, monkeypatch
):
    _fake_ncu(
        tmp_path / "bin",
        'echo "PASS"\necho "==ERROR== Failed to profile kernel in process 1"\nexit 0\n',
        monkeypatch,
    )
    run = profile_kernels(request_, settings)
    assert run.profile is None
    assert run.note == (
        "no profiler counters: ncu printed no profiled launch (ncu exit 0): "
        "==ERROR== Failed to profile kernel in process 1"
    )


def test_counters_it_cannot_read_are_one_note(tmp_path, request_, settings, monkeypatch):
    _fake_ncu(tmp_path / "bin", f"cat {RECORDED}/nbody.stalls.csv\n", monkeypatch)
    run = profile_kernels(request_, settings)
    assert run.profile is None and run.raw_csv.startswith('"ID"')
    assert run.note is not None and run.note.startswith(
        "no profiler counters: ncu printed no number"
    )


def test_a_binary_that_is_gone_is_one_note(tmp_path, request_, settings, monkeypatch):
    _fake_ncu(tmp_path / "bin", "exit 0\n", monkeypatch)
    gone = request_.model_copy(update={"binary": tmp_path / "deleted"})
    run = profile_kernels(gone, settings)
    assert run.note is not None and run.note.startswith("no profiler counters: ncu could not")
