"""One trial run straight, and the same trial SIGKILLed after the first step of every node,
in the middle of a measurement and of a confirmation, and resumed each time.

The child processes (tests.helpers.chain_child) log every LLM call, measurement,
confirmation and finished step. A test session runs the pair once (the ``killed_chain``
fixture of tests/conftest.py): the resume tests (tests/graph/test_resume.py) and the
fault tests (tests/hardening/test_faults.py) assert on it.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lassi_ee
from lassi_ee.report.console import print_result
from lassi_ee.result import TrialResult
from lassi_ee.settings import Settings
from lassi_ee.trials import show_trial
from tests.helpers.trial_programs import SOURCE

ROOT = Path(lassi_ee.__file__).resolve().parents[1]
# One kill after the first step of every node, in the order the trial reaches them, one
# in the middle of a measurement and one in the middle of a confirmation. The first
# compile is the vanilla version's.
KILLS = [
    "after:profile_source", "after:vanilla", "after:compile_candidate", "after:run_candidate",
    "after:assess", "after:summarize_docs", "after:analyze_code", "after:plan",
    "after:refactor", "after:fix_compile", "after:fix_runtime", "during:measure",
    "after:measure_candidate", "after:judge_candidate", "after:next_sibling",
    "after:pick_sibling", "during:confirm", "after:confirm_candidate", "after:confirm_final",
    "after:compare", "after:categorize", "after:finalize",
]  # fmt: skip
DEAD_S = 1.5  # how long the trial lies dead after its first kill, before it is resumed


def child(module: str, *args: str) -> subprocess.Popen[bytes]:
    """``python -m module args`` with this checkout on its path and nothing else of ours."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([sys.executable, "-m", module, *args], env=env)


def chain(mode: str, source: Path, thread: str, settings: Settings, log: Path, kill: str) -> int:
    """Run or resume the chain trial in a child process; its exit status."""
    args = [mode, str(source), thread, settings.model_dump_json(), str(log), kill]
    return child("tests.helpers.chain_child", *args).wait(timeout=240)


def chain_settings(folder: Path, work_root: Path) -> Settings:
    """Two Stage-3 iterations of two candidates each, short measurement windows, a 3 s run
    timeout; a gain must be 20 % (the scripted improvement is 70 % or more)."""
    return Settings(
        work_root=work_root,
        runs_dir=folder / "runs",
        checkpoint_url=str(folder / "checkpoints.sqlite"),
        lock_dir=folder / "locks",
        cache_dir=folder / "cache",
        compile_timeout_s=120,
        run_timeout_s=3,
        repeats=2,
        min_window_s=0.1,
        min_energy_gain=0.2,
        max_iterations=2,
        candidates_per_step=2,
    )


@dataclass
class KilledChain:
    settings: Settings
    straight_log: Path
    killed_log: Path
    straight_exit: int
    kill_exits: list[tuple[str, int]]  # (where it was killed, the child's exit status)
    last_exit: int  # of the resume that finished it
    cut_off: TrialResult  # the killed trial, as `show` told it after the first kill
    cut_off_printed: str  # what `lassi-ee show` printed then


def run_killed_chain(folder: Path, work_root: Path) -> KilledChain:
    source = folder / "src" / "spin.cpp"  # in a folder of its own: its folder is copied
    source.parent.mkdir()
    source.write_text(SOURCE)
    settings = chain_settings(folder, work_root)
    straight_log, killed_log = folder / "straight.log", folder / "killed.log"
    straight_exit = chain("run", source, "straight", settings, straight_log, "none")
    kill_exits = []
    cut_off = None
    printed = io.StringIO()
    for n, kill in enumerate(KILLS):
        kill_exits.append((kill, chain("run" if n == 0 else "resume", source, "killed",
                                       settings, killed_log, kill)))  # fmt: skip
        if cut_off is None:
            cut_off = show_trial("killed", settings)
            with contextlib.redirect_stdout(printed):
                print_result(cut_off)
            time.sleep(DEAD_S)  # the trial lies dead for a while before it is resumed
    assert cut_off is not None
    last_exit = chain("resume", source, "killed", settings, killed_log, "none")
    return KilledChain(
        settings=settings,
        straight_log=straight_log,
        killed_log=killed_log,
        straight_exit=straight_exit,
        kill_exits=kill_exits,
        last_exit=last_exit,
        cut_off=cut_off,
        cut_off_printed=printed.getvalue(),
    )
