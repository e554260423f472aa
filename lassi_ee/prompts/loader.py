"""Prompt templates: plain Markdown files beside this module, rendered with ``$name``.

``string.Template`` syntax (``$name`` / ``${name}``) never collides with the
braces of C++ and CUDA, and values are inserted verbatim, so a program's own
``$`` or ``{}`` pass through untouched. Each file opens with an HTML comment
that lists its variables, one per line under ``Variables:``; the loader reads
that list, strips the comment, and a test keeps list and placeholders equal.
Rendering fails loudly on any missing variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template

from lassi_ee.devices import Device, ProgrammingModel
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.roles import ROLES

TEMPLATE_NAMES: tuple[str, ...] = ("system", *ROLES, "continue", "reask_code", "reask_format")

_HEADER = re.compile(r"\A<!--(?P<header>.*?)-->\n?", re.DOTALL)

_LANGUAGE: dict[ProgrammingModel, tuple[str, str, str]] = {
    # programming model -> (how prompts name it, the language, the code-fence tag)
    "cuda": ("CUDA", "CUDA C++", "cuda"),
    "hip": ("HIP", "HIP C++", "cpp"),
    "openmp": ("OpenMP", "C++ with OpenMP", "cpp"),
}


class MissingPromptVariable(LassiError):
    """A template was rendered without a value it needs (a bug in the caller)."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    variables: dict[str, str]  # declared in the file's header: name -> what it holds
    body: str

    def placeholders(self) -> set[str]:
        return set(Template(self.body).get_identifiers())

    def render(self, values: Mapping[str, object]) -> str:
        missing = sorted(name for name in self.placeholders() if values.get(name) is None)
        if missing:
            raise MissingPromptVariable(
                f"prompt '{self.name}' needs {', '.join(missing)} "
                f"(given: {', '.join(sorted(values)) or 'nothing'})"
            )
        # trailing newlines of a program or an output would leave a blank line before a fence
        return Template(self.body).substitute({k: str(v).rstrip("\n") for k, v in values.items()})


def _parse(name: str, text: str) -> PromptTemplate:
    match = _HEADER.match(text)
    if not match:
        raise ValueError(f"prompt '{name}' lacks its <!-- Variables: ... --> header")
    variables: dict[str, str] = {}
    in_list = False
    for line in match.group("header").splitlines():
        if line.strip().lower().startswith("variables:"):
            in_list = True
            continue
        if in_list and line.startswith("  ") and line.strip():
            key, _, meaning = line.strip().partition(" ")
            variables[key] = meaning.strip()
    return PromptTemplate(name=name, variables=variables, body=text[match.end() :])


@cache
def load_template(name: str) -> PromptTemplate:
    """The template called ``name`` (see TEMPLATE_NAMES), read from the package."""
    if name not in TEMPLATE_NAMES:
        raise ValueError(f"no prompt template '{name}'")
    text = resources.files("lassi_ee.prompts").joinpath(f"{name}.md").read_text("utf-8")
    return _parse(name, text)


def render(name: str, values: Mapping[str, object]) -> str:
    return load_template(name).render(values)


def device_vars(device: Device) -> dict[str, str]:
    """The device facts every prompt may name."""
    model_name, language, code_lang = _LANGUAGE[device.programming_model]
    return {
        "device_name": device.name,
        "device_arch": device.arch,
        "device_memory": f"{device.memory_gib:.0f} GiB" if device.memory_gib else "unknown",
        "device_facts": device.facts(),
        "programming_model": model_name,
        "language": language,
        "code_lang": code_lang,
    }


def format_figures(
    energy_j: float | None, runtime_s: float | None, power_w: float | None = None
) -> str:
    """One line of measured figures for a prompt; a missing figure is said to be missing."""
    energy = f"energy {energy_j:.4g} J" if energy_j is not None else "energy not measured"
    runtime = f"runtime {runtime_s:.4g} s" if runtime_s is not None else "runtime not measured"
    parts = [energy, runtime]
    if power_w is not None:
        parts.append(f"average power {power_w:.4g} W")
    return ", ".join(parts)


def builtin_notes(programming_model: ProgrammingModel) -> str:
    """Our notes on energy-efficient practice for one programming model."""
    notes = resources.files("lassi_ee.prompts").joinpath("notes", f"{programming_model}.md")
    return notes.read_text("utf-8")


def load_docs(programming_model: ProgrammingModel, docs_paths: Sequence[Path] = ()) -> str:
    """The documentation the summarize_docs role condenses.

    The user's own files (or every .md/.txt file of a named directory) replace
    the built-in notes when given.
    """
    if not docs_paths:
        return builtin_notes(programming_model)
    parts: list[str] = []
    for path in docs_paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".md", ".txt"))
            if not files:
                raise UsageError(f"docs directory {path} holds no .md or .txt file")
        elif path.is_file():
            files = [path]
        else:
            raise UsageError(f"docs path {path} does not exist: fix LASSI_DOCS_PATHS")
        parts.extend(f"# {f.name}\n\n{f.read_text('utf-8', errors='replace')}" for f in files)
    return "\n\n".join(parts)
