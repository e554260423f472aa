"""The LLM layer: chat models per role, prompts, reply parsing, retries, usage and budget."""

from lassi_ee.llm.client import (
    LLM,
    CategorizeReply,
    CodeReply,
    CodeRole,
    JudgeVerdict,
    TextReply,
    TextRole,
)
from lassi_ee.llm.errors import (
    BudgetExhausted,
    LLMConfigError,
    LLMError,
    LLMUnavailable,
    NoUsableReply,
)
from lassi_ee.llm.models import ROLE_GROUP, ROLES, ModelSet, Role, RoleGroup, build_models
from lassi_ee.llm.replies import CATEGORY_NAMES, CategorizedOptimization, Category
from lassi_ee.llm.usage import RoleUsage, Usage, merge

__all__ = [
    "CATEGORY_NAMES",
    "LLM",
    "ROLES",
    "ROLE_GROUP",
    "BudgetExhausted",
    "CategorizeReply",
    "CategorizedOptimization",
    "Category",
    "CodeReply",
    "CodeRole",
    "JudgeVerdict",
    "LLMConfigError",
    "LLMError",
    "LLMUnavailable",
    "ModelSet",
    "NoUsableReply",
    "Role",
    "RoleGroup",
    "RoleUsage",
    "TextReply",
    "TextRole",
    "Usage",
    "build_models",
    "merge",
]
