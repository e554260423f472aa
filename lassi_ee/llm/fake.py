"""A chat model that answers by role from a script: for tests and ``lassi-ee demo``.

Every call the LLM layer makes carries the tag ``lassi:<role>``; LangChain hands
the run's tags to ``_generate`` through its run manager, so this model can tell
a ``plan`` request from a ``judge`` request without parsing prompts. Each role
has a script: a list of replies used in order, or a function of the call. A
reply is a string, a ``FakeReply`` (cut off, token counts, structured answer),
a dict or pydantic object (answered as a tool call when structured output is
asked for, else as JSON text), or an exception to raise. Every call is recorded
(role, temperature, messages, sibling) for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import ModelInvalidRequestError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from lassi_ee.roles import ROLE_TAG_PREFIX


class FakeReply(BaseModel):
    """A scripted reply with the details a plain string cannot say."""

    model_config = ConfigDict(frozen=True)

    content: str = ""
    structured: dict[str, Any] | None = None  # the answer when structured output is asked for
    finish_reason: str = "stop"  # "length" = cut off by the output limit
    tokens_in: int | None = None  # default: prompt characters / 4
    tokens_out: int | None = None  # default: reply characters / 4


class FakeCall(BaseModel):
    """One call the fake received."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    role: str
    temperature: float | None
    messages: list[BaseMessage]
    structured: bool  # whether structured output (a tool) was asked for
    sibling: int = 0  # which of a Stage-3 step's identical requests (metadata lassi_sibling)

    @property
    def prompt(self) -> str:
        """The last message's text: the rendered role prompt or a re-ask."""
        return str(self.messages[-1].content)


class FakeScriptError(RuntimeError):
    """The test's script has no answer for a call (a bug in the test)."""


def role_of(tags: Sequence[str]) -> str | None:
    for tag in tags:
        if tag.startswith(ROLE_TAG_PREFIX):
            return tag[len(ROLE_TAG_PREFIX) :]
    return None


def _text_of(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else json.dumps(message.content)


class RoleScriptedChatModel(BaseChatModel):
    """Answers each ``lassi:<role>`` call from that role's script."""

    scripts: dict[str, Any] = Field(
        default_factory=dict, description="role -> list of replies, or a function of FakeCall"
    )
    model_name: str = "fake-lassi"
    rejects_temperature: bool = Field(
        default=False,
        description="refuse calls that send temperature, as reasoning-model servers do",
    )
    supports_structured_output: bool = True
    report_usage: bool = True
    calls: list[FakeCall] = Field(default_factory=list)
    _positions: dict[str, int] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(
        default_factory=threading.Lock
    )  # graph branches run in threads

    @property
    def _llm_type(self) -> str:
        return "lassi-role-scripted-fake"

    def calls_for(self, role: str) -> list[FakeCall]:
        return [call for call in self.calls if call.role == role]

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[Any, AIMessage]:
        if not self.supports_structured_output:
            raise NotImplementedError("this fake model has no tool calling")
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    def _next_reply(self, call: FakeCall) -> Any:
        script = self.scripts.get(call.role)
        if script is None:
            raise FakeScriptError(f"no script for role '{call.role}'")
        if callable(script):
            return script(call)
        with self._lock:
            position = self._positions.get(call.role, 0)
            if position >= len(script):
                raise FakeScriptError(
                    f"script for role '{call.role}' ran out after {position} replies"
                )
            self._positions[call.role] = position + 1
        return script[position]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        role = role_of(run_manager.tags if run_manager else [])
        if role is None:
            raise FakeScriptError("call without a lassi:<role> tag")
        tools = kwargs.get("tools") or []
        temperature = kwargs.get("temperature")
        call = FakeCall(
            role=role,
            temperature=temperature,
            messages=list(messages),
            structured=bool(tools),
            sibling=(run_manager.metadata if run_manager else {}).get("lassi_sibling", 0),
        )
        self.calls.append(call)
        if self.rejects_temperature and temperature is not None:
            raise ModelInvalidRequestError(
                "Unsupported parameter: 'temperature' is not supported with this model."
            )
        item = self._next_reply(call)
        if isinstance(item, BaseException):
            raise item
        reply = _as_reply(item)

        if tools and reply.structured is not None:
            tool_name = tools[0]["function"]["name"]
            message = AIMessage(
                content="",
                tool_calls=[
                    {"name": tool_name, "args": reply.structured, "id": f"call_{len(self.calls)}"}
                ],
            )
            content = json.dumps(reply.structured)
        else:
            content = reply.content if reply.structured is None else json.dumps(reply.structured)
            message = AIMessage(content=content)
        message.response_metadata = {
            "finish_reason": reply.finish_reason,
            "model_name": self.model_name,
        }
        if self.report_usage:
            tokens_in = reply.tokens_in
            if tokens_in is None:
                tokens_in = sum(len(_text_of(m)) for m in messages) // 4
            tokens_out = reply.tokens_out if reply.tokens_out is not None else len(content) // 4
            message.usage_metadata = {
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            }
        return ChatResult(generations=[ChatGeneration(message=message)])


def _as_reply(item: Any) -> FakeReply:
    if isinstance(item, FakeReply):
        return item
    if isinstance(item, str):
        return FakeReply(content=item)
    if isinstance(item, BaseModel):
        return FakeReply(structured=item.model_dump())
    if isinstance(item, dict):
        return FakeReply(structured=item)
    raise FakeScriptError(f"cannot answer with {type(item).__name__}")
