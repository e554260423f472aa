"""The scripted demo model: which canned reply each prompt gets, and that the canned
programs fail and succeed where the demo says they do (real compilers and runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lassi_ee.devices import Device, cpu_device
from lassi_ee.llm.client import LLM
from lassi_ee.llm.demo import (
    DEMO_MODEL_NAME,
    SCRIPTED_MARK,
    demo_program,
)
from lassi_ee.llm.errors import LLMConfigError
from lassi_ee.llm.fake import RoleScriptedChatModel
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.common import TrialContext
from lassi_ee.nodes.generate import _feedback
from lassi_ee.prompts.loader import device_vars
from lassi_ee.roles import ROLES
from lassi_ee.state import Candidate
from lassi_ee.tools.check import CheckRequest, ProgramOutput, compare_outputs
from lassi_ee.tools.compile import CompileRequest, compile_app
from lassi_ee.tools.equivalence import (
    RecordedOutput,
    check_on_every_input,
    input_sets,
    run_source_on_other_inputs,
)
from lassi_ee.tools.run import RunRequest, run_program

OMP = demo_program("heat2d-omp")
CUDA = demo_program("heat2d-cuda")
H100 = Device(spec="cuda:0", kind="cuda", name="NVIDIA H100 80GB HBM3", arch="sm_90")


@pytest.fixture
def llm(settings) -> LLM:
    return TrialContext(settings=settings.model_copy(update={"generate_model": "demo"})).llm()


def canned(program, name: str) -> str:
    return program.code(name)


def feedback_after(outcome: str, iteration: int) -> str:
    """What the refactor node tells the model about its previous try."""
    last = Candidate(version=5, stage="refactor", iteration=iteration, code="x", outcome=outcome)
    return _feedback({"history": [last]})  # type: ignore[typeddict-item]


def refactor(llm: LLM, best_code: str, feedback: str, device: Device | None = None) -> str:
    values = {**device_vars(device or cpu_device()), "best_code": best_code, "plan": "1. x"}
    return llm.code(
        "refactor", {**values, "feedback": feedback}, temperature=0.2, usage=Usage()
    ).code


def test_demo_named_in_settings_answers_every_role(settings):
    demo_settings = settings.model_copy(update={"generate_model": DEMO_MODEL_NAME})
    models = TrialContext(settings=demo_settings).llm().models
    assert {models.model_name(role) for role in ROLES} == {DEMO_MODEL_NAME}
    assert isinstance(models.model(ROLES[0]), RoleScriptedChatModel)


def test_refactor_replies_follow_the_story(llm):
    source = OMP.app.source_code()
    improved = canned(OMP, "fix_compile.cpp")
    assert refactor(llm, source, "none") == canned(OMP, "refactor_unbuildable.cpp")
    assert refactor(llm, improved, "none") == canned(OMP, "refactor_hardcoded.cpp")
    assert refactor(llm, improved, feedback_after("invalid", 2)) == canned(
        OMP, "refactor_crashes.cpp"
    )
    later = [refactor(llm, improved, feedback_after("not_lower", k)) for k in (3, 4, 5, 6)]
    assert later == [canned(OMP, f"refactor_no_gain_{n}.cpp") for n in (1, 2, 3, 1)]
    # the same prompt always gets the same reply: no hidden state
    assert refactor(llm, source, "none") == canned(OMP, "refactor_unbuildable.cpp")


def test_story_goes_on_when_the_fix_did_not_measure_lower(llm):
    """On a busy machine the hoisted version may not beat the source: the hard-coded reply
    and the crash still come next."""
    source = OMP.app.source_code()
    after_fix = feedback_after("not_lower", 1)
    assert refactor(llm, source, after_fix) == canned(OMP, "refactor_hardcoded.cpp")


def test_cuda_prompts_get_the_cuda_replies(llm):
    reply = refactor(llm, CUDA.app.source_code(), "none", H100)
    assert reply == canned(CUDA, "refactor_unbuildable.cu")


def test_judge_rejects_only_the_hard_coded_version(llm):
    values = {
        **device_vars(cpu_device()),
        "source": OMP.app.source_code(),
        "source_output": "",
        "candidate_output": "",
        "check_finding": "outputs match",
        "flags": "none",
        "source_figures": "-",
        "candidate_figures": "-",
    }
    hardcoded = llm.judge(
        {**values, "candidate": canned(OMP, "refactor_hardcoded.cpp")}, usage=Usage()
    )
    assert hardcoded.verdict == "INVALID" and hardcoded.structured
    assert hardcoded.reasons[0].startswith(SCRIPTED_MARK)
    valid = llm.judge({**values, "candidate": canned(OMP, "fix_compile.cpp")}, usage=Usage())
    assert valid.verdict == "VALID"


def test_text_replies_say_they_are_scripted(llm):
    values = {**device_vars(cpu_device()), "docs": "notes"}
    reply = llm.text("summarize_docs", values, usage=Usage())
    assert reply.text.startswith(SCRIPTED_MARK)


def test_any_other_program_is_refused_in_one_line(llm):
    values = {**device_vars(cpu_device()), "source": "int main() { return 0; }\n"}
    with pytest.raises(LLMConfigError, match="only answers for lassi-ee's bundled demo programs"):
        llm.code("vanilla", values, temperature=0.2, usage=Usage())


def build(program, code: str, device: Device, build_dir: Path, settings):
    return compile_app(
        CompileRequest(app=program.app, device=device, build_dir=build_dir, code=code), settings
    )


def reply_files(program) -> list[str]:
    script = program.script
    files = [script.vanilla.file, script.fix_compile.file, script.fix_runtime.file]
    refactors = script.refactor
    files += [r.file for r in (*refactors.by_iteration, *refactors.later)]
    return files


def test_openmp_replies_build_except_the_broken_one(settings, tmp_path):
    for name in reply_files(OMP):
        result = build(OMP, canned(OMP, name), cpu_device(), tmp_path / name, settings)
        assert result.ok == (name != "refactor_unbuildable.cpp"), (name, result.diagnostics)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_cuda_replies_build_except_the_broken_one(settings, tmp_path):
    for name in reply_files(CUDA):
        result = build(CUDA, canned(CUDA, name), H100, tmp_path / name, settings)
        assert result.ok == (name != "refactor_unbuildable.cu"), (name, result.diagnostics)
    assert build(CUDA, CUDA.app.source_code(), H100, tmp_path / "source", settings).ok


def test_hard_coded_reply_matches_on_the_benchmark_input_and_fails_on_the_next(settings, tmp_path):
    """On the benchmark's arguments the hard-coded reply prints what the source prints;
    the demo's check_args expose it before the judge is asked."""
    built = {
        name: build(OMP, code, cpu_device(), tmp_path / name, settings).binary
        for name, code in (
            ("source", OMP.app.source_code()),
            ("hardcoded", canned(OMP, "refactor_hardcoded.cpp")),
        )
    }
    stdout = {}
    for name, binary in built.items():
        run = run_program(
            RunRequest(binary=binary, args=OMP.app.manifest.args, device=cpu_device()), settings
        )
        assert run.ok, run.failure()
        stdout[name] = run.stdout
        run.discard()
    on_args = compare_outputs(
        CheckRequest(
            reference=ProgramOutput(stdout=stdout["source"]),
            candidate=ProgramOutput(stdout=stdout["hardcoded"]),
            pass_regex="PASS",
        )
    )
    assert on_args.status == "match", on_args.finding
    others = run_source_on_other_inputs(OMP.app, cpu_device(), built["source"], settings)
    references = [
        RecordedOutput(input=input_sets(OMP.app.manifest)[0], stdout=stdout["source"]),
        *(RecordedOutput(input=inputs, stdout=out) for inputs, out, _ in others),
    ]
    result = check_on_every_input(OMP.app, cpu_device(), built["hardcoded"], references, settings)
    assert result.check.vetoes
    assert result.check.finding.startswith("on check_args[0] (64 40): outputs differ")
