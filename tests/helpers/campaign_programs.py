"""Tiny C++ apps for campaign tests on the cpu device (time is the objective there).

Each app busy-waits and prints a result and PASS; its variants differ only in
how long they spin, or break in one way a trial must handle.
"""

from __future__ import annotations

TEMPLATE = r"""#include <chrono>
#include <cstdio>
int main() {
  auto start = std::chrono::steady_clock::now();
  volatile double sink = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < SPIN_S) {
    sink = sink + 1;
  }
  std::printf("result %d\n", RESULT);
  std::printf("PASS\n");
  return 0;
}
"""

# app name -> (source spin in ms, the result it prints); the versions spin FASTER_MS and
# FASTEST_MS: a window is a few runs of about 0.15 s, the gains too large to blur
APPS = {"spin": (60, 42), "wait": (48, 7)}
FASTER_MS, FASTEST_MS = 16, 8


def program(spin_ms: int, result: int) -> str:
    return TEMPLATE.replace("SPIN_S", f"{spin_ms / 1000:.3f}").replace("RESULT", str(result))


def _declaring(code: str, name: str) -> str:
    """The program with one unused declaration more: a different text, the same program."""
    return code.replace("int main() {", f"static const int {name} = 1;\nint main() {{", 1)


def variants(app: str) -> dict[str, str]:
    """The source of ``app`` and the versions a scripted model hands back for it. Each
    has its own text: a reply identical to an earlier version is never built."""
    spin_ms, result = APPS[app]
    broken = program(FASTER_MS, result).replace("return 0;", "return 0 undeclared;")
    return {
        "source": program(spin_ms, result),
        "same": _declaring(program(spin_ms, result), "same_as_the_source"),
        "faster": program(FASTER_MS, result),
        "fastest": program(FASTEST_MS, result),
        "wrong": program(FASTER_MS, result + 1),
        "broken": broken,
        "broken_again": _declaring(broken, "broken_again"),
    }


def fenced(code: str) -> str:
    return f"Here is the refactored program.\n\n```cpp\n{code}```\n"
