"""ChatOpenAI over real HTTP against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from lassi_ee.devices import cpu_device
from lassi_ee.llm.client import LLM
from lassi_ee.llm.errors import LLMConfigError, LLMUnavailable
from lassi_ee.llm.models import build_models
from lassi_ee.llm.usage import Usage
from lassi_ee.settings import Settings
from tests.helpers.llm_samples import BETTER
from tests.helpers.openai_stub import StubOpenAIServer

FENCED = f"```cuda\n{BETTER}```"


def make_llm(server: StubOpenAIServer, model: str, **settings: Any) -> LLM:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": "sk-test-123",
        "generate_model": model,
        "request_timeout_s": 10,
        "llm_backoff_initial_s": 0.001,
        "llm_backoff_max_s": 0.005,
    }
    resolved = Settings(**(options | settings))
    return LLM(build_models(resolved), resolved)


def test_base_url_key_model_and_temperature_reach_the_server(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.reply(FENCED, prompt_tokens=321, completion_tokens=123)
    llm = make_llm(stub_server, "gpt-4o-mini")
    reply = llm.code("refactor", prompt_vars, temperature=0.4, usage=Usage())
    assert reply.code == BETTER
    (request,) = stub_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["temperature"] == 0.4
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    # the output limit under both names: llama-cpp-python's server knows only max_tokens
    assert request.body["max_completion_tokens"] == request.body["max_tokens"] == 16_000
    spent = reply.usage.by_role["refactor"]
    assert (spent.tokens_in, spent.tokens_out, spent.estimated_calls) == (321, 123, 0)


def test_reasoning_model_is_called_without_temperature(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.reply(FENCED)
    llm = make_llm(stub_server, "o3-mini")
    reply = llm.code("refactor", prompt_vars, temperature=0.4, usage=Usage())
    assert "temperature" not in stub_server.requests[0].body
    assert reply.temperature_used is None
    assert not llm.models.supports_temperature("generate")


def test_server_refusing_temperature_is_asked_again_without_it(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.fail(
        400,
        "Unsupported value: 'temperature' does not support 0.4 with this model. "
        "Only the default (1) value is supported.",
        param="temperature",
    )
    stub_server.reply(FENCED)
    llm = make_llm(stub_server, "my-local-reasoner")
    reply = llm.code("vanilla", prompt_vars, temperature=0.4, usage=Usage())
    first, second = stub_server.requests
    assert first.body["temperature"] == 0.4
    assert "temperature" not in second.body
    assert reply.code == BETTER and reply.temperature_used is None
    assert not llm.models.supports_temperature("generate")


def test_429_and_500_are_retried(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.fail(429, "Rate limit reached, try again in 1ms")
    stub_server.fail(500, "The server had an error")
    stub_server.reply("the plan")
    llm = make_llm(stub_server, "gpt-4o")
    assert llm.text("plan", prompt_vars, usage=Usage()).text == "the plan"
    assert len(stub_server.requests) == 3


def test_retries_run_out(stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]) -> None:
    for _ in range(3):
        stub_server.fail(503, "overloaded")
    llm = make_llm(stub_server, "gpt-4o", llm_max_attempts=2)
    with pytest.raises(LLMUnavailable, match="kept failing after 2 attempts"):
        llm.text("plan", prompt_vars, usage=Usage())
    assert len(stub_server.requests) == 2


def test_401_is_not_retried_and_names_the_key_setting(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.fail(401, "Incorrect API key provided")
    stub_server.reply("never sent")
    llm = make_llm(stub_server, "gpt-4o")
    with pytest.raises(LLMConfigError, match="LASSI_API_KEY \\(or OPENAI_API_KEY\\)"):
        llm.text("plan", prompt_vars, usage=Usage())
    assert len(stub_server.requests) == 1


def test_other_bad_request_names_the_model_setting(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.fail(400, "max_completion_tokens is too large")
    llm = make_llm(stub_server, "gpt-4o", judge_model="gpt-4o-mini")
    with pytest.raises(LLMConfigError, match="check LASSI_JUDGE_MODEL"):
        llm.judge(prompt_vars, usage=Usage())
    assert len(stub_server.requests) == 1


def test_judge_structured_output_over_http(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.reply(json.dumps({"verdict": "INVALID", "reasons": ["loop count halved"]}))
    llm = make_llm(stub_server, "gpt-4o")
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert (verdict.verdict, verdict.reasons, verdict.structured) == (
        "INVALID",
        ["loop count halved"],
        True,
    )
    assert "response_format" in stub_server.requests[0].body


def test_judge_reply_that_ignores_the_schema_is_read_as_text_or_asked_again(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    """A server that takes response_format but whose model answers in prose: the OpenAI
    SDK raises on such a reply; it is read as text, and asked again if unreadable."""
    stub_server.reply("VERDICT: INVALID\nREASONS:\n- the loop count was halved")
    stub_server.reply("I think it is probably fine.")
    stub_server.reply(json.dumps({"verdict": "VALID", "reasons": ["same results"]}))
    llm = make_llm(stub_server, "local-model")
    first = llm.judge(prompt_vars, usage=Usage())
    assert (first.verdict, first.reasons, first.structured) == (
        "INVALID",
        ["the loop count was halved"],
        False,
    )
    second = llm.judge(prompt_vars, usage=Usage())
    assert (second.verdict, second.structured) == ("VALID", True)
    assert len(stub_server.requests) == 3 and second.usage.calls == 2


def test_server_without_structured_output_gets_plain_text(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.fail(400, "response_format json_schema is not supported by this server")
    stub_server.reply("VERDICT: VALID\nREASONS:\n- same results")
    llm = make_llm(stub_server, "llama3")
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert (verdict.verdict, verdict.structured) == ("VALID", False)
    assert "response_format" not in stub_server.requests[1].body


def test_server_refusing_json_schema_with_a_500_gets_plain_text_at_once(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    """llama-cpp-python's server: a request validation error about the response format,
    answered as a 500. It is the same refusal as a 400, not an outage to retry."""
    stub_server.fail(
        500,
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
    )
    stub_server.reply("VERDICT: INVALID\nREASONS:\n- the loop bound changed")
    llm = make_llm(stub_server, "qwen2.5-coder-0.5b-instruct")
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert (verdict.verdict, verdict.structured) == ("INVALID", False)
    assert len(stub_server.requests) == 2  # no retries of the refused request
    assert "response_format" not in stub_server.requests[1].body


def test_a_500_without_a_validation_error_is_still_retried(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.fail(500, "CUDA out of memory while evaluating response_format grammar")
    stub_server.reply("VERDICT: VALID\nREASONS:\n- same results")
    llm = make_llm(stub_server, "qwen2.5-coder-0.5b-instruct")
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert verdict.verdict == "VALID"
    assert "response_format" in stub_server.requests[1].body  # asked the same way again


def test_cut_off_reply_is_continued_over_http(
    stub_server: StubOpenAIServer, prompt_vars: dict[str, Any]
) -> None:
    stub_server.reply(f"```cuda\n{BETTER[:100]}", finish_reason="length")
    stub_server.reply(f"{BETTER[100:]}```")
    llm = make_llm(stub_server, "gpt-4o")
    assert llm.code("vanilla", prompt_vars, temperature=0.2, usage=Usage()).code == BETTER
    continued = stub_server.requests[1].body["messages"]
    assert [m["role"] for m in continued] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(("limit", "timed_out"), [(None, 2), (1, 0)])
def test_a_one_reply_at_a_time_server_times_out_queued_requests_unless_the_gate_holds_them(
    limit: int | None, timed_out: int
) -> None:
    """Three requests at once to a server that writes one 1 s reply at a time, with a
    1.5 s timeout: sent together, the second and third run out of time in the server's
    queue; held at the gate (llm_max_concurrent 1), each one's timeout covers its own
    reply only."""
    server = StubOpenAIServer(one_at_a_time=True).start()
    for _ in range(3):
        server.reply("- avoid busy waiting", delay_s=1.0)
    llm = make_llm(
        server, "gpt-4o-mini", request_timeout_s=1.5, llm_max_attempts=1, llm_max_concurrent=limit
    )
    failures: list[LLMUnavailable] = []

    def ask() -> None:
        try:
            llm.text(
                "summarize_docs",
                {"docs": "Avoid busy waiting.", "device": cpu_device()},
                usage=Usage(),
            )
        except LLMUnavailable as error:
            failures.append(error)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    assert len(server.requests) == 3
    assert len(failures) == timed_out
