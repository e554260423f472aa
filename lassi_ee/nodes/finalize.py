"""Stage 4: explain the best version (when it beat the source) and archive the trial."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel

from lassi_ee.errors import TrialInterrupted
from lassi_ee.llm.errors import LLMError
from lassi_ee.llm.usage import Usage
from lassi_ee.nodes.common import (
    TrialContext,
    archive_dir,
    context_of,
    figures,
    llm_failure,
    prompt_vars,
)
from lassi_ee.state import TrialState

_EXTENSION = {"cuda": ".cu", "hip": ".hip", "openmp": ".cpp"}


def compare(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """An LLM's account of what changed and why it saves energy (the paper's Stage-4 report).

    It compares the source with the best version.
    """
    best = state["best"]
    assert best is not None
    best_figures = figures(best.profile)
    final = state.get("final_check")
    if final is not None and final.confirmation is not None:
        best_figures += f"; re-measured interleaved with the source: {final.confirmation.summary()}"
    try:
        reply = (
            context_of(runtime)
            .llm()
            .text(
                "compare",
                prompt_vars(
                    state,
                    source=state["source_code"],
                    best_code=best.code,
                    source_figures=figures(state["reference"].profile),
                    best_figures=best_figures,
                ),
                usage=state["usage"],
            )
        )
    except LLMError as error:
        update = llm_failure(error)
        update["stop_reason"] = state.get("stop_reason") or update["stop_reason"]
        return {**update, "comparison_error": str(error)}
    return {"comparison": reply.text, "usage": reply.usage}


def categorize(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Sort the comparison report's optimizations into MHO, ACE, DST and PTM.

    As in the paper's Figure 4; done here so that campaign reports need no LLM. Nothing to
    sort without a report.
    """
    comparison = state.get("comparison")
    if not comparison:
        return {"categories": []}
    try:
        values = prompt_vars(state, report=comparison)
        reply = context_of(runtime).llm().categorize(values, usage=state["usage"])
    except LLMError as error:  # the trial is over anyway: keep its result, say what is missing
        if isinstance(error, TrialInterrupted):  # but an outage must not lose the categories
            raise
        return {"categories": [], "usage": error.usage or Usage()}
    return {"categories": reply.items, "usage": reply.usage}


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _dumped(record: BaseModel | None) -> Any:
    return record.model_dump(mode="json") if record is not None else None


def write_archive(state: TrialState, root: Path) -> Path:
    """Every version, verdict, plan and figure of the trial, indexed by manifest.json.

    Written from the checkpointed state alone, so it can be rewritten at any time.
    """
    app = state.get("app")
    extension = _EXTENSION.get(app.manifest.language, ".txt") if app else ".txt"
    versions = []
    for candidate in state.get("history", []):
        folder = root / "versions" / f"v{candidate.version:02d}"
        entry = candidate.model_dump(mode="json", exclude={"code"})
        entry["code_path"] = _write(folder / f"code{extension}", candidate.code)
        _write(folder / "record.json", json.dumps(entry, indent=1))
        versions.append(
            {
                "version": candidate.version,
                "stage": candidate.stage,
                "iteration": candidate.iteration,
                "attempt": candidate.attempt,
                "outcome": candidate.outcome,
                "folder": str(folder),
            }
        )
    files: dict[str, Any] = {}
    if "source_code" in state:
        files["source"] = _write(root / f"source{extension}", state["source_code"])
    best = state.get("best")
    if best is not None:
        files["best"] = _write(root / f"best{extension}", best.code)
    if state.get("docs_summary"):
        files["docs_summary"] = _write(root / "docs_summary.md", state["docs_summary"])
    if state.get("analysis"):
        files["analysis"] = _write(root / "analysis.md", state["analysis"])
    files["plans"] = [
        _write(root / "plans" / f"plan-{n:02d}.md", plan)
        for n, plan in enumerate(state.get("plans", []), 1)
    ]
    if state.get("comparison"):
        files["comparison"] = _write(root / "comparison.md", state["comparison"] or "")
    if state.get("categories"):
        categories = [item.model_dump() for item in state["categories"]]
        files["categories"] = _write(root / "categories.json", json.dumps(categories, indent=1))
    usage = state.get("usage")
    manifest = {
        "source": state.get("source"),
        "device": state["device_info"].model_dump()
        if "device_info" in state
        else state.get("device"),
        "objective": state.get("objective"),
        "error": state.get("error"),
        "stop_reason": state.get("stop_reason"),
        "comparison_error": state.get("comparison_error"),
        "reference": state["reference"].model_dump(mode="json") if "reference" in state else None,
        "best_version": best.version if best else None,
        "decision_rule": _dumped(state.get("decision_rule")),
        "final_rule": _dumped(state.get("final_rule")),
        "final_check": _dumped(state.get("final_check")),
        "iterations": state.get("iteration", 0),
        "started_unix": state.get("started_unix"),
        "finished_unix": state.get("finished_unix"),
        "self_corrections": sum(1 for c in state.get("history", []) if c.attempt > 0),
        "versions": versions,
        "files": files,
        "usage": usage.model_dump(mode="json") if usage else None,
        "settings": state.get("trial_settings"),
        "resumed_with": state.get("resumed_with", []),
        "board_moves": state.get("board_moves", []),
    }
    return Path(_write(root / "manifest.json", json.dumps(manifest, indent=1)))


def finalize(state: TrialState, runtime: Runtime[TrialContext]) -> dict[str, Any]:
    """Write the trial's archive; a disk that fails here leaves the state whole to rewrite it."""
    root = archive_dir(context_of(runtime).settings)
    finished_unix = time.time()
    try:
        write_archive({**state, "finished_unix": finished_unix}, root)
    except OSError as error:  # disk full, say: the state keeps everything; rewrite later
        return {
            "finished_unix": finished_unix,
            "archive_path": str(root),
            "archive_error": f"archive incomplete ({error.strerror}); "
            "run `lassi-ee show THREAD --rewrite-archive` once there is space",
        }
    return {"finished_unix": finished_unix, "archive_path": str(root), "archive_error": None}
