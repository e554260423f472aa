"""The roles the method asks LLMs in, and the groups that share a model.

The paper groups its ten roles in three: ``generate`` writes code, ``context``
builds the context (docs summary, code analysis, plan, comparison, categories)
and ``judge`` decides equivalence. A group with no model of its own uses the
next one in ``GROUP_FALLBACK``: the settings name models that way, and so do
the chat models a caller passes in. Every call carries the tag
``lassi:<role>``, which is how tracing and the scripted models tell roles apart.

A leaf: the prompts, the usage records, the scripted models and the model
factory all speak of roles, and none of them needs the others for it.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal[
    "vanilla",
    "summarize_docs",
    "analyze_code",
    "plan",
    "refactor",
    "fix_compile",
    "fix_runtime",
    "judge",
    "compare",
    "categorize",
]
RoleGroup = Literal["generate", "context", "judge"]

ROLES: tuple[Role, ...] = get_args(Role)
GROUPS: tuple[RoleGroup, ...] = get_args(RoleGroup)
ROLE_TAG_PREFIX = "lassi:"  # every call carries the tag lassi:<role>

ROLE_GROUP: dict[Role, RoleGroup] = {
    "vanilla": "generate",
    "refactor": "generate",
    "fix_compile": "generate",
    "fix_runtime": "generate",
    "summarize_docs": "context",
    "analyze_code": "context",
    "plan": "context",
    "compare": "context",
    "categorize": "context",
    "judge": "judge",
}

# Where a group's model comes from, first choice first: the judge falls back to the
# context model and both to the generate model, which always exists.
GROUP_FALLBACK: dict[RoleGroup, tuple[RoleGroup, ...]] = {
    "generate": ("generate",),
    "context": ("context", "generate"),
    "judge": ("judge", "context", "generate"),
}


def role_tag(role: Role) -> str:
    """The tag (and run name) a call for ``role`` carries."""
    return f"{ROLE_TAG_PREFIX}{role}"
