"""Which chat model answers which role, and what each model accepts.

The method talks to LLMs in ten roles of three groups (lassi_ee/roles.py). By
default each group gets a ``ChatOpenAI`` built from the settings, which reaches
OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp server,
LiteLLM) through ``base_url``. Any other LangChain chat model can be passed in
instead, and a model name may stand for a scripted model (``SCRIPTED_MODELS``: the
demo and null models).

A ``ModelSet`` is rebuilt from settings (and any models passed in) whenever a
trial starts or resumes; the graph persists nothing of it. What it learns at
run time (a server rejecting ``temperature``) is re-learnt after a resume at the
cost of one refused request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from lassi_ee.errors import UsageError
from lassi_ee.llm.demo import DEMO_MODEL_NAME, demo_chat_model
from lassi_ee.llm.errors import LLMConfigError
from lassi_ee.llm.null import NULL_MODEL_NAME, null_chat_model
from lassi_ee.roles import GROUP_FALLBACK, GROUPS, ROLE_GROUP, ROLES, Role, RoleGroup
from lassi_ee.settings import Settings

# The model names that stand for a scripted model instead of an LLM: the demo's canned
# replies and the null model's harmless redeclarations. A name is enough to choose one,
# since LangGraph Studio builds every model from settings alone.
SCRIPTED_MODELS: dict[str, Callable[[], BaseChatModel]] = {
    DEMO_MODEL_NAME: demo_chat_model,
    NULL_MODEL_NAME: null_chat_model,
}

# o1, o3-mini, o4-mini, gpt-5, gpt-5-mini ... but not gpt-5-chat, which takes temperature.
_REJECTS_TEMPERATURE = re.compile(r"^o\d+(-|$)|^gpt-5(?!.*chat)")


def rejects_temperature(model_name: str) -> bool:
    """Whether a model is a reasoning model known to refuse ``temperature``.

    A provider prefix (``openai/o3-mini`` as LiteLLM writes it) is ignored.
    """
    name = model_name.lower().rsplit("/", 1)[-1]
    return bool(_REJECTS_TEMPERATURE.search(name))


@dataclass
class ModelSlot:
    """One chat model and what is known about it; roles sharing a model share the slot."""

    model: BaseChatModel
    name: str
    origin: str  # what chose it, named in error messages: a setting or "the model passed in"
    accepts_temperature: bool
    structured_output: bool = True  # turned off once the model shows it lacks it


class ModelSet:
    """The resolved chat model of every role."""

    def __init__(self, slots: Mapping[Role, ModelSlot]) -> None:
        missing = [role for role in ROLES if role not in slots]
        if missing:
            raise ValueError(f"no model for roles {missing}")
        self._slots = dict(slots)

    def slot(self, role: Role) -> ModelSlot:
        return self._slots[role]

    def model(self, role: Role) -> BaseChatModel:
        return self._slots[role].model

    def model_name(self, role: Role) -> str:
        return self._slots[role].name

    def supports_temperature(self, key: Role | RoleGroup) -> bool:
        """Whether temperature escalation applies: for a group, every role of it must take it."""
        roles = [key] if key in ROLE_GROUP else [r for r, g in ROLE_GROUP.items() if g == key]
        if not roles:
            raise ValueError(f"unknown role or group '{key}'")
        return all(self._slots[role].accepts_temperature for role in roles)

    def slots(self) -> list[ModelSlot]:
        """Each distinct slot once."""
        unique: dict[int, ModelSlot] = {}
        for slot in self._slots.values():
            unique.setdefault(id(slot), slot)
        return list(unique.values())


def model_name_of(model: BaseChatModel) -> str:
    """The name a chat model is priced and reported by."""
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _model_setting(settings: Settings, group: RoleGroup) -> str:
    """The setting that names a group's model: its own when set, else its first fallback
    that is set (GROUP_FALLBACK), else ``generate_model``."""
    for candidate in GROUP_FALLBACK[group]:
        if getattr(settings, f"{candidate}_model"):
            return f"{candidate}_model"
    return "generate_model"


def chat_openai(settings: Settings, model_name: str) -> BaseChatModel:
    """A ChatOpenAI for ``model_name`` configured from the settings.

    Its own retries are off (tenacity in the client is the only retry layer) and
    no temperature is set, so each call decides whether to send one.
    """
    from langchain_openai import ChatOpenAI

    if settings.api_key is not None:
        key = settings.api_key.get_secret_value()
    else:
        key = os.environ.get("OPENAI_API_KEY", "")
    if not key:
        if settings.base_url is None:
            raise LLMConfigError(
                f"no API key for model '{model_name}': set LASSI_API_KEY or OPENAI_API_KEY, "
                "or LASSI_BASE_URL to reach a local OpenAI-compatible server"
            )
        # local servers (vLLM, Ollama, llama.cpp) ignore the key, but the client wants one
        key = "not-needed"
    # OpenAI's own API knows the output limit as max_completion_tokens only (its reasoning
    # models refuse max_tokens), which is what ChatOpenAI sends. OpenAI-compatible servers
    # know max_tokens: llama-cpp-python's server ignores max_completion_tokens and then
    # generates until the context is full, so a server named by base_url gets both.
    local_limit = {"max_tokens": settings.max_output_tokens} if settings.base_url else None
    return ChatOpenAI(
        model=model_name,
        base_url=settings.base_url,
        api_key=SecretStr(key),
        timeout=settings.request_timeout_s,
        max_retries=0,
        max_completion_tokens=settings.max_output_tokens,
        temperature=None,
        extra_body=local_limit,
    )


def _model_named(settings: Settings, name: str) -> BaseChatModel:
    """The chat model a setting names: a scripted one by its name, else a ChatOpenAI."""
    factory = SCRIPTED_MODELS.get(name)
    return factory() if factory is not None else chat_openai(settings, name)


def build_models(
    settings: Settings,
    models: BaseChatModel | Mapping[str, BaseChatModel] | None = None,
) -> ModelSet:
    """Resolve the chat model of every role.

    ``models`` may be one chat model for every role, or a mapping keyed by role
    (``"judge"``, ``"plan"``) and/or group (``"generate"``, ``"context"``); a role
    key beats its group key, and a missing group falls back as the settings do
    (judge -> context -> generate). Roles left without a model get the model their
    setting names: a scripted model where the name is one (``SCRIPTED_MODELS``), else a
    ChatOpenAI.
    """
    chosen: dict[Role, tuple[BaseChatModel, str]] = {}
    if isinstance(models, BaseChatModel):
        chosen = dict.fromkeys(ROLES, (models, "the chat model passed in"))
    elif models is not None:
        unknown = sorted(set(models) - set(ROLES) - set(GROUPS))
        if unknown:
            raise UsageError(
                f"unknown model keys {unknown}: use roles {list(ROLES)} or groups {list(GROUPS)}"
            )
        for role in ROLES:
            for key in (role, *GROUP_FALLBACK[ROLE_GROUP[role]]):
                if key in models:
                    chosen[role] = (models[key], f"the chat model passed in for '{key}'")
                    break

    slots_by_model: dict[int, ModelSlot] = {}
    built_by_name: dict[str, BaseChatModel] = {}
    slots: dict[Role, ModelSlot] = {}
    for role in ROLES:
        if role in chosen:
            model, origin = chosen[role]
        else:
            setting = _model_setting(settings, ROLE_GROUP[role])
            name = getattr(settings, setting)
            if name not in built_by_name:
                built_by_name[name] = _model_named(settings, name)
            model, origin = built_by_name[name], f"LASSI_{setting.upper()}"
        if id(model) not in slots_by_model:
            name = model_name_of(model)
            slots_by_model[id(model)] = ModelSlot(
                model=model,
                name=name,
                origin=origin,
                accepts_temperature=not rejects_temperature(name),
            )
        slots[role] = slots_by_model[id(model)]
    return ModelSet(slots)
