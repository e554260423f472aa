"""The LLM client against role-aware fake chat models: every role and every reply shape."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from lassi_ee.llm.client import LLM, CodeRole, StepSpending, TextRole
from lassi_ee.llm.errors import BudgetExhausted, LLMConfigError, LLMUnavailable, NoUsableReply
from lassi_ee.llm.fake import FakeReply, RoleScriptedChatModel
from lassi_ee.llm.models import build_models
from lassi_ee.llm.replies import JudgeDecision
from lassi_ee.llm.usage import Usage, call_usage, merge
from lassi_ee.settings import Settings
from tests.helpers.llm_samples import BETTER, SOURCE

FENCED = f"Here it is.\n```cuda\n{BETTER}```\nLarger blocks."


def make_llm(settings: Settings, **fake_options: Any) -> tuple[LLM, RoleScriptedChatModel]:
    fake = RoleScriptedChatModel(**fake_options)
    return LLM(build_models(settings, fake), settings), fake


def test_every_role_is_tagged_and_prompted_with_its_facts(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    scripts: dict[str, Any] = {
        role: [FENCED] for role in ("vanilla", "refactor", "fix_compile", "fix_runtime")
    }
    scripts |= {role: [f"{role} text"] for role in ("summarize_docs", "analyze_code", "plan")}
    scripts["compare"] = ["1. larger blocks"]
    scripts["judge"] = [{"verdict": "VALID", "reasons": ["same algorithm"]}]
    scripts["categorize"] = [
        {"items": [{"optimization": "larger blocks", "category": "DST", "rationale": "tuning"}]}
    ]
    llm, fake = make_llm(settings, scripts=scripts)
    usage = Usage()

    code_roles: tuple[CodeRole, ...] = ("vanilla", "refactor", "fix_compile", "fix_runtime")
    text_roles: tuple[TextRole, ...] = ("summarize_docs", "analyze_code", "plan", "compare")
    for role in code_roles:
        reply = llm.code(role, prompt_vars, temperature=0.2, usage=usage)
        assert reply.code == BETTER
        assert reply.temperature_used == 0.2
    for text_role in text_roles:
        assert llm.text(text_role, prompt_vars, usage=usage).text
    verdict = llm.judge(prompt_vars, usage=usage)
    assert (verdict.verdict, verdict.reasons, verdict.structured) == (
        "VALID",
        ["same algorithm"],
        True,
    )
    categories = llm.categorize(prompt_vars, usage=usage)
    assert [(c.optimization, c.category) for c in categories.items] == [("larger blocks", "DST")]

    assert [c.role for c in fake.calls] == [
        "vanilla", "refactor", "fix_compile", "fix_runtime",
        "summarize_docs", "analyze_code", "plan", "compare", "judge", "categorize",
    ]  # fmt: skip
    for call in fake.calls:
        system, human = call.messages
        assert isinstance(system, SystemMessage) and isinstance(human, HumanMessage)
        assert "NVIDIA H100 80GB HBM3" in str(system.content)
    by_role = {c.role: c.prompt for c in fake.calls}
    assert SOURCE in by_role["vanilla"]
    assert "error: expected ';'" in by_role["fix_compile"]
    assert "illegal memory access" in by_role["fix_runtime"]
    assert "1. use 512 threads per block" in by_role["refactor"]
    assert "outputs match within rtol 1e-05" in by_role["judge"]
    assert "Larger blocks raise occupancy." in by_role["categorize"]
    assert [c.temperature for c in fake.calls[:4]] == [0.2] * 4
    assert all(c.temperature is None for c in fake.calls[4:])


class TraceRecorder(BaseCallbackHandler):
    """What a tracer (LangSmith, a log handler) sees of each chat-model run."""

    def __init__(self) -> None:
        self.runs: list[tuple[list[str], dict[str, Any]]] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.runs.append((kwargs.get("tags") or [], kwargs.get("metadata") or {}))


def test_traces_show_the_role(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    recorder = TraceRecorder()
    llm, _ = make_llm(
        settings,
        callbacks=[recorder],
        scripts={"plan": ["p"], "judge": [{"verdict": "VALID", "reasons": []}]},
    )
    llm.text("plan", prompt_vars, usage=Usage())
    llm.judge(prompt_vars, usage=Usage())
    roles = [[t for t in tags if t.startswith("lassi:")] for tags, _ in recorder.runs]
    assert roles == [["lassi:plan"], ["lassi:judge"]]
    assert recorder.runs[0][1]["lassi_group"] == "context"


def test_empty_text_reply_is_asked_again(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    llm, fake = make_llm(settings, scripts={"analyze_code": ["  \n", "one kernel dominates"]})
    reply = llm.text("analyze_code", prompt_vars, usage=Usage())
    assert reply.text == "one kernel dominates"
    assert fake.calls[0].messages == fake.calls[1].messages
    assert reply.usage.by_role["analyze_code"].calls == 2


def test_missing_prompt_variable_fails_before_any_call(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    llm, fake = make_llm(settings, scripts={"refactor": [FENCED]})
    del prompt_vars["plan"]
    with pytest.raises(Exception, match="needs plan"):
        llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage())
    assert fake.calls == []


# --- temperature ---


def test_reasoning_model_gets_no_temperature(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    llm, fake = make_llm(settings, model_name="o3-mini", scripts={"refactor": [FENCED]})
    reply = llm.code("refactor", prompt_vars, temperature=0.6, usage=Usage())
    assert fake.calls[0].temperature is None
    assert reply.temperature_used is None
    assert not llm.models.supports_temperature("generate")


def test_server_refusing_temperature_is_retried_without_it_and_remembered(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    llm, fake = make_llm(
        settings, model_name="local-reasoner", rejects_temperature=True,
        scripts={"refactor": [FENCED, FENCED]},
    )  # fmt: skip
    assert llm.models.supports_temperature("generate")
    first = llm.code("refactor", prompt_vars, temperature=0.4, usage=Usage())
    assert [c.temperature for c in fake.calls] == [0.4, None]
    assert first.temperature_used is None
    assert not llm.models.supports_temperature("generate")
    llm.code("refactor", prompt_vars, temperature=0.6, usage=Usage())
    assert [c.temperature for c in fake.calls] == [0.4, None, None]


# --- code replies ---


def test_cut_off_reply_is_continued_and_joined(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    head, tail = BETTER[:120], BETTER[120:]
    script = [
        FakeReply(content=f"```cuda\n{head}", finish_reason="length"),
        FakeReply(content=f"```cuda\n{tail}```\n"),
    ]
    llm, fake = make_llm(settings, scripts={"refactor": script})
    reply = llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage())
    assert reply.code == BETTER
    follow = fake.calls[1].messages
    assert isinstance(follow[-2], AIMessage) and follow[-2].content == f"```cuda\n{head}"
    assert "cut off by the length limit" in fake.calls[1].prompt
    assert fake.calls[1].temperature == 0.2
    assert reply.usage.by_role["refactor"].calls == 2


def test_reply_still_cut_off_after_continuing_is_asked_afresh(
    prompt_vars: dict[str, Any],
) -> None:
    settings = Settings(max_continuations=1, llm_backoff_initial_s=0.001)
    cut = FakeReply(content=f"```cuda\n{BETTER[:50]}", finish_reason="length")
    llm, fake = make_llm(settings, scripts={"vanilla": [cut, cut, FENCED]})
    reply = llm.code("vanilla", prompt_vars, temperature=0.2, usage=Usage())
    assert reply.code == BETTER
    reask = fake.calls[2]
    assert "was cut off by the length limit" in reask.prompt
    assert not any(isinstance(m, AIMessage) for m in reask.messages)  # the long reply is not resent


def test_prose_cut_off_at_the_limit_is_used_as_it_stands(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    """A plan that fills the output limit (the real 0.5B model repeats itself there) is
    not continued: continuing it cost the first real trial 16 minutes and a 12k-token
    plan in every later prompt."""
    cut = FakeReply(content="1. tile the loops\n2. tile the loops", finish_reason="length")
    llm, fake = make_llm(settings, scripts={"plan": [cut, "never asked"]})
    usage = Usage()
    reply = llm.text("plan", prompt_vars, usage=usage)
    assert reply.text == "1. tile the loops\n2. tile the loops"
    assert len(fake.calls_for("plan")) == 1 and reply.usage.calls == 1


def test_reply_without_code_is_reasked_then_given_up(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    prose = "The program is already optimal."
    llm, fake = make_llm(settings, scripts={"refactor": [prose, FENCED]})
    assert llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage()).code == BETTER
    assert "held no complete program" in fake.calls[1].prompt
    assert fake.calls[1].messages[-2].content == prose

    llm, fake = make_llm(settings, scripts={"refactor": [prose] * 10})
    with pytest.raises(NoUsableReply, match="no complete program in 3 replies") as caught:
        llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage())
    assert len(fake.calls) == settings.max_reasks + 1 == 3
    assert caught.value.usage.by_role["refactor"].calls == 3


def test_snippet_is_not_taken_for_a_program_with_main(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    snippet = "```cuda\n__global__ void scale(float *x, float a, int n) { }\n```"
    llm, fake = make_llm(settings, scripts={"fix_runtime": [snippet, FENCED]})
    assert llm.code("fix_runtime", prompt_vars, temperature=None, usage=Usage()).code == BETTER
    assert len(fake.calls) == 2


# --- judge and categorize ---


def test_judge_text_fallback_when_the_model_has_no_structured_output(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    text = "The kernel skips the last block.\nVERDICT: INVALID\nREASONS:\n- skips work"
    llm, fake = make_llm(settings, supports_structured_output=False, scripts={"judge": [text]})
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert (verdict.verdict, verdict.reasons, verdict.structured) == (
        "INVALID",
        ["skips work"],
        False,
    )
    assert not fake.calls[0].structured
    assert llm.models.slot("judge").structured_output is False


def test_judge_reply_in_text_despite_structured_request(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    llm, fake = make_llm(settings, scripts={"judge": ["Verdict: VALID\nReasons: same results"]})
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert fake.calls[0].structured
    assert (verdict.verdict, verdict.structured) == ("VALID", False)


def test_unreadable_judge_reply_is_reasked(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    script = ["Hard to tell.", JudgeDecision(verdict="INVALID", reasons=["changed the solver"])]
    llm, fake = make_llm(settings, scripts={"judge": script})
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert verdict.verdict == "INVALID" and verdict.structured
    assert "did not follow the answer form" in fake.calls[1].prompt
    assert verdict.usage.by_role["judge"].calls == 2


def test_judge_never_readable_raises(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    llm, _ = make_llm(settings, scripts={"judge": ["Hmm."] * 3})
    with pytest.raises(NoUsableReply, match="'judge' model's replies could not be read"):
        llm.judge(prompt_vars, usage=Usage())


def test_categorize_from_text_lines(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    text = "MHO | keep data on the device | fewer transfers\nPTM | overlap copies | streams"
    llm, _ = make_llm(settings, supports_structured_output=False, scripts={"categorize": [text]})
    items = llm.categorize(prompt_vars, usage=Usage()).items
    assert [(i.category, i.optimization) for i in items] == [
        ("MHO", "keep data on the device"),
        ("PTM", "overlap copies"),
    ]


def test_categorize_none(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    llm, _ = make_llm(settings, scripts={"categorize": ["NONE"]})
    assert llm.categorize(prompt_vars, usage=Usage()).items == []


def test_langchains_own_fake_model_works_through_the_text_paths(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    model = GenericFakeChatModel(messages=iter(["a plan", "VERDICT: VALID\nREASONS:\n- same"]))
    llm = LLM(build_models(settings, model), settings)
    assert llm.text("plan", prompt_vars, usage=Usage()).text == "a plan"
    verdict = llm.judge(prompt_vars, usage=Usage())
    assert (verdict.verdict, verdict.structured) == ("VALID", False)
    assert verdict.usage.by_role["judge"].estimated_calls == 1  # no usage metadata: estimated


# --- usage and budget ---


def test_tokens_and_cost_per_role(prompt_vars: dict[str, Any]) -> None:
    settings = Settings(prices_per_mtok={"fake-lassi": (1.0, 4.0)})
    scripts = {
        "plan": [FakeReply(content="plan", tokens_in=1000, tokens_out=200)],
        "refactor": [FakeReply(content=FENCED, tokens_in=3000, tokens_out=500)],
    }
    llm, _ = make_llm(settings, scripts=scripts)
    plan = llm.text("plan", prompt_vars, usage=Usage())
    code = llm.code("refactor", prompt_vars, temperature=0.2, usage=plan.usage)
    total = merge(plan.usage, code.usage)
    assert total.by_role["plan"].tokens_in == 1000 and total.by_role["plan"].tokens_out == 200
    assert total.by_role["refactor"].tokens_out == 500
    assert total.cost_usd == pytest.approx((4000 * 1.0 + 700 * 4.0) / 1e6)
    assert code.usage.by_role.keys() == {"refactor"}  # a reply carries its own call only


def test_token_budget_stops_before_the_call(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    settings = settings.model_copy(update={"budget_tokens": 5000})
    llm, fake = make_llm(settings, scripts={"plan": ["a plan"]})
    spent = call_usage("refactor", "fake-lassi", 4000, 990, {})
    with pytest.raises(BudgetExhausted, match="LASSI_BUDGET_TOKENS"):
        llm.text("plan", prompt_vars, usage=spent)
    assert fake.calls == []
    small = call_usage("refactor", "fake-lassi", 100, 10, {})
    assert llm.text("plan", prompt_vars, usage=small).text == "a plan"


def test_budget_running_out_mid_reply_keeps_what_was_spent(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    settings = settings.model_copy(update={"budget_tokens": 3000})
    cut = FakeReply(content="```cuda\nint main", finish_reason="length", tokens_out=2500)
    llm, fake = make_llm(settings, scripts={"vanilla": [cut, FENCED]})
    with pytest.raises(BudgetExhausted) as caught:
        llm.code("vanilla", prompt_vars, temperature=0.2, usage=Usage())
    assert len(fake.calls) == 1
    assert caught.value.usage.by_role["vanilla"].tokens_out == 2500


def test_money_budget(prompt_vars: dict[str, Any]) -> None:
    settings = Settings(budget_usd=0.01, prices_per_mtok={"fake-lassi": (2.0, 8.0)})
    llm, fake = make_llm(settings, scripts={"plan": ["a plan"]})
    spent = call_usage("refactor", "fake-lassi", 1000, 1000, settings.prices_per_mtok)
    assert spent.cost_usd == pytest.approx(0.01)
    with pytest.raises(BudgetExhausted, match="LASSI_BUDGET_USD"):
        llm.text("plan", prompt_vars, usage=spent)
    assert fake.calls == []


def test_money_budget_needs_a_price_for_every_model() -> None:
    settings = Settings(budget_usd=1.0)
    with pytest.raises(LLMConfigError, match="LASSI_PRICES_PER_MTOK"):
        LLM(build_models(settings, RoleScriptedChatModel(model_name="unpriced")), settings)


# --- failures ---


def test_rate_limits_server_errors_and_timeouts_are_retried(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    script = [ModelRateLimitError("429"), ModelAPIError("503"), ModelTimeoutError("slow"), "plan"]
    llm, fake = make_llm(settings, scripts={"plan": script})
    reply = llm.text("plan", prompt_vars, usage=Usage())
    assert reply.text == "plan" and len(fake.calls) == 4
    assert reply.usage.by_role["plan"].calls == 1  # failed attempts cost nothing


def test_retries_exhausted_is_llm_unavailable(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    llm, fake = make_llm(settings, scripts={"plan": [ModelAPIError("502 bad gateway")] * 10})
    with pytest.raises(LLMUnavailable, match="kept failing after 4 attempts"):
        llm.text("plan", prompt_vars, usage=Usage())
    assert len(fake.calls) == settings.llm_max_attempts == 4


def test_authentication_error_fails_at_once_naming_the_key_setting(
    prompt_vars: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    settings = Settings(llm_backoff_initial_s=0.001)
    fake = RoleScriptedChatModel(scripts={"plan": [ModelAuthenticationError("bad key")] * 3})
    models = build_models(settings, {"context": fake})
    with pytest.raises(LLMConfigError, match="check the API key of the chat model passed in"):
        LLM(models, settings).text("plan", prompt_vars, usage=Usage())
    assert len(fake.calls) == 1


def test_model_not_found_names_the_setting(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    llm, fake = make_llm(settings, scripts={"judge": [ModelNotFoundError("no such model")]})
    with pytest.raises(LLMConfigError, match="model 'fake-lassi' was not found"):
        llm.judge(prompt_vars, usage=Usage())
    assert len(fake.calls) == 1


def test_unknown_errors_are_not_disguised(settings: Settings, prompt_vars: dict[str, Any]) -> None:
    llm, _ = make_llm(settings, scripts={"plan": [KeyError("bug")]})
    with pytest.raises(KeyError):
        llm.text("plan", prompt_vars, usage=Usage())


def test_every_reply_is_accounted_for_as_used_continued_reasked_or_unusable(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    """No reply the server sent is dropped unseen: each has a fate, counted and transcribed."""
    scripts: dict[str, Any] = {
        # prose without code (re-asked), then a program cut off and continued to its end
        "vanilla": [
            "I would use shared memory.",
            FakeReply(content=f"```cuda\n{BETTER[:40]}", finish_reason="length"),
            f"{BETTER[40:]}```",
        ],
        # a judge that answers out of format, then in it
        "judge": [FakeReply(content="It looks fine to me."), "VERDICT: VALID\n- same output"],
        # a refactorer that never gives code: every reply but the last re-asked, the last given up
        "refactor": ["no code", "still none", "none again"],
    }
    entries: list[dict[str, Any]] = []
    fake = RoleScriptedChatModel(scripts=scripts)
    llm = LLM(build_models(settings, fake), settings, transcript=entries.extend)
    usage = Usage()

    reply = llm.code("vanilla", prompt_vars, temperature=0.2, usage=usage)
    assert reply.code == BETTER
    usage = usage.add(reply.usage)
    verdict = llm.judge(prompt_vars, usage=usage)
    assert verdict.verdict == "VALID"
    usage = usage.add(verdict.usage)
    with pytest.raises(NoUsableReply) as lost:
        llm.code("refactor", prompt_vars, temperature=0.2, usage=usage)
    usage = usage.add(lost.value.usage)

    vanilla, judge, refactor = (usage.by_role[r] for r in ("vanilla", "judge", "refactor"))
    assert (vanilla.calls, vanilla.reasked, vanilla.continued, vanilla.used) == (3, 1, 1, 1)
    assert (judge.calls, judge.reasked, judge.used) == (2, 1, 1)
    assert (refactor.calls, refactor.reasked, refactor.unusable, refactor.used) == (3, 2, 1, 0)
    assert len(entries) == len(fake.calls) == usage.calls == 8
    assert [(e["role"], e["fate"]) for e in entries] == [
        ("vanilla", "reasked"), ("vanilla", "continued"), ("vanilla", "used"),
        ("judge", "reasked"), ("judge", "used"),
        ("refactor", "reasked"), ("refactor", "reasked"), ("refactor", "unusable"),
    ]  # fmt: skip
    assert entries[0]["reply"] == "I would use shared memory."
    assert entries[1]["finish_reason"] == "length"
    assert SOURCE in entries[0]["request"][-1]["text"]  # the prompt is kept with the reply


def test_siblings_of_one_step_are_checked_against_each_others_replies(
    settings: Settings, prompt_vars: dict[str, Any]
) -> None:
    """The n requests of a step start from the same usage; each one's replies count against
    the budget of the others, so a sibling asked after the step has spent the budget is
    refused, where alone it would have seemed to fit."""
    settings = settings.model_copy(update={"budget_tokens": 3000})
    spending = FakeReply(content=FENCED, tokens_in=1000, tokens_out=1990)
    llm, fake = make_llm(settings, scripts={"refactor": [spending, FENCED]})
    step = StepSpending()
    first = llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage(), sibling=1, step=step)
    assert first.usage.total_tokens == 2990 and step.usage.total_tokens == 2990
    with pytest.raises(BudgetExhausted, match="2990 of 3000 tokens used"):
        llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage(), sibling=2, step=step)
    assert len(fake.calls) == 1
    alone = llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage(), sibling=2)
    assert alone.code  # without the step's spending it would have gone ahead
