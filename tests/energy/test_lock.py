"""The per-device lock, between real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lassi_ee.energy.lock import device_lock, lock_path
from lassi_ee.errors import LassiError

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from lassi_ee.energy.lock import device_lock
    with device_lock(sys.argv[1], Path(sys.argv[2]), timeout_s=10):
        print("locked", flush=True)
        sys.stdin.read()  # hold the lock until the parent closes our stdin
    """
)


def start_holder(lock_dir, name: str = "cuda-GPU-test") -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, name, str(lock_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_process_waits_then_gets_the_device(tmp_path):
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(LassiError) as caught, device_lock("cuda-GPU-test", tmp_path, 0.3):
            pass
        message = str(caught.value)
        assert f"pid {holder.pid}" in message and "cuda-GPU-test is busy" in message
        assert "lock_timeout_s" in message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
    start = time.monotonic()
    with device_lock("cuda-GPU-test", tmp_path, timeout_s=10):
        assert holder.wait(5) == 0
    assert time.monotonic() - start < 5


def test_other_devices_are_not_blocked(tmp_path):
    holder = start_holder(tmp_path, "cuda-0")
    try:
        with device_lock("cuda-1", tmp_path, timeout_s=0.2) as path:
            assert path.name == "cuda-1.lock"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(5)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = start_holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(5)
    with device_lock("cuda-GPU-test", tmp_path, timeout_s=1.0) as path:
        assert "pid" in path.read_text()
    assert path.read_text() == ""  # released: the holder line is cleared


def test_an_unusable_lock_dir_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    with (
        pytest.raises(LassiError, match=r"cannot create the device lock.*LASSI_LOCK_DIR"),
        device_lock("cuda-0", tmp_path / "a-file" / "locks", 1.0),
    ):
        pass


def test_lock_names_become_safe_file_names(tmp_path):
    path = lock_path(tmp_path, "cuda-MIG-1/2:3")
    assert path.parent == tmp_path and path.name == "cuda-MIG-1_2_3.lock"
