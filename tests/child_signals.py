"""Signals as a terminal gives them, for tests that send Ctrl-C to a child."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """Give a child process the default SIGINT (a ``preexec_fn``).

    A shell's background job, as a CI runner may start the suite, passes SIGINT on
    ignored, and Python then never raises KeyboardInterrupt: a Ctrl-C test would test
    nothing but the runner.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
