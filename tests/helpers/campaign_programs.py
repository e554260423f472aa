"""Tiny C++ apps for campaign tests on the cpu device (time is the objective there).

Each app busy-waits and prints a result and PASS; its variants differ only in
how long they spin, or break in one way a trial must handle.
"""

from __future__ import annotations

from tests.helpers.trial_programs import FASTER_MS, FASTEST_MS, program, variant

# app name -> (source spin in ms, the result it prints); the versions spin as long as
# trial_programs' FASTER and FASTEST
APPS = {"spin": (60, 42), "wait": (48, 7)}


def variants(app: str) -> dict[str, str]:
    """The source of ``app`` and the versions a scripted model hands back for it. Each
    has its own text: a reply identical to an earlier version is never built."""
    spin_ms, result = APPS[app]
    broken = program(FASTER_MS, result).replace("return 0;", "return 0 undeclared;")
    return {
        "source": program(spin_ms, result),
        "same": variant(program(spin_ms, result), 1),
        "faster": program(FASTER_MS, result),
        "fastest": program(FASTEST_MS, result),
        "wrong": program(FASTER_MS, result + 1),
        "broken": broken,
        "broken_again": variant(broken, 2),
    }
