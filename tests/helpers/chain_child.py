"""Run or resume one trial in this process and SIGKILL ourselves where told.

    python -m tests.helpers.chain_child run|resume SOURCE THREAD SETTINGS_JSON LOG KILL

KILL is "none", "after:NODE" (once NODE's step is checkpointed), "during:measure"
(part-way through the first measurement this process makes) or "during:confirm"
(part-way through its first interleaved confirmation). LLM calls ("llm ROLE"),
measurements ("measure"), confirmations ("confirm") and finished steps ("node NAME")
are appended to LOG.

The model answers from the prompt (and a sibling's number) alone, so a resumed process
answers as the original would have, and its trial passes through every node of the
graph. Each Stage-3 step asks for two candidates: the vanilla version prints a wrong
result; in the first step sibling 1 does not compile, its fix crashes, the fix of that
is lower and waits for its sibling, sibling 2 prints a wrong result, and the pick sends
the fix of the fix to confirmation, which it passes; both siblings of the second step
print wrong results and the iteration cap ends it; Stage 4 re-measures the winner
against the source.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lassi_ee.api import resume_graph, run_graph
from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel
from lassi_ee.settings import Settings
from tests.helpers.child_hooks import die, log_measurements
from tests.helpers.trial_programs import (
    CRASHES,
    DOES_NOT_COMPILE,
    FASTER,
    SOURCE_MS,
    TEXT_ROLES,
    VALID,
    WRONG_RESULT,
    fenced,
    spin_text,
    variant,
)


def chain_model(log: Path) -> RoleScriptedChatModel:
    def logged(role: str, reply: Any) -> Any:
        with log.open("a") as handle:
            handle.write(f"llm {role}\n")
        return reply

    def refactor(call: FakeCall) -> str:
        first = spin_text(SOURCE_MS) in call.prompt  # the source is still the best
        if first:
            reply = DOES_NOT_COMPILE if call.sibling == 1 else variant(WRONG_RESULT, 1)
        else:
            reply = variant(WRONG_RESULT, 1 + call.sibling)
        return logged("refactor", fenced(reply))

    scripts: dict[str, Any] = {
        role: (lambda call, role=role, text=text: logged(role, text))
        for role, text in TEXT_ROLES.items()
    }
    scripts["vanilla"] = lambda call: logged("vanilla", fenced(WRONG_RESULT))
    scripts["refactor"] = refactor
    scripts["fix_compile"] = lambda call: logged("fix_compile", fenced(CRASHES))
    scripts["fix_runtime"] = lambda call: logged("fix_runtime", fenced(FASTER))
    scripts["judge"] = lambda call: logged("judge", VALID)
    return RoleScriptedChatModel(scripts=scripts)


def main() -> None:
    mode, source, thread, settings_json, log_name, kill = sys.argv[1:7]
    settings = Settings.model_validate_json(settings_json)
    log = Path(log_name)
    log_measurements(log, kill)

    def on_update(node: str, update: dict[str, Any]) -> None:
        with log.open("a") as handle:
            handle.write(f"node {node}\n")
        if kill == f"after:{node}":
            die()

    model = chain_model(log)
    if mode == "run":
        run_graph(
            source, "cpu", thread_id=thread, settings=settings, models=model, on_update=on_update
        )
    else:
        resume_graph(thread, settings=settings, models=model, on_update=on_update)


if __name__ == "__main__":
    main()
