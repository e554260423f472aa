"""The package's layers import one way (docs/DESIGN.md, "Layers import one way").

Read from the source, imports inside functions included: a lower layer that reached up,
even lazily, would make the house harder to change without anything failing.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lassi_ee"

# Bottom first. A module may import its own layer and the layers below it. Each name is a
# top-level module or subpackage of lassi_ee; "lassi_ee" is the package's __init__.
LAYERS: list[set[str]] = [
    {"errors", "settings", "devices", "roles", "c_syntax", "thread_ids", "metrics"},
    {"apps", "prompts", "adapters"},
    {"tools", "energy", "llm"},
    {"state", "result", "calibrate"},
    {"nodes"},
    {"graph"},
    {"trials"},
    {"api"},
    {"campaign", "report", "demo", "cli_campaign", "cli", "lassi_ee"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The lassi_ee modules that ``path`` imports, anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "lassi_ee":
                found.add(node.module)
                # `from lassi_ee.pkg import module` imports lassi_ee.pkg.module
                folder = PACKAGE.parent / node.module.replace(".", "/")
                found |= {
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if (folder / alias.name).exists() or (folder / f"{alias.name}.py").exists()
                }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "lassi_ee"}
    return found


def group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(module: str) -> int:
    name = group(module)
    for rank, layer in enumerate(LAYERS):
        if name in layer:
            return rank
    raise AssertionError(f"{module} is in no layer: add '{name}' to LAYERS and to DESIGN.md")


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imported_modules(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_goes_down_or_stays_in_its_layer() -> None:
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_modules_import_each_other_however_indirectly() -> None:
    graph = import_graph()
    # a package's __init__ importing its own modules is how a package exposes them
    edges = {
        module: {t for t in targets if t != module and not module.startswith(t + ".")}
        for module, targets in graph.items()
    }
    graphlib.TopologicalSorter(edges).static_order()  # raises CycleError on a circle


def test_the_llm_layer_never_imports_the_demo() -> None:
    """The demo's canned replies are data the LLM layer reads, never code it imports."""
    llm = {m: t for m, t in import_graph().items() if group(m) == "llm"}
    assert llm, "the llm layer was not found"
    assert not [(m, t) for m, targets in llm.items() for t in targets if group(t) == "demo"]


@pytest.mark.parametrize(
    ("source", "upward"),
    [
        ("from lassi_ee.nodes.generate import x\n", True),
        ("def f():\n    from lassi_ee.api import run_graph\n", True),
        ("from lassi_ee.errors import UsageError\n", False),
    ],
)
def test_the_reader_sees_imports_anywhere(tmp_path: Path, source: str, upward: bool) -> None:
    module = tmp_path / "probe.py"
    module.write_text(source)
    targets = imported_modules(module)
    assert any(layer_of(t) > layer_of("lassi_ee.tools.probe") for t in targets) is upward
