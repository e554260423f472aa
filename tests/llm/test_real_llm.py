"""A whole CPU trial driven by the real local model (Qwen2.5-Coder-0.5B-Instruct).

Marked ``realllm``: it needs the model file and a llama.cpp server (``make local-llm``
makes both in .cache/local-llm) and skips with one line where either is missing, as on
CI, which never downloads the model. It asserts what must hold whatever a weak model
says: the trial ends with a result (improved or not), and no reply the server sent was
dropped unseen: the server's count of completions equals the trial's, every reply has a
fate, and every reply the trial says it used is in the trial (a version's program, a
verdict, a plan).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lassi_ee.api import run_graph
from lassi_ee.llm.local_server import LocalServer, ServerConfig, start_server
from lassi_ee.llm.replies import extract_code
from lassi_ee.llm.usage import RoleUsage
from lassi_ee.nodes.common import TRANSCRIPT_FILE
from lassi_ee.settings import Settings
from lassi_ee.tools.program_text import normalized
from lassi_ee.trials import read_trial
from tests.helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "local-llm"
MODEL = Path(os.environ.get("LASSI_TEST_GGUF", CACHE / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))
SERVER_PYTHON = CACHE / "server-venv" / "bin" / "python"
PROGRAM = ROOT / "lassi_ee" / "demo" / "programs" / "heat2d-omp"
CODE_ROLES = ("vanilla", "refactor", "fix_compile", "fix_runtime")

pytestmark = [pytest.mark.realllm, pytest.mark.trial]


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    if not MODEL.is_file():
        pytest.skip(f"no model file at {MODEL}: `make local-llm` fetches it")
    if shutil.which("llama-server") is None and not SERVER_PYTHON.exists():
        pytest.skip(f"no llama.cpp server (llama-server, or {SERVER_PYTHON}): `make local-llm`")
    config = ServerConfig(
        model=MODEL,
        port=free_port(),
        context_tokens=16384,
        python=str(SERVER_PYTHON),
        alias="qwen2.5-coder-0.5b-instruct",
        log_path=tmp_path_factory.mktemp("server") / "server.log",
    )
    with start_server(config) as server:
        yield server


def _completions_served(log: Path) -> int:
    return sum("POST /v1/chat/completions" in line for line in log.read_text().splitlines())


@pytest.mark.timeout(3600)
def test_a_real_model_drives_a_whole_cpu_trial_and_no_reply_is_dropped(
    real_server: LocalServer, settings: Settings
) -> None:
    settings = settings.with_overrides(
        base_url=real_server.base_url,
        generate_model=real_server.model_name,
        max_iterations=1,
        max_self_corrections=1,
        max_output_tokens=4096,
        repeats=2,
    )
    before = _completions_served(real_server.log_path)
    result = run_graph(PROGRAM, "cpu", settings=settings, thread_id="real-llm")

    assert result.status in ("improved", "no_improvement"), result.stop_reason
    served = _completions_served(real_server.log_path) - before
    transcript = [
        json.loads(line)
        for line in (settings.runs_dir / "real-llm" / TRANSCRIPT_FILE).read_text().splitlines()
    ]
    assert served == result.usage.calls == len(transcript) > 0
    assert {entry["fate"] for entry in transcript} <= {"used", "continued", "reasked", "unusable"}
    for role, spent in result.usage.by_role.items():
        fates = [e["fate"] for e in transcript if e["role"] == role]
        assert spent.used == fates.count("used"), role

    state = _final_state("real-llm", settings)
    # a used program is a version of the trial, or the source or an earlier version again
    known = [state["source_code"], *(c.code for c in state["history"] if c.code)]
    versions = {normalized(code) for code in known}
    for entry in transcript:
        if entry["role"] in CODE_ROLES and entry["fate"] == "used":
            program = extract_code(entry["reply"])
            assert program is not None and normalized(program) in versions, entry["reply"][:300]
    judged = [c for c in state["history"] if c.verdict is not None and c.verdict.by == "judge"]
    assert len(judged) == result.usage.by_role.get("judge", RoleUsage()).used


def _final_state(thread_id: str, settings: Settings) -> dict[str, Any]:
    return dict(read_trial(thread_id, settings).state)
