"""Reading replies: programs out of Markdown, verdicts and categories out of plain text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from lassi_ee.llm.replies import (
    code_blocks,
    extract_code,
    is_cut_off,
    join_continuation,
    parse_categories_text,
    parse_judge_text,
)

PROGRAM = '#include <cstdio>\nint main() {\n  printf("PASS\\n");\n  return 0;\n}'


def test_tagged_block_inside_prose() -> None:
    reply = f"Here is the faster version:\n\n```cuda\n{PROGRAM}\n```\n\nIt fuses the kernels."
    assert extract_code(reply) == PROGRAM + "\n"


def test_untagged_block_and_tilde_fence() -> None:
    assert extract_code(f"```\n{PROGRAM}\n```") == PROGRAM + "\n"
    assert extract_code(f"~~~cpp\n{PROGRAM}\n~~~") == PROGRAM + "\n"


def test_complete_program_wins_over_snippets_and_shell_blocks() -> None:
    snippet = "__global__ void k(float *x) {\n  // a long explanatory snippet " + "x" * 300 + "\n}"
    reply = (
        f"The key change:\n```cuda\n{snippet}\n```\n"
        f"Build it with:\n```bash\nnvcc -O3 -arch=sm_90 main.cu && ./a.out --some-argument\n```\n"
        f"Full program:\n```cpp\n{PROGRAM}\n```\n"
    )
    assert extract_code(reply) == PROGRAM + "\n"


def test_without_main_the_longest_block_is_taken_unless_main_is_required() -> None:
    short, long = "int f() { return 1; }", "int g(int a) {\n  return a * 2 + 1;\n}"
    reply = f"```cpp\n{short}\n```\nand\n```cpp\n{long}\n```"
    assert extract_code(reply) == long + "\n"
    assert extract_code(reply, require_main=True) is None


def test_no_code_at_all() -> None:
    assert extract_code("I cannot improve this program further.") is None
    assert extract_code("```bash\nmake\n```") is None
    assert extract_code("") is None


def test_unfenced_reply_that_is_code_from_its_first_line() -> None:
    assert extract_code(PROGRAM) == PROGRAM + "\n"
    assert extract_code("Sure! int main() { return 0; }") is None


def test_unclosed_block_is_read_and_marked() -> None:
    blocks = code_blocks(f"text\n```cuda\n{PROGRAM}")
    assert [(b.lang, b.closed) for b in blocks] == [("cuda", False)]
    assert blocks[0].code == PROGRAM


def test_cut_off_is_read_from_the_finish_reason_of_any_provider() -> None:
    assert is_cut_off(AIMessage("x", response_metadata={"finish_reason": "length"}))
    assert is_cut_off(AIMessage("x", response_metadata={"stop_reason": "max_tokens"}))
    assert is_cut_off(AIMessage("x", response_metadata={"done_reason": "length"}))
    assert not is_cut_off(AIMessage("x", response_metadata={"finish_reason": "stop"}))
    assert not is_cut_off(AIMessage("x"))


def test_continuation_that_reopens_the_fence_joins_into_one_program() -> None:
    head, tail = PROGRAM[:30], PROGRAM[30:]
    joined = join_continuation(f"```cuda\n{head}", f"```cuda\n{tail}\n```")
    assert extract_code(joined) == PROGRAM + "\n"


def test_continuation_that_starts_the_program_again_replaces_the_cut_off_block() -> None:
    cut_off = f"Here it is.\n```cuda\n{PROGRAM[:40]}"
    joined = join_continuation(cut_off, f"```cuda\n{PROGRAM}\n```\n")
    assert joined.startswith("Here it is.\n")  # the prose before the block is kept
    assert extract_code(joined) == PROGRAM + "\n"  # its start once, not twice


def test_continuation_starting_the_program_again_after_prose_replaces_the_cut_off_block() -> None:
    cut_off = f"Here it is.\n```cuda\n{PROGRAM[:40]}"
    joined = join_continuation(
        cut_off, f"Sure, the whole program again:\n\n```cuda\n{PROGRAM}\n```\n"
    )
    assert extract_code(joined) == PROGRAM + "\n"


def test_continuation_that_ends_the_program_then_starts_it_again_keeps_one_block() -> None:
    head, tail = PROGRAM[:40], PROGRAM[40:]
    joined = join_continuation(f"```cuda\n{head}", f"{tail}\n```\nAgain:\n```cuda\n{PROGRAM}\n```")
    blocks = [b for b in code_blocks(joined) if b.code.strip()]
    assert [b.code for b in blocks] == [PROGRAM]


def test_continuation_that_only_closes_the_fence_is_kept() -> None:
    joined = join_continuation(f"```cuda\n{PROGRAM}\n", "```\nDone.")
    assert extract_code(joined) == PROGRAM + "\n"


def test_plain_continuation_is_appended() -> None:
    head, tail = PROGRAM[:30], PROGRAM[30:]
    assert extract_code(join_continuation(f"```cuda\n{head}", f"{tail}\n```")) == PROGRAM + "\n"


@given(
    code=st.text(alphabet=st.characters(blacklist_characters="`~\r"), min_size=1).filter(
        lambda s: s.strip() != "" and "\n" not in s[:1]
    ),
    before=st.text(alphabet="abc .,\n", max_size=40),
    after=st.text(alphabet="abc .,\n", max_size=40),
)
def test_any_code_in_one_block_comes_back_unchanged(code: str, before: str, after: str) -> None:
    code = code.strip("\n")
    reply = f"{before}\n```cpp\n{code}\n```\n{after}"
    assert extract_code(reply) == code + "\n"


# --- the judge's plain-text replies ---


def test_judge_verdict_line_and_reasons() -> None:
    decision = parse_judge_text(
        "The loop bounds are the same.\n\nVERDICT: INVALID\nREASONS:\n"
        "- the outer loop runs half the iterations\n- the checksum differs"
    )
    assert decision is not None
    assert decision.verdict == "INVALID"
    assert decision.reasons == ["the outer loop runs half the iterations", "the checksum differs"]


def test_judge_markdown_and_lower_case() -> None:
    decision = parse_judge_text("**Verdict:** valid\n\nOnly formatting differs.")
    assert decision is not None and decision.verdict == "VALID"
    assert decision.reasons == ["Only formatting differs."]


def test_judge_json_as_text() -> None:
    decision = parse_judge_text('```json\n{"Verdict": "invalid", "reasons": ["skips work"]}\n```')
    assert decision is not None
    assert (decision.verdict, decision.reasons) == ("INVALID", ["skips work"])


def test_judge_last_verdict_line_wins_and_echoed_form_is_ignored() -> None:
    text = "Answer form: VERDICT: VALID (or VERDICT: INVALID)\n...\nVERDICT: VALID\nREASONS: same"
    decision = parse_judge_text(text)
    assert decision is not None and decision.verdict == "VALID"
    assert decision.reasons == ["same"]


def test_a_verdict_alone_is_not_its_own_reason() -> None:
    for reply in ("INVALID", "**INVALID**", "VERDICT: INVALID", "VERDICT: INVALID\nREASONS:"):
        decision = parse_judge_text(reply)
        assert decision is not None and (decision.verdict, decision.reasons) == ("INVALID", [])
    explained = parse_judge_text("INVALID\nIt skips the last step.")
    assert explained is not None and explained.reasons == ["It skips the last step."]


def test_judge_bare_word_only_when_unambiguous() -> None:
    only_invalid = parse_judge_text("This is INVALID because it skips the last step.")
    assert only_invalid is not None and only_invalid.verdict == "INVALID"
    assert parse_judge_text("It could be VALID or INVALID, hard to say.") is None
    assert parse_judge_text("Looks fine to me.") is None


# --- categories ---


def test_categories_from_lines() -> None:
    items = parse_categories_text(
        "MHO | tile in shared memory | reuse of loaded data\n"
        "- [PTM]: overlap copies with kernels\n"
        "3. **DST** - launch bounds of 256\n"
        "Some closing remark."
    )
    assert items is not None
    assert [(i.category, i.optimization) for i in items] == [
        ("MHO", "tile in shared memory"),
        ("PTM", "overlap copies with kernels"),
        ("DST", "launch bounds of 256"),
    ]
    assert items[0].rationale == "reuse of loaded data"


def test_categories_none_and_unreadable() -> None:
    assert parse_categories_text("NONE") == []
    assert parse_categories_text("The report lists several things.") is None


def test_categories_json_as_text() -> None:
    items = parse_categories_text(
        '{"items": [{"optimization": "fuse kernels", "category": "ACE", "rationale": "r"}]}'
    )
    assert items is not None and items[0].category == "ACE"
