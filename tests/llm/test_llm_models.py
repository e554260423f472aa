"""Resolving the chat model of every role, and what each model accepts."""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from lassi_ee.errors import UsageError
from lassi_ee.llm.errors import LLMConfigError
from lassi_ee.llm.fake import RoleScriptedChatModel
from lassi_ee.llm.models import build_models, rejects_temperature
from lassi_ee.roles import ROLE_GROUP, ROLES
from lassi_ee.settings import Settings


def fake(name: str = "fake-lassi") -> RoleScriptedChatModel:
    return RoleScriptedChatModel(model_name=name)


def test_ten_roles_in_three_groups() -> None:
    assert len(ROLES) == 10
    assert set(ROLE_GROUP) == set(ROLES)
    assert {r for r, g in ROLE_GROUP.items() if g == "generate"} == {
        "vanilla", "refactor", "fix_compile", "fix_runtime"
    }  # fmt: skip
    assert {r for r, g in ROLE_GROUP.items() if g == "judge"} == {"judge"}


def test_one_model_serves_every_role(settings: Settings) -> None:
    model = fake()
    models = build_models(settings, model)
    assert all(models.model(role) is model for role in ROLES)
    assert len(models.slots()) == 1
    assert models.supports_temperature("generate")


def test_mapping_by_group_falls_back_like_the_settings(settings: Settings) -> None:
    generate, judge = fake("gen"), fake("judge")
    models = build_models(settings, {"generate": generate, "judge": judge})
    assert models.model("refactor") is generate
    assert models.model("plan") is generate  # context falls back to generate
    assert models.model("judge") is judge


def test_role_key_beats_group_key(settings: Settings) -> None:
    generate, planner = fake("gen"), fake("planner")
    models = build_models(settings, {"generate": generate, "plan": planner})
    assert models.model("plan") is planner
    assert models.model("analyze_code") is generate
    assert models.slot("plan").origin == "the chat model passed in for 'plan'"


def test_unknown_key_is_a_usage_error(settings: Settings) -> None:
    with pytest.raises(UsageError, match="unknown model keys \\['writer'\\]"):
        build_models(settings, {"writer": fake()})


def test_chat_openai_from_settings() -> None:
    settings = Settings(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        generate_model="gpt-4o",
        judge_model="o3-mini",
        request_timeout_s=42,
        max_output_tokens=1234,
    )
    models = build_models(settings)
    generate, judge = models.model("refactor"), models.model("judge")
    assert isinstance(generate, ChatOpenAI) and isinstance(judge, ChatOpenAI)
    assert generate.model_name == "gpt-4o" and judge.model_name == "o3-mini"
    assert models.model("plan") is generate  # same name, same client
    assert generate.openai_api_base == "http://127.0.0.1:9/v1"
    assert isinstance(generate.openai_api_key, SecretStr)
    assert generate.openai_api_key.get_secret_value() == "sk-test"
    assert (generate.max_retries, generate.request_timeout, generate.max_tokens) == (0, 42, 1234)
    assert generate.extra_body == {"max_tokens": 1234}  # what OpenAI-compatible servers read
    assert generate.temperature is None and judge.temperature is None
    assert models.supports_temperature("generate")
    assert not models.supports_temperature("judge")
    assert models.slot("judge").origin == "LASSI_JUDGE_MODEL"
    assert models.slot("plan").origin == "LASSI_GENERATE_MODEL"


def test_a_passed_model_replaces_only_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    models = build_models(Settings(context_model="gpt-4o-mini"), {"judge": fake()})
    vanilla = models.model("vanilla")
    assert isinstance(vanilla, ChatOpenAI)
    assert vanilla.extra_body is None  # OpenAI's own API: max_completion_tokens alone
    assert models.model_name("plan") == "gpt-4o-mini"
    assert isinstance(models.model("judge"), RoleScriptedChatModel)


def test_no_key_without_base_url_names_the_settings() -> None:
    with pytest.raises(LLMConfigError, match="set LASSI_API_KEY or OPENAI_API_KEY"):
        build_models(Settings())


def test_local_server_needs_no_key() -> None:
    models = build_models(Settings(base_url="http://127.0.0.1:11434/v1", generate_model="llama3"))
    assert models.model_name("judge") == "llama3"


@pytest.mark.parametrize(
    ("name", "rejects"),
    [
        ("o1", True),
        ("o1-mini", True),
        ("o3-mini", True),
        ("o4-mini-2025-04-16", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("gpt-5.1", True),
        ("openai/o3", True),
        ("GPT-5-nano", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o", False),
        ("gpt-4.1-mini", False),
        ("olmo-2-7b", False),
        ("qwen2.5-coder:32b", False),
        ("meta-llama/Llama-3.1-70B-Instruct", False),
    ],
)
def test_reasoning_models_are_known_by_name(name: str, rejects: bool) -> None:
    assert rejects_temperature(name) is rejects


def test_passed_reasoning_model_is_detected_by_name(settings: Settings) -> None:
    models = build_models(settings, {"generate": fake("o3-mini"), "context": fake("gpt-4o")})
    assert not models.supports_temperature("generate")
    assert not models.supports_temperature("refactor")
    assert models.supports_temperature("context")
