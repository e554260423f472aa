"""Prompt templates: documented variables, loud failures, device facts, our notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lassi_ee.devices import Device
from lassi_ee.errors import UsageError
from lassi_ee.prompts.loader import (
    TEMPLATE_NAMES,
    MissingPromptVariable,
    builtin_notes,
    device_vars,
    format_figures,
    load_docs,
    load_template,
    render,
)
from lassi_ee.roles import ROLES


def _all_values(prompt_vars: dict[str, Any]) -> dict[str, Any]:
    values = dict(prompt_vars)
    values.update(device_vars(values.pop("device")))
    values.update(reason="held no program")
    return values


def test_every_role_has_a_template() -> None:
    assert set(ROLES) <= set(TEMPLATE_NAMES)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_declared_variables_are_exactly_the_placeholders(name: str) -> None:
    template = load_template(name)
    assert set(template.variables) == template.placeholders()
    assert all(template.variables.values()), "each variable says what it holds"
    assert not template.body.startswith("<!--")


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_renders_with_the_graph_variables(
    name: str, prompt_vars: dict[str, Any]
) -> None:
    text = render(name, _all_values(prompt_vars))
    assert "$" not in text.replace("$$", "")  # nothing left unrendered


def test_missing_variable_fails_loudly_naming_it(prompt_vars: dict[str, Any]) -> None:
    values = _all_values(prompt_vars)
    del values["plan"]
    with pytest.raises(MissingPromptVariable, match="'refactor' needs plan"):
        render("refactor", values)
    values["plan"] = None
    with pytest.raises(MissingPromptVariable, match="needs plan"):
        render("refactor", values)


def test_code_with_dollars_and_braces_passes_verbatim(prompt_vars: dict[str, Any]) -> None:
    tricky = 'int main() { printf("${x} $y $$ {}\\n"); return 0; }'
    values = _all_values(prompt_vars) | {"source": tricky}
    assert tricky in render("vanilla", values)


def test_system_prompt_names_the_device_facts(device: Device) -> None:
    text = render("system", device_vars(device))
    for fact in ("NVIDIA H100 80GB HBM3", "sm_90", "80 GiB", "CUDA C++", "CUDA"):
        assert fact in text


@pytest.mark.parametrize(
    ("kind", "model", "language", "fence"),
    [
        ("cuda", "CUDA", "CUDA C++", "cuda"),
        ("rocm", "HIP", "HIP C++", "cpp"),
        ("cpu", "OpenMP", "C++ with OpenMP", "cpp"),
    ],
)
def test_device_vars_per_programming_model(
    kind: str, model: str, language: str, fence: str
) -> None:
    device = Device(spec=kind, kind=kind, name="dev", arch="a1")  # type: ignore[arg-type]
    values = device_vars(device)
    assert (values["programming_model"], values["language"], values["code_lang"]) == (
        model,
        language,
        fence,
    )
    assert values["device_memory"] == "unknown"


def test_role_prompts_carry_what_the_role_needs(prompt_vars: dict[str, Any]) -> None:
    values = _all_values(prompt_vars)
    assert values["compiler_errors"] in render("fix_compile", values)
    assert values["stderr"] in render("fix_runtime", values)
    judge = render("judge", values)
    for key in ("check_finding", "source_figures", "candidate_output"):
        assert values[key] in judge
    assert values["plan"] in render("refactor", values)
    assert values["report"] in render("categorize", values)


def test_fix_prompts_require_keeping_signatures_logic_and_behaviour() -> None:
    for name in ("fix_compile", "fix_runtime"):
        body = load_template(name).body
        assert "Keep every function signature" in body
        assert "logic of every kernel" in body
        assert "behaviour" in body


def test_judge_prompt_accepts_formatting_and_rejects_changed_algorithms() -> None:
    body = load_template("judge").body
    assert "output formatting" in body and "small numeric differences" in body
    assert "the algorithm or the problem changed" in body
    assert "work of the original is skipped" in body
    assert "VERDICT: VALID" in body


@pytest.mark.parametrize("model", ["cuda", "hip", "openmp"])
def test_builtin_notes_per_programming_model(model: str) -> None:
    notes = builtin_notes(model)  # type: ignore[arg-type]
    assert len(notes.splitlines()) > 30
    assert "## What not to do" in notes
    assert load_docs(model) == notes  # type: ignore[arg-type]


def test_user_docs_replace_the_notes(tmp_path: Path) -> None:
    own = tmp_path / "mine.md"
    own.write_text("Use the tensor cores.")
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "a.txt").write_text("Avoid atomics.")
    (folder / "skip.bin").write_text("not docs")
    docs = load_docs("cuda", [own, folder])
    assert "Use the tensor cores." in docs and "Avoid atomics." in docs
    assert "not docs" not in docs and "Coalesce" not in docs


def test_missing_docs_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="LASSI_DOCS_PATHS"):
        load_docs("openmp", [tmp_path / "nope.md"])


def test_format_figures() -> None:
    assert format_figures(12.345, 0.5, 150.0) == (
        "energy 12.35 J, runtime 0.5 s, average power 150 W"
    )
    assert format_figures(None, 2.0) == "energy not measured, runtime 2 s"
