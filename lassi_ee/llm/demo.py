"""The scripted demo model: canned replies for the bundled demo programs, not an LLM.

``LASSI_GENERATE_MODEL=demo`` (or ``lassi-ee demo``) gives this model to every
role. Its replies are files under ``lassi_ee/demo/replies/<program>/``, beside the
programs they answer for (files read, no module imported): a correct refactoring
that is no better, one that does not compile and its fix, one with hard-coded results
(the output check, on the demo's check_args, rejects it before the judge would),
a real improvement, one that crashes and its fix, and some that are no better,
so that one trial shows every branch of the method. Compiles, runs and
measurements stay real.

Each reply is chosen from what the prompt shows (the program, the previous
try under the plan), never from a count of earlier calls: the model keeps no
state, so a resumed trial, a fresh model per node (LangGraph Studio) and a
replay from an earlier checkpoint all get the same answers.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from langchain_core.exceptions import ModelInvalidRequestError
from pydantic import BaseModel

from lassi_ee.apps import load_app
from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel

DEMO_MODEL_NAME = "demo"
SCRIPTED_MARK = "[scripted demo reply, not an LLM]"
DEMO_DATA = Path(__file__).resolve().parents[1] / "demo"
PROGRAMS = DEMO_DATA / "programs"
REPLIES = DEMO_DATA / "replies"
PROGRAM_FOR_MODEL = {"OpenMP": "heat2d-omp", "CUDA": "heat2d-cuda"}


class CodeReply(BaseModel):
    file: str
    says: str


class RefactorReplies(BaseModel):
    by_iteration: list[CodeReply]  # Stage-3 iterations 1, 2, 3 ...
    later: list[CodeReply]  # then these in turn


class JudgeReplies(BaseModel):
    rejects: str  # the file of the one reply the judge rejects, if the check lets it through
    invalid_reasons: list[str]
    valid_reasons: list[str]


class BeforeAfter(BaseModel):
    on_source: str
    on_best: str


class DemoScript(BaseModel):
    vanilla: CodeReply
    refactor: RefactorReplies
    fix_compile: CodeReply
    fix_runtime: CodeReply
    judge: JudgeReplies
    summarize_docs: str
    analyze_code: BeforeAfter
    plan: BeforeAfter
    compare: str
    categorize: list[dict[str, str]]


class DemoProgram:
    """One bundled program with its canned replies."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.app_dir = PROGRAMS / name
        self.app = load_app(self.app_dir)
        self.replies_dir = REPLIES / name
        self.script = DemoScript.model_validate(
            yaml.safe_load((self.replies_dir / "replies.yaml").read_text())
        )
        self.code_lang = "cuda" if self.app.manifest.language == "cuda" else "cpp"

    def code(self, file: str) -> str:
        return (self.replies_dir / file).read_text()

    def shows(self, prompt: str, *codes: str) -> bool:
        """Whether the prompt holds one of these programs."""
        return any(code.strip() in prompt for code in codes)

    def shows_original(self, prompt: str) -> bool:
        """The source, or its no-better vanilla version (in case it measured lower)."""
        return self.shows(prompt, self.app.source_code(), self.code(self.script.vanilla.file))

    def code_reply(self, reply: CodeReply) -> str:
        code = self.code(reply.file)
        return f"{SCRIPTED_MARK} {reply.says}\n\n```{self.code_lang}\n{code}```\n"


@cache
def demo_program(name: str) -> DemoProgram:
    return DemoProgram(name)


def _program_of(call: FakeCall) -> DemoProgram:
    """The bundled program this trial refactors, told by the programming model the
    system prompt names; a prompt about any other program is refused."""
    system = str(call.messages[0].content) if call.messages else ""
    for model, name in PROGRAM_FOR_MODEL.items():
        if f"programmed with {model}." in system:
            program = demo_program(name)
            if call.role != "vanilla" or program.shows(call.prompt, program.app.source_code()):
                return program
    raise ModelInvalidRequestError(
        "the scripted demo model only answers for lassi-ee's bundled demo programs "
        f"({', '.join(PROGRAM_FOR_MODEL.values())}): run `lassi-ee demo`, or set "
        "LASSI_GENERATE_MODEL to a real model"
    )


_PREVIOUS_TRY = re.compile(r"\(iteration (\d+), attempt \d+\) was ")


def refactor_iteration(program: DemoProgram, prompt: str) -> int:
    """Which Stage-3 iteration a refactor prompt asks for.

    The prompt names the previous try under the same plan ("v5 (iteration 2,
    attempt 0) was rejected ..."); without one the plan is fresh: the first,
    on the source, or one made for a new best (after iteration 1, as scripted).
    So the story goes on whether or not a version measured lower.
    """
    previous = _PREVIOUS_TRY.search(prompt)
    if previous is not None:
        return int(previous.group(1)) + 1
    return 1 if program.shows_original(prompt) else 2


def _refactor(call: FakeCall) -> str:
    program = _program_of(call)
    replies = program.script.refactor
    iteration = refactor_iteration(program, call.prompt)
    if iteration <= len(replies.by_iteration):
        return program.code_reply(replies.by_iteration[iteration - 1])
    later = iteration - len(replies.by_iteration) - 1
    return program.code_reply(replies.later[later % len(replies.later)])


def _judge(call: FakeCall) -> dict[str, Any]:
    program = _program_of(call)
    judge = program.script.judge
    rejected = program.shows(call.prompt, program.code(judge.rejects))
    reasons = judge.invalid_reasons if rejected else judge.valid_reasons
    return {
        "verdict": "INVALID" if rejected else "VALID",
        "reasons": [f"{SCRIPTED_MARK} {reasons[0]}", *reasons[1:]],
    }


def _before_after(field: str) -> Any:
    def answer(call: FakeCall) -> str:
        program = _program_of(call)
        texts: BeforeAfter = getattr(program.script, field)
        text = texts.on_source if program.shows_original(call.prompt) else texts.on_best
        return f"{SCRIPTED_MARK}\n\n{text}"

    return answer


def _text(field: str) -> Any:
    return lambda call: f"{SCRIPTED_MARK}\n\n{getattr(_program_of(call).script, field)}"


def _code(field: str) -> Any:
    def answer(call: FakeCall) -> str:
        program = _program_of(call)
        return program.code_reply(getattr(program.script, field))

    return answer


def demo_chat_model() -> RoleScriptedChatModel:
    """The scripted demo model, answering every role (named "demo" in usage and reports)."""
    return RoleScriptedChatModel(
        model_name=DEMO_MODEL_NAME,
        scripts={
            "vanilla": _code("vanilla"),
            "refactor": _refactor,
            "fix_compile": _code("fix_compile"),
            "fix_runtime": _code("fix_runtime"),
            "judge": _judge,
            "summarize_docs": _text("summarize_docs"),
            "analyze_code": _before_after("analyze_code"),
            "plan": _before_after("plan"),
            "compare": _text("compare"),
            "categorize": lambda call: {"items": _program_of(call).script.categorize},
        },
    )
