"""Small C++ programs for whole-trial tests on the cpu device (time is the objective).

``program(spin_ms)`` busy-waits for ``spin_ms`` and prints the same result and
PASS, so versions differ only in runtime; the other variants break in the ways
a trial must handle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel

TEMPLATE = r"""#include <chrono>
#include <cstdio>
int main() {
  auto start = std::chrono::steady_clock::now();
  volatile double sink = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < SPIN_S) {
    sink = sink + 1;
  }
  BODY
  std::printf("result %d\n", RESULT);
  std::printf("PASS\n");
  return 0;
}
"""


def spin_text(spin_ms: int) -> str:
    """How ``program(spin_ms)`` writes its spin in seconds: prompts show which version
    the model is shown by it."""
    return f"{spin_ms / 1000:.3f}"


def program(spin_ms: int, result: int = 42, body: str = "") -> str:
    return (
        TEMPLATE.replace("SPIN_S", spin_text(spin_ms))
        .replace("RESULT", str(result))
        .replace("BODY", body)
    )


# Spins short enough that a measured window is a few runs of about 0.15 s, and far enough
# apart (a 73 % gain, then half of what is left) that a busy 2-core machine cannot blur them.
SOURCE_MS, FASTER_MS, FASTEST_MS = 60, 16, 8
SOURCE = program(SOURCE_MS)
FASTER = program(FASTER_MS)
FASTEST = program(FASTEST_MS)
SAME = program(SOURCE_MS)
WRONG_RESULT = program(FASTER_MS, result=43)
FASTEST_WRONG = program(FASTEST_MS, result=43)
DOES_NOT_COMPILE = program(FASTER_MS).replace("return 0;", "return 0 undeclared;")
CRASHES = program(FASTER_MS, body="volatile int *null_pointer = nullptr; *null_pointer = 1;")


def variant(code: str, n: int) -> str:
    """The same program with one harmless declaration more: a new version, as an LLM's
    rewrite that changes nothing of substance would be (an identical text is ``unchanged``
    and never built)."""
    return code.replace("int main() {", f"static const int variant_{n} = {n};\nint main() {{", 1)


def variants(code: str, count: int = 30) -> list[str]:
    """``count`` distinct versions of one program, fenced as replies."""
    return [fenced(variant(code, n)) for n in range(1, count + 1)]


def fenced(code: str) -> str:
    return f"Here is the refactored program.\n\n```cpp\n{code}```\n"


VALID = {"verdict": "VALID", "reasons": ["same computation and output"]}
INVALID = {"verdict": "INVALID", "reasons": ["the loop bound changed"]}

TEXT_ROLES = {
    "summarize_docs": "Use fewer instructions; avoid busy waiting.",
    "analyze_code": "The loop spins longer than needed.",
    "plan": "1. Shorten the spin loop.",
    "compare": "The best version spins for a shorter time (ACE).",
    "categorize": "ACE | shorter spin loop | less work for the same result",
}


def scripted(**scripts: Any) -> RoleScriptedChatModel:
    """A model answering every role: the text roles by default, the rest from ``scripts``."""
    roles: dict[str, Any] = {role: [text] * 30 for role, text in TEXT_ROLES.items()}
    roles.update(scripts)
    return RoleScriptedChatModel(scripts=roles)


def answer_by_best_code(log: Path | None = None) -> RoleScriptedChatModel:
    """A model whose every reply depends only on the prompt, never on call order, so a
    resumed process answers exactly as the original would have. Calls are logged."""

    def logged(role: str, reply: Any) -> Any:
        if log is not None:
            with log.open("a") as handle:
                handle.write(role + "\n")
        return reply

    def refactor(call: FakeCall) -> str:
        if spin_text(SOURCE_MS) in call.prompt:
            return logged("refactor", fenced(FASTER))
        if spin_text(FASTER_MS) in call.prompt:
            return logged("refactor", fenced(FASTEST))
        # nothing beats the fastest; a version as fast would be decided by timing noise,
        # so the model hands back one the output check rejects before it is measured
        return logged("refactor", fenced(FASTEST_WRONG))

    scripts: dict[str, Any] = {
        role: (lambda call, role=role, text=text: logged(role, text))
        for role, text in TEXT_ROLES.items()
    }
    scripts["vanilla"] = lambda call: logged("vanilla", fenced(SAME))
    scripts["refactor"] = refactor
    scripts["judge"] = lambda call: logged("judge", VALID)
    return RoleScriptedChatModel(scripts=scripts)
