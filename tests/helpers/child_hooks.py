"""Hooks for the child processes of the resume tests: every screen measurement and every
confirmation is logged, and the process SIGKILLs itself part-way through the first one
when told."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import lassi_ee.nodes.confirm as confirm
import lassi_ee.nodes.evaluate as evaluate

# (module, function, what LOG gets, seconds into the call at which "during:..." kills)
HOOKED = (
    (evaluate, "measure_binary", "measure", 0.2),
    (confirm, "confirm_binaries", "confirm", 1.0),
)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def log_measurements(log: Path, kill: str) -> None:
    """Append "measure" or "confirm" to LOG at each call; KILL "during:measure" or
    "during:confirm" kills the process that long into the first such call."""
    for module, name, event, delay_s in HOOKED:
        real = getattr(module, name)

        def hooked(*args: Any, real: Any = real, event: str = event, delay_s: float = delay_s,
                   **kwargs: Any) -> Any:  # fmt: skip
            with log.open("a") as handle:
                handle.write(f"{event}\n")
            if kill == f"during:{event}":
                threading.Timer(delay_s, die).start()
            return real(*args, **kwargs)

        setattr(module, name, hooked)
