"""The models factory of the campaign tests: a scripted model per trial.

A campaign file names it as ``tests.helpers.campaign_models:build``; each trial calls
``build(trial)`` in the worker that runs it. Every reply is a pure function of
the app, the trial index and the role, so a trial resumed after a kill gets the
same answers it would have had.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from lassi_ee.campaign.spec import CampaignTrial
from lassi_ee.llm.fake import RoleScriptedChatModel
from tests.helpers.campaign_programs import variants
from tests.helpers.trial_programs import fenced

FACTORY_REF = "tests.helpers.campaign_models:build"  # how a campaign file names build()
TEXT = {
    "summarize_docs": "Use fewer instructions; avoid busy waiting.",
    "analyze_code": "The loop spins longer than needed.",
    "plan": "1. Shorten the spin loop.",
    "compare": "The best version spins for a shorter time.",
    "categorize": "ACE | shorter spin loop | less work for the same result",
}
VALID = {"verdict": "VALID", "reasons": ["same computation and output"]}
INVALID = {"verdict": "INVALID", "reasons": ["the loop bound changed"]}

# (app, trial index) -> what the vanilla role, the refactor role and the judge answer.
# fix_compile and fix_runtime always answer "faster".
SCENARIOS: dict[tuple[str, int], tuple[str, str, dict[str, Any]]] = {
    ("spin", 0): ("faster", "fastest", VALID),  # vanilla improves, Stage 3 improves more
    ("spin", 1): ("wrong", "faster", VALID),  # vanilla invalid (output check), Stage 3 improves
    ("spin", 2): ("broken", "broken_again", VALID),  # nothing compiles until a self-correction
    ("spin", 3): ("same", "same", VALID),  # valid, never lower
    ("wait", 0): ("faster", "fastest", VALID),
    ("wait", 1): ("wrong", "wrong", VALID),  # nothing valid at all
    ("wait", 2): ("broken", "broken_again", VALID),
    ("wait", 3): ("faster", "faster", INVALID),  # the judge rejects everything
}

# Set by tests to make the judge of every trial crash (an unexpected error, not an
# LLM failure), which cuts the trial off at its first judgement.
CRASH_JUDGE = "LASSI_TEST_CRASH_JUDGE"
# "APP:INDEX:PATH": that trial's first judgement creates PATH and then waits to be
# killed, so a test can kill a campaign at a known point in the middle of a trial.
HOLD_JUDGE = "LASSI_TEST_HOLD_JUDGE"
# "APP:INDEX": that trial's judge is an LLM server that cannot be reached (an outage).
UNREACHABLE_JUDGE = "LASSI_TEST_UNREACHABLE_JUDGE"


def build(trial: CampaignTrial) -> RoleScriptedChatModel:
    code = variants(trial.app)
    vanilla, refactor, verdict = SCENARIOS[(trial.app, trial.index)]

    def judge(_call: Any) -> dict[str, Any]:
        if os.environ.get(CRASH_JUDGE):
            raise RuntimeError("judge crashed (test)")
        if os.environ.get(UNREACHABLE_JUDGE) == f"{trial.app}:{trial.index}":
            raise httpx.ConnectError("connection refused (test)")
        app, index, marker = (os.environ.get(HOLD_JUDGE) or "::").split(":", 2)
        if (app, index) == (trial.app, str(trial.index)):
            Path(marker).touch()
            time.sleep(600)
        return verdict

    scripts: dict[str, Any] = {role: (lambda _call, t=text: t) for role, text in TEXT.items()}
    scripts.update(
        vanilla=lambda _call: fenced(code[vanilla]),
        refactor=lambda _call: fenced(code[refactor]),
        fix_compile=lambda _call: fenced(code["faster"]),
        fix_runtime=lambda _call: fenced(code["faster"]),
        judge=judge,
    )
    return RoleScriptedChatModel(scripts=scripts)
