"""The object the graph's nodes ask: "role X, with these facts".

``LLM`` renders the role's prompt, calls the role's model with the tag
``lassi:<role>``, retries what is worth retrying, drops ``temperature`` for
models that refuse it, continues cut-off replies, re-asks (a bounded number of
times) when a reply holds nothing usable, counts tokens and cost, and stops
before a call the trial's budget no longer allows. Every reply carries the
``Usage`` of its own call; the graph adds it to the trial's. Which failures are
worth another attempt, and what to tell the user about the rest, is
``failures.py``.

No reply the server sent goes unaccounted: each is counted as used, continued (cut
off), re-asked (nothing usable in it) or unusable (the last one of an operation that
gave up), in the ``Usage`` and, when a transcript sink is given, in one transcript
entry per reply with the request, the reply and that fate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from lassi_ee.devices import Device
from lassi_ee.llm.errors import BudgetExhausted, LLMConfigError, NoUsableReply
from lassi_ee.llm.failures import (
    explain,
    first_line,
    is_transient,
    lacks_structured_output,
    refuses_temperature,
)
from lassi_ee.llm.gate import RequestGate, local_gate
from lassi_ee.llm.models import ModelSet, ModelSlot
from lassi_ee.llm.replies import (
    Categorization,
    CategorizedOptimization,
    JudgeDecision,
    extract_code,
    has_main,
    is_cut_off,
    join_continuation,
    parse_categories_text,
    parse_judge_text,
)
from lassi_ee.llm.usage import Usage, call_usage, price_for, reply_fates
from lassi_ee.prompts.loader import device_vars, render
from lassi_ee.roles import ROLE_GROUP, Role, role_tag
from lassi_ee.settings import Settings

log = logging.getLogger(__name__)

CodeRole = Literal["vanilla", "refactor", "fix_compile", "fix_runtime"]
TextRole = Literal["summarize_docs", "analyze_code", "plan", "compare"]

# The prompt variable holding the program each code role starts from: if it has
# a main(), the reply must too, so a snippet is never taken for the program.
_CODE_INPUT: dict[CodeRole, str] = {
    "vanilla": "source",
    "refactor": "best_code",
    "fix_compile": "candidate",
    "fix_runtime": "candidate",
}


class CodeReply(BaseModel):
    code: str
    text: str  # the whole reply, prose included
    usage: Usage
    temperature_used: float | None  # None when the model does not take temperature


class TextReply(BaseModel):
    text: str
    usage: Usage


NO_JUDGE_REASON = "the judge gave no reason"


class JudgeVerdict(BaseModel):
    verdict: Literal["VALID", "INVALID"]
    reasons: list[str]
    usage: Usage
    structured: bool  # False when the plain-text parser read the reply


class CategorizeReply(BaseModel):
    items: list[CategorizedOptimization]
    usage: Usage


class StepSpending:
    """What the requests of one call, or of one Stage-3 step of siblings asked at once,
    have spent so far: each request is checked against the budget with all of it counted,
    so that a sibling's continuations and re-asks stop once the step has spent the budget,
    not only once the sibling alone has.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._usage = self._usage.add(usage)

    @property
    def usage(self) -> Usage:
        with self._lock:
            return self._usage


Transcript = Callable[[list[dict[str, Any]]], None]
"""Where the transcript entries of one operation go (the trial's archive, a test's list)."""

Fate = Literal["used", "continued", "reasked", "unusable"]


@dataclass
class _Tally:
    """One public call: its requests share the budget check, the usage count and the
    transcript entries of their replies."""

    role: Role
    slot: ModelSlot
    trial_usage: Usage
    sibling: int = 0
    step: StepSpending = field(default_factory=StepSpending)
    spent: Usage = field(default_factory=Usage)
    structured: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self, messages: list[BaseMessage], reply: AIMessage, usage: Usage, seconds: float
    ) -> None:
        """A reply came after ``seconds`` (retries included): counted in ``spent``, its fate
        still open. ``ended`` dates it: the n requests of a step of siblings overlap, so
        only their intervals, not the sum of their seconds, say how long the model took."""
        self.spent = self.spent.add(usage)
        self.step.add(usage)
        spent = usage.by_role.get(self.role)
        self.entries.append(
            {
                "role": self.role,
                **({"sibling": self.sibling} if self.sibling else {}),
                "model": self.slot.name,
                "request": [{"type": m.type, "text": str(m.text)} for m in messages],
                "reply": _reply_text(reply),
                "finish_reason": (reply.response_metadata or {}).get("finish_reason"),
                "tokens_in": spent.tokens_in if spent else None,
                "tokens_out": spent.tokens_out if spent else None,
                "seconds": round(seconds, 3),
                "ended": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "fate": None,
            }
        )

    def settle(self, fate: Fate) -> None:
        """The newest reply's fate; every fate but ``used`` is counted in ``spent``."""
        entry = self.entries[-1]
        if entry["fate"] is not None:
            return
        entry["fate"] = fate
        if fate != "used":
            self.spent = self.spent.add(reply_fates(self.role, **{fate: 1}))


class _StructuredOutputUnsupported(Exception):
    """The model or server cannot give structured output; ask in plain text instead."""


class _UnreadableStructuredReply(Exception):
    """The server took the schema but the reply does not fit it (a model that answered
    in prose, say); the OpenAI SDK raises on such a reply before LangChain sees it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


_Parsed = TypeVar("_Parsed", bound=BaseModel)


class LLM:
    """Ask a role's model; see the module docstring for what happens around each call."""

    def __init__(
        self,
        models: ModelSet,
        settings: Settings,
        request_gate: RequestGate | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        """``request_gate`` is held around each request (default: ``local_gate(settings)``);
        ``transcript`` receives each operation's replies with their fates."""
        self.models = models
        self.settings = settings
        self.request_gate = request_gate or local_gate(settings)
        self.transcript = transcript
        if settings.budget_usd is not None:
            for slot in models.slots():
                if price_for(slot.name, settings.prices_per_mtok) is None:
                    raise LLMConfigError(
                        f"a money budget is set (LASSI_BUDGET_USD) but model '{slot.name}' has "
                        "no price: add it to LASSI_PRICES_PER_MTOK as "
                        '{"<model>": [usd_per_1M_in, usd_per_1M_out]}'
                    )

    # --- the roles ---

    def code(
        self,
        role: CodeRole,
        prompt_vars: Mapping[str, Any],
        *,
        temperature: float | None,
        usage: Usage,
        sibling: int = 0,
        step: StepSpending | None = None,
    ) -> CodeReply:
        """A complete program from a generate role (vanilla, refactor, fix_compile, fix_runtime).

        ``sibling`` numbers one of a Stage-3 step's identical requests (0: the step asks
        one); it goes with the request (metadata ``lassi_sibling``) and into the
        transcript, so that the step's replies can be told apart. ``step`` is what the
        step's requests share, so that each is checked against the budget with the
        others' replies counted.
        """
        values = _values(prompt_vars)
        messages = self._messages(role, values)
        require_main = has_main(str(values.get(_CODE_INPUT[role], "")))
        tally = _Tally(role, self.models.slot(role), usage, sibling, step or StepSpending())
        request = messages
        with self._transcribed(tally):
            for attempt in range(self.settings.max_reasks + 1):
                reply, cut_off = self._complete(tally, request, temperature)
                code = None if cut_off else extract_code(reply, require_main=require_main)
                if code is not None:
                    tally.settle("used")
                    return CodeReply(
                        code=code,
                        text=reply,
                        usage=tally.spent,
                        temperature_used=temperature if tally.slot.accepts_temperature else None,
                    )
                tally.settle("unusable" if attempt == self.settings.max_reasks else "reasked")
                if cut_off:
                    # a reply cut off even after continuing is too long to resend: ask afresh
                    reason = "was cut off by the length limit before the program was complete"
                    request = [*messages, HumanMessage(_reask_code(reason, values))]
                else:
                    reason = "held no complete program in a fenced code block"
                    request = [
                        *messages,
                        AIMessage(reply),
                        HumanMessage(_reask_code(reason, values)),
                    ]
                log.info("LLM %s: reply %s; asking again", role, reason)
        raise NoUsableReply(
            f"the '{role}' model gave no complete program in "
            f"{self.settings.max_reasks + 1} replies (LASSI_MAX_REASKS allows more)",
            usage=tally.spent,
        )

    def text(self, role: TextRole, prompt_vars: Mapping[str, Any], *, usage: Usage) -> TextReply:
        """Prose from a context role (summarize_docs, analyze_code, plan, compare)."""
        values = _values(prompt_vars)
        messages = self._messages(role, values)
        tally = _Tally(role, self.models.slot(role), usage)
        with self._transcribed(tally):
            for attempt in range(self.settings.max_reasks + 1):
                # Prose that reaches the output limit is used as it stands: a plan that
                # long is repeating itself, and continuing it only grows every later prompt.
                reply, cut_off = self._complete(tally, messages, None, continuations=0)
                if cut_off:
                    log.warning("LLM %s: reply cut off at the output limit; using it", role)
                if reply.strip():
                    tally.settle("used")
                    return TextReply(text=reply.strip(), usage=tally.spent)
                tally.settle("unusable" if attempt == self.settings.max_reasks else "reasked")
                log.info("LLM %s: empty reply; asking again", role)
        raise NoUsableReply(
            f"the '{role}' model gave only empty replies ({self.settings.max_reasks + 1} tries)",
            usage=tally.spent,
        )

    def judge(self, prompt_vars: Mapping[str, Any], *, usage: Usage) -> JudgeVerdict:
        """VALID or INVALID, with reasons: structured output, or the plain-text parser.

        A verdict that came without a reason says so, so that the next refactoring and
        the report are not left with the bare word.
        """
        tally = _Tally("judge", self.models.slot("judge"), usage)
        with self._transcribed(tally):
            decision = self._decide(tally, prompt_vars, JudgeDecision, parse_judge_text)
        return JudgeVerdict(
            verdict=decision.verdict,
            reasons=decision.reasons or [NO_JUDGE_REASON],
            usage=tally.spent,
            structured=tally.structured,
        )

    def categorize(self, prompt_vars: Mapping[str, Any], *, usage: Usage) -> CategorizeReply:
        """Each optimization of a comparison report (``report``) as MHO, ACE, DST or PTM."""
        tally = _Tally("categorize", self.models.slot("categorize"), usage)

        def parse(text: str) -> Categorization | None:
            items = parse_categories_text(text)
            return None if items is None else Categorization(items=items)

        with self._transcribed(tally):
            result = self._decide(tally, prompt_vars, Categorization, parse)
        return CategorizeReply(items=result.items, usage=tally.spent)

    # --- conversation shapes ---

    @contextmanager
    def _transcribed(self, tally: _Tally) -> Iterator[None]:
        """Hand the operation's replies to the transcript when it ends, however it ends.

        A reply still without a fate when the operation failed (the server went away
        while it was being continued, the budget ran out) was not used: ``unusable``.
        """
        try:
            yield
        finally:
            if tally.entries and tally.entries[-1]["fate"] is None:
                tally.settle("unusable")
            if self.transcript is not None and tally.entries:
                self.transcript(tally.entries)

    def _messages(self, role: Role, values: Mapping[str, Any]) -> list[BaseMessage]:
        return [SystemMessage(render("system", values)), HumanMessage(render(role, values))]

    def _complete(
        self,
        tally: _Tally,
        messages: list[BaseMessage],
        temperature: float | None,
        continuations: int | None = None,
    ) -> tuple[str, bool]:
        """A reply, continued while the length limit cut it off (at most ``continuations``
        times, ``max_continuations`` unless given); (text, still cut off)."""
        message, _ = self._request(tally, messages, temperature=temperature)
        text = str(message.text)
        limit = self.settings.max_continuations if continuations is None else continuations
        for _ in range(limit):
            if not is_cut_off(message):
                break
            tally.settle("continued")
            follow = [*messages, AIMessage(text), HumanMessage(render("continue", {}))]
            message, _ = self._request(tally, follow, temperature=temperature)
            text = join_continuation(text, str(message.text))
        return text, is_cut_off(message)

    def _decide(
        self,
        tally: _Tally,
        prompt_vars: Mapping[str, Any],
        schema: type[_Parsed],
        parse_text: Callable[[str], _Parsed | None],
    ) -> _Parsed:
        """A structured answer; the text parser reads replies that came back as text."""
        values = _values(prompt_vars)
        messages = self._messages(tally.role, values)
        request = messages
        for attempt in range(self.settings.max_reasks + 1):
            parsed: BaseModel | None = None
            if tally.slot.structured_output:
                try:
                    message, parsed = self._request(tally, request, schema=schema)
                except _StructuredOutputUnsupported:
                    log.info("LLM %s: no structured output; asking in plain text", tally.role)
                    tally.slot.structured_output = False
            if not tally.slot.structured_output:
                message, _ = self._request(tally, request)
            if isinstance(parsed, schema):
                tally.structured = True
                tally.settle("used")
                return parsed
            text = _reply_text(message)
            from_text = parse_text(text)
            if from_text is not None:
                tally.settle("used")
                return from_text
            tally.settle("unusable" if attempt == self.settings.max_reasks else "reasked")
            log.info("LLM %s: reply not in the asked form; asking again", tally.role)
            request = [*messages, AIMessage(text), HumanMessage(render("reask_format", {}))]
        raise NoUsableReply(
            f"the '{tally.role}' model's replies could not be read "
            f"({self.settings.max_reasks + 1} tries)",
            usage=tally.spent,
        )

    # --- one request: budget, retries, temperature, usage ---

    def _request(
        self,
        tally: _Tally,
        messages: list[BaseMessage],
        *,
        temperature: float | None = None,
        schema: type[BaseModel] | None = None,
    ) -> tuple[AIMessage, BaseModel | None]:
        self._check_budget(tally, messages)
        started = time.monotonic()
        try:
            output = self._invoke(tally, messages, temperature, schema)
        except _UnreadableStructuredReply as unreadable:  # read as text; tokens estimated
            message = AIMessage(unreadable.text)
            usage = self._usage_of(tally, messages, message)
            tally.record(messages, message, usage, time.monotonic() - started)
            return message, None
        if schema is None:
            message, parsed = output, None
        else:
            message, parsed = output["raw"], output["parsed"]
        usage = self._usage_of(tally, messages, message)
        tally.record(messages, message, usage, time.monotonic() - started)
        return message, parsed

    def _invoke(
        self,
        tally: _Tally,
        messages: list[BaseMessage],
        temperature: float | None,
        schema: type[BaseModel] | None,
    ) -> Any:
        """The request, attempted again while it fails transiently (tenacity, with
        back-off); a failure for good becomes the one-line error that says what to fix."""
        role = tally.role
        metadata: dict[str, Any] = {"lassi_role": role, "lassi_group": ROLE_GROUP[role]}
        if tally.sibling:
            metadata["lassi_sibling"] = tally.sibling
        config = RunnableConfig(tags=[role_tag(role)], run_name=role_tag(role), metadata=metadata)
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.settings.llm_max_attempts)),
            wait=wait_random_exponential(
                multiplier=self.settings.llm_backoff_initial_s,
                max=self.settings.llm_backoff_max_s,
            ),
            retry=retry_if_exception(is_transient),
            before_sleep=lambda state: _log_retry(role, state),
            reraise=True,
        )
        try:
            return retrying(self._attempt, tally.slot, role, messages, temperature, schema, config)
        except (_StructuredOutputUnsupported, _UnreadableStructuredReply):
            raise
        except Exception as exc:
            error = explain(exc, role, tally.slot, self.settings, tally.spent)
            if error is None:
                raise
            raise error from exc

    def _attempt(
        self,
        slot: ModelSlot,
        role: Role,
        messages: list[BaseMessage],
        temperature: float | None,
        schema: type[BaseModel] | None,
        config: RunnableConfig,
    ) -> Any:
        """One attempt, holding the request gate. A model found to refuse ``temperature``
        is asked again at once without it (and never sent it again); one that cannot
        give structured output, or whose structured reply does not fit the schema,
        raises for ``_decide`` to ask in plain text or read the text."""
        runnable: Runnable[Any, Any]
        try:
            runnable = (
                slot.model
                if schema is None
                else slot.model.with_structured_output(schema, include_raw=True)
            )
        except NotImplementedError as exc:
            raise _StructuredOutputUnsupported() from exc
        send_temperature = temperature is not None and slot.accepts_temperature
        kwargs = {"temperature": temperature} if send_temperature else {}
        with self.request_gate():
            try:
                return runnable.invoke(messages, config=config, **kwargs)
            except ValidationError as exc:
                if schema is None:
                    raise
                raise _UnreadableStructuredReply(_reply_in(exc)) from exc
            except Exception as exc:
                if send_temperature and refuses_temperature(exc):
                    log.info(
                        "LLM %s: model '%s' refuses temperature; not sending it", role, slot.name
                    )
                    slot.accepts_temperature = False
                    return runnable.invoke(messages, config=config)
                if schema is not None and lacks_structured_output(exc):
                    raise _StructuredOutputUnsupported() from exc
                raise

    def _check_budget(self, tally: _Tally, messages: list[BaseMessage]) -> None:
        """Refuse a request the budget no longer allows: spent plus this prompt must fit."""
        spent = tally.trial_usage.add(tally.step.usage)
        prompt_tokens = _prompt_chars(messages) // 4
        budget_tokens = self.settings.budget_tokens
        if budget_tokens is not None and spent.total_tokens + prompt_tokens > budget_tokens:
            raise BudgetExhausted(
                f"the trial's LLM budget is spent: {spent.total_tokens} of {budget_tokens} "
                f"tokens used and the '{tally.role}' prompt needs about {prompt_tokens} more "
                "(LASSI_BUDGET_TOKENS)",
                usage=tally.spent,
            )
        budget_usd = self.settings.budget_usd
        price = price_for(tally.slot.name, self.settings.prices_per_mtok)
        if budget_usd is not None and price is not None:
            prompt_usd = prompt_tokens * price[0] / 1e6
            if spent.cost_usd + prompt_usd > budget_usd:
                raise BudgetExhausted(
                    f"the trial's LLM budget is spent: ${spent.cost_usd:.4f} of ${budget_usd:.4f} "
                    f"used and the '{tally.role}' prompt costs about ${prompt_usd:.4f} more "
                    "(LASSI_BUDGET_USD)",
                    usage=tally.spent,
                )

    def _usage_of(self, tally: _Tally, messages: list[BaseMessage], reply: AIMessage) -> Usage:
        counted = reply.usage_metadata
        if counted:
            tokens_in, tokens_out = counted["input_tokens"], counted["output_tokens"]
        else:
            tokens_in, tokens_out = _prompt_chars(messages) // 4, len(_reply_text(reply)) // 4
        return call_usage(
            tally.role,
            tally.slot.name,
            tokens_in,
            tokens_out,
            self.settings.prices_per_mtok,
            estimated=not counted,
        )


def _values(prompt_vars: Mapping[str, Any]) -> dict[str, Any]:
    """Prompt variables, with a ``device`` expanded into its facts (explicit values win)."""
    values = dict(prompt_vars)
    device = values.pop("device", None)
    if isinstance(device, Device):
        values = {**device_vars(device), **values}
    return values


def _reask_code(reason: str, values: Mapping[str, Any]) -> str:
    return render("reask_code", {"reason": reason, "code_lang": values.get("code_lang", "")})


def _reply_text(message: AIMessage) -> str:
    """A reply's text; for a structured reply that failed validation, its tool arguments."""
    text = str(message.text)
    if not text.strip() and message.tool_calls:
        return json.dumps(message.tool_calls[0]["args"])
    return text


def _reply_in(error: ValidationError) -> str:
    """The reply's text where the error kept it (a reply that is no JSON at all), else ''."""
    for problem in error.errors():
        if problem["type"] == "json_invalid" and isinstance(problem.get("input"), str):
            return problem["input"]
    return ""


def _prompt_chars(messages: list[BaseMessage]) -> int:
    return sum(len(str(m.text)) for m in messages)


def _log_retry(role: str, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait_s = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "LLM %s: %s; retrying in %.1f s (attempt %d)",
        role,
        first_line(exc) if exc else "failed",
        wait_s,
        state.attempt_number + 1,
    )
