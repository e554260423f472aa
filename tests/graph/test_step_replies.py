"""The replies a step of several candidates keeps for a resume: taken back only by the
step that asked for them, whole, and gone once the step is done."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableLambda

from lassi_ee.llm.client import CodeReply
from lassi_ee.llm.errors import NoUsableReply
from lassi_ee.llm.usage import RoleUsage, Usage
from lassi_ee.nodes.step_replies import StepReplies


def spent(tokens_out: int) -> Usage:
    return Usage(by_role={"refactor": RoleUsage(calls=1, tokens_in=900, tokens_out=tokens_out)})


def in_trial(settings: Any, asked: dict[str, Any]) -> StepReplies:
    """The step's replies as a running trial (thread ``t``) sees them."""
    config: Any = {"configurable": {"thread_id": "t"}}
    of_step = RunnableLambda(lambda _: StepReplies.of_step(settings, 2, asked))
    replies = of_step.invoke(None, config)
    assert replies is not None
    return replies


def test_a_kept_program_and_a_kept_unusable_reply_come_back_with_their_usage(settings):
    replies = in_trial(settings, {"prompt": "plan 1", "temperature": 0.2})
    program = CodeReply(code="int main(){}", text="```c\nint main(){}\n```", usage=spent(40),
                        temperature_used=0.2)  # fmt: skip
    replies.keep(1, program)
    replies.keep(2, NoUsableReply("no complete program in 2 replies", usage=spent(70)))
    kept = in_trial(settings, {"prompt": "plan 1", "temperature": 0.2}).kept()
    assert sorted(kept) == [1, 2]
    assert kept[1] == program
    assert isinstance(kept[2], NoUsableReply) and kept[2].usage == spent(70)
    assert "no complete program" in str(kept[2])


def test_another_steps_replies_are_not_taken(settings):
    """A changed prompt or temperature is another step: nothing it kept is reused."""
    program = CodeReply(code="int main(){}", text="", usage=spent(40), temperature_used=0.2)
    in_trial(settings, {"prompt": "plan 1", "temperature": 0.2}).keep(1, program)
    assert in_trial(settings, {"prompt": "plan 2", "temperature": 0.2}).kept() == {}
    assert in_trial(settings, {"prompt": "plan 1", "temperature": 0.5}).kept() == {}
    assert sorted(in_trial(settings, {"prompt": "plan 1", "temperature": 0.2}).kept()) == [1]


def test_a_half_written_reply_is_asked_again_and_clear_ends_the_step(settings):
    replies = in_trial(settings, {"prompt": "plan 1"})
    replies.keep(1, CodeReply(code="int main(){}", text="", usage=spent(4), temperature_used=None))
    (replies.folder / "sibling-2.json").write_text('{"key": "' + replies.key + '", "sibl')
    assert sorted(replies.kept()) == [1]
    replies.clear()
    assert replies.kept() == {} and not replies.folder.exists()


def test_outside_a_running_trial_nothing_is_kept(settings):
    assert StepReplies.of_step(settings, 1, {"prompt": "plan 1"}) is None
