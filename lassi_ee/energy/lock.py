"""One measurement per device at a time, across processes.

Two programs on one GPU spoil both figures, so every measurement holds an
exclusive ``flock`` on ``<lock_dir>/<device.lock_name>.lock``. The kernel drops
the lock when its holder dies, so a crash never leaves a stale lock. The holder
writes its pid into the file, which lets a waiting process say who is in the way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lassi_ee.errors import LassiError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def lock_path(lock_dir: Path, lock_name: str) -> Path:
    """The lock file of one device (or source cache entry) under ``lock_dir``."""
    return lock_dir / f"{_UNSAFE.sub('_', lock_name)}.lock"


@contextlib.contextmanager
def device_lock(
    lock_name: str, lock_dir: Path, timeout_s: float, poll_s: float = 0.05
) -> Iterator[Path]:
    """Hold the device's lock for the duration of the block, waiting up to ``timeout_s``."""
    path = lock_path(lock_dir, lock_name)
    fd = _open_lock_file(path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LassiError(
                        f"device {lock_name} is busy: {_holder(path)} holds {path} "
                        f"(waited {timeout_s:.0f} s); wait for it to finish or raise "
                        "lock_timeout_s"
                    ) from None
                time.sleep(poll_s)
        since = dt.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {since}: {_command()}"
        os.pwrite(fd, f"{holder}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # shared by every user who measures on this machine
            with contextlib.suppress(OSError):
                path.parent.chmod(0o1777)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise LassiError(
            f"cannot create the device lock {path} ({err.strerror}): set lock_dir "
            "(LASSI_LOCK_DIR) to a directory you can write"
        ) from None
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)
    return fd


def _command() -> str:
    """The holder's program and first arguments, for the waiting user."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]]) if sys.argv else "python"


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"another measurement ({text})" if text else "another measurement"
