"""Replies the real local model (Qwen2.5-Coder-0.5B-Instruct) gave in the campaigns of
benchmarks/real-campaign-cpu.yaml and (on the lent H100 and H200) real-campaign-gpu.yaml,
replayed through the reading the trials use.

Each fixture is one recorded reply (tests/data/real-replies/), with the fate the trial
gave it; the tests check that the product reads it the same way again: a program copied
back with only its comments and indentation gone is the source (``unchanged``, never built
or measured), prose without a program is asked again, a program that lost a loop header
fails the real compiler with the message fix_compile is given, a judge that answers
with its verdict line alone is read as that verdict, and a reply cut off inside its
program whose continuation starts the program again, at once or after a line of prose, is
read as that one program.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.apps import load_app
from lassi_ee.devices import cpu_device
from lassi_ee.llm.client import LLM
from lassi_ee.llm.fake import RoleScriptedChatModel
from lassi_ee.llm.models import build_models
from lassi_ee.llm.replies import extract_code, join_continuation, parse_judge_text
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.generate import _feedback
from lassi_ee.report.text import version_notes
from lassi_ee.report.trial import version_row
from lassi_ee.settings import Settings
from lassi_ee.state import Candidate, Verdict
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.program_text import normalized

ROOT = Path(__file__).resolve().parents[2]
REPLIES = ROOT / "tests" / "data" / "real-replies" / "qwen2.5-coder-0.5b.jsonl"


def recorded(name: str) -> dict[str, Any]:
    for line in REPLIES.read_text().splitlines():
        entry = json.loads(line)
        if entry["name"] == name:
            return entry
    raise KeyError(name)


def test_a_program_copied_back_without_its_comments_is_the_source():
    entry = recorded("jacobi2d-vanilla-verbatim")
    source = (ROOT / "examples" / "jacobi2d-omp" / "jacobi2d.cpp").read_text()
    code = extract_code(entry["reply"], require_main=True)
    assert code is not None and code != source  # the model dropped the comments
    assert normalized(code) == normalized(source)  # so the trial calls it unchanged


def test_prose_without_a_program_is_asked_again_and_the_next_reply_used(
    prompt_vars: dict[str, Any],
):
    prose = recorded("jacobi2d-refactor-prose-only")
    program = recorded("jacobi2d-vanilla-verbatim")
    assert prose["fate"] == "reasked" and extract_code(prose["reply"]) is None
    settings = Settings(llm_backoff_initial_s=0.001)
    fake = RoleScriptedChatModel(scripts={"refactor": [prose["reply"], program["reply"]]})
    entries: list[dict[str, Any]] = []
    llm = LLM(build_models(settings, fake), settings, transcript=entries.extend)
    reply = llm.code("refactor", prompt_vars, temperature=0.2, usage=Usage())
    assert reply.code == extract_code(program["reply"])
    assert [e["fate"] for e in entries] == ["reasked", "used"]


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")
def test_a_program_that_lost_its_loop_header_fails_the_real_compiler(tmp_path: Path):
    entry = recorded("nbody-vanilla-loop-header-lost")
    code = extract_code(entry["reply"], require_main=True)
    assert code is not None
    app = load_app(ROOT / "examples" / "nbody-omp")
    settings = Settings(work_root=tmp_path / "work")
    result = compile_app(
        CompileRequest(app=app, device=cpu_device(), build_dir=tmp_path / "build", code=code),
        settings,
    )
    assert not result.ok
    assert "'i' was not declared" in result.diagnostics.replace("‘", "'").replace("’", "'")


def test_a_judge_answering_with_its_verdict_line_alone_is_read():
    entry = recorded("nbody-judge-verdict-only")
    assert entry["reply"].strip() == "VERDICT: VALID"
    decision = parse_judge_text(entry["reply"])
    assert decision is not None and decision.verdict == "VALID"


def test_a_judge_answering_with_a_bare_verdict_word_gives_no_reason(
    prompt_vars: dict[str, Any],
):
    """On the H200 the judge answered nbody's v02 with the one token `INVALID`: that is
    the verdict, but not a reason. The next refactoring was told 'rejected (invalid):
    INVALID'; now it and the report say that the judge gave no reason."""
    entry = recorded("nbody-cuda-judge-bare-invalid")
    assert entry["reply"].strip() == "INVALID"
    decision = parse_judge_text(entry["reply"])
    assert decision is not None and (decision.verdict, decision.reasons) == ("INVALID", [])

    settings = Settings(llm_backoff_initial_s=0.001)
    fake = RoleScriptedChatModel(scripts={"judge": [entry["reply"]]})
    reply = LLM(build_models(settings, fake), settings).judge(prompt_vars, usage=Usage())
    vetoed = Candidate(
        version=2, stage="refactor", iteration=1, code="x", outcome="invalid",
        verdict=Verdict(verdict=reply.verdict, reasons=reply.reasons),
    )  # fmt: skip
    told = _feedback({"history": [vetoed]})  # type: ignore[typeddict-item]
    assert told.endswith("was rejected (invalid): the judge gave no reason")
    assert version_notes(version_row(vetoed, "energy", None)) == ["the judge gave no reason"]
    explained = vetoed.model_copy(
        update={"verdict": Verdict(verdict="INVALID", reasons=["it skips a step"])}
    )
    told = _feedback({"history": [explained]})  # type: ignore[typeddict-item]
    assert told.endswith("was rejected (invalid): it skips a step")
    checked = vetoed.model_copy(update={"verdict": Verdict(verdict="INVALID", by="check")})
    assert version_notes(version_row(checked, "energy", None)) == []


def test_a_continuation_that_starts_the_program_again_is_read_as_one_program():
    """Asked to go on where it was cut off, the model began the program anew in a new
    fence. Joined as a continuation, the program's first 90 lines came twice and nvcc
    failed; read as a restart, it is the source copied back, so the trial calls it
    unchanged instead of spending a self-correction on our misreading."""
    cut_off, restarted = (
        recorded("jacobi2d-cuda-refactor-cut-off"),
        recorded("jacobi2d-cuda-refactor-restarted"),
    )
    assert cut_off["finish_reason"] == "length" and cut_off["fate"] == "continued"
    code = extract_code(join_continuation(cut_off["reply"], restarted["reply"]), require_main=True)
    assert code is not None and code.count("int main(") == 1
    assert code == extract_code(restarted["reply"], require_main=True)
    source = (ROOT / "examples" / "jacobi2d" / "jacobi2d.cu").read_text()
    assert normalized(code) == normalized(source)


def test_a_continuation_that_starts_the_program_again_after_prose_is_read_as_one_program():
    """On the H200 the model, cut off inside nbody, answered the request to go on with a
    sentence ("Certainly! Here's the refactored program again ...") and then the whole
    program in a new fence. Appended to the cut-off block, the sentence landed inside a
    CHECK(...) call: nvcc failed, and a self-correction was spent on our misreading. Read
    as a restart, it is the source copied back."""
    cut_off, begun_again = (
        recorded("nbody-cuda-refactor-cut-off"),
        recorded("nbody-cuda-refactor-begun-again-after-prose"),
    )
    assert cut_off["finish_reason"] == "length" and cut_off["fate"] == "continued"
    assert not begun_again["reply"].lstrip().startswith("```")  # prose comes first
    code = extract_code(
        join_continuation(cut_off["reply"], begun_again["reply"]), require_main=True
    )
    assert code is not None and code.count("int main(") == 1 and "Certainly" not in code
    assert code == extract_code(begun_again["reply"], require_main=True)
    source = (ROOT / "examples" / "nbody" / "nbody.cu").read_text()
    assert normalized(code) == normalized(source)
