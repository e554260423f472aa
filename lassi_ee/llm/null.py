"""The null model: a false-claim test anyone can run on their own machine.

``--model null`` (``LASSI_GENERATE_MODEL=null``) answers every program request
with the program it was given plus one harmless declaration, different for
each request, so every version is new: it is built, run, checked, measured and
judged like any rewrite, yet it cannot use less energy than the program it
came from. The judge says VALID to everything. A trial with this model that
ends ``improved`` has found a gain in measurement noise; the decision rule
(energy/decide.py) must keep that under its false-claim rate.
"""

from __future__ import annotations

import hashlib

from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel
from lassi_ee.llm.replies import code_blocks

NULL_MODEL_NAME = "null"
NULL_MARK = "[null model: the program unchanged but for one unused declaration]"


def with_unused_declaration(program: str, salt: str) -> str:
    """The program with one extern declaration of a never-used name in front.

    A declaration that nothing defines or uses changes neither the code the
    compiler emits nor any warning (unlike an unused variable).
    """
    tag = hashlib.sha256(f"{salt}\n{program}".encode()).hexdigest()[:12]
    return f"extern int lassi_null_{tag};\n{program}"


def _program_reply(call: FakeCall) -> str:
    """The prompt's program (the last fenced block of every code prompt), redeclared.

    The sibling's number is in the salt: a Stage-3 step of several candidates asks the same
    prompt at the same temperature several times, and each answer must still be a new
    version.
    """
    blocks = code_blocks(call.prompt)
    if not blocks:
        return f"{NULL_MARK} (no program in the request)"
    program = blocks[-1]
    salt = f"{call.role} {call.temperature} {call.sibling} {call.prompt}"
    code = with_unused_declaration(program.code, salt)
    return f"{NULL_MARK}\n\n```{program.lang or 'cpp'}\n{code}\n```\n"


def null_chat_model() -> RoleScriptedChatModel:
    """Every role of the method, answered without changing anything that matters."""
    text = f"{NULL_MARK} Nothing to add."
    return RoleScriptedChatModel(
        model_name=NULL_MODEL_NAME,
        scripts={
            "vanilla": _program_reply,
            "refactor": _program_reply,
            "fix_compile": _program_reply,
            "fix_runtime": _program_reply,
            "judge": lambda call: {"verdict": "VALID", "reasons": [NULL_MARK]},
            "summarize_docs": lambda call: text,
            "analyze_code": lambda call: text,
            "plan": lambda call: f"{NULL_MARK} 1. Keep the program as it is.",
            "compare": lambda call: text,
            "categorize": lambda call: {"items": []},
        },
    )
