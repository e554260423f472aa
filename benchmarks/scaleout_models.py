"""Models factory of the scale-out benchmark: a scripted model that answers every code role
with the program it was given, so that a trial does the real work of one (Stage 0, builds,
runs, measurements, every iteration) without an LLM server. The judge says VALID."""

from __future__ import annotations

from typing import Any

from lassi_ee.campaign.spec import CampaignTrial
from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel
from lassi_ee.llm.replies import extract_code

TEXT = {
    "summarize_docs": "- Avoid redundant memory traffic.",
    "analyze_code": "The program is memory bound.",
    "plan": "1. Keep the program as it is.",
    "compare": "The versions are the same program.",
    "categorize": "[]",
}


def echo(call: FakeCall) -> str:
    code = extract_code(call.prompt, require_main=True)
    if code is None:
        raise ValueError("the prompt holds no program to hand back")
    return f"Here is the program.\n\n```cpp\n{code}```\n"


def build(trial: CampaignTrial) -> RoleScriptedChatModel:
    scripts: dict[str, Any] = {role: (lambda _call, t=text: t) for role, text in TEXT.items()}
    for role in ("vanilla", "refactor", "fix_compile", "fix_runtime"):
        scripts[role] = echo
    scripts["judge"] = lambda _call: {"verdict": "VALID", "reasons": ["the same program"]}
    return RoleScriptedChatModel(scripts=scripts)
