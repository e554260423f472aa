"""langgraph.json under `langgraph dev` (what LangGraph Studio talks to): a trial submitted
through langgraph-sdk runs to the end, its state holds the best code, and a run replayed
from one of its checkpoints (time travel) finishes too.

The server listens on 127.0.0.1 only, with LangSmith tracing off; the demo model answers,
and the program is compiled, run and timed for real on the cpu device.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lassi_ee.llm.demo import PROGRAMS
from tests.helpers.ports import free_port
from tests.helpers.scratch import sandbox_work_dir

pytestmark = [pytest.mark.trial, pytest.mark.server]

REPO = Path(__file__).resolve().parents[2]


def langgraph_cli() -> str:
    path = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which(
        "langgraph"
    )
    if path is None:
        pytest.skip("langgraph-cli is not installed: pip install -e '.[studio]'")
    return path


def config_in(folder: Path) -> Path:
    """The repository's langgraph.json with its paths made absolute: the server resolves
    them from its working directory, and it keeps threads in .langgraph_api/ there, which
    should be a scratch folder, not the checkout."""
    config = json.loads((REPO / "langgraph.json").read_text())
    config["dependencies"] = [str(REPO / d) for d in config["dependencies"]]
    config["graphs"] = {name: str(REPO / spec) for name, spec in config["graphs"].items()}
    config.pop("env", None)  # a .env in the checkout must not change the test
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def studio_server(tmp_path):
    """`langgraph dev` on a free port, its settings pointing into tmp dirs; stopped after."""
    work = sandbox_work_dir()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LASSI_", "LANGSMITH_", "LANGCHAIN_", "OPENAI_"))
    }
    env.update(
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        PYTHONPATH=str(REPO),  # this checkout's lassi_ee, whatever is installed
        LASSI_GENERATE_MODEL="demo",
        LASSI_WORK_ROOT=str(work),
        LASSI_RUNS_DIR=str(tmp_path / "runs"),
        LASSI_CHECKPOINT_URL=str(tmp_path / "checkpoints.sqlite"),
        LASSI_CACHE_DIR=str(tmp_path / "source-cache"),
        LASSI_LOCK_DIR=str(tmp_path / "locks"),
        LASSI_REPEATS="2",
        LASSI_MIN_WINDOW_S="0.3",
        # only the hoisted version (about ten times faster) counts as lower, even on a busy machine
        LASSI_MIN_ENERGY_GAIN="0.5",
        LASSI_NOISE_SIGMAS="0",
    )
    command = [
        langgraph_cli(), "dev", "--config", str(config_in(tmp_path)),
        "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload",
    ]  # fmt: skip
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "langgraph dev did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def test_trial_runs_under_langgraph_dev_and_replays_from_a_checkpoint(studio_server):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=studio_server)
    thread = client.threads.create()
    thread_id = thread["thread_id"]
    source = str(PROGRAMS / "heat2d-omp")
    run = client.runs.create(thread_id, "trial", input={"source": source, "device": "cpu"})
    client.runs.join(thread_id, run["run_id"])
    assert client.runs.get(thread_id, run["run_id"])["status"] == "success"

    state = client.threads.get_state(thread_id)
    values = state["values"]
    assert not state["next"] and values.get("error") is None
    assert "make_coefficients" in values["best"]["code"]  # the hoisted version won
    assert values["archive_path"].endswith(thread_id)  # nodes saw the server's thread id
    assert Path(values["archive_path"], "manifest.json").is_file()

    # time travel: rerun the trial from the checkpoint before Stage 4's comparison
    history = client.threads.get_history(thread_id, limit=200)
    before_compare = next((c for c in history if c["next"] == ["compare"]), None)
    # no comparison follows a Stage 4 that did not hold the gain (a swamped machine can do it)
    assert before_compare is not None, values.get("final_check")
    replay = client.runs.create(
        thread_id, "trial", input=None, checkpoint_id=before_compare["checkpoint"]["checkpoint_id"]
    )
    client.runs.join(thread_id, replay["run_id"])
    assert client.runs.get(thread_id, replay["run_id"])["status"] == "success"
    replayed = client.threads.get_state(thread_id)
    assert replayed["checkpoint"]["checkpoint_id"] != state["checkpoint"]["checkpoint_id"]
    assert replayed["values"]["comparison"] == values["comparison"]  # the scripted model agrees
    assert replayed["values"]["best"]["version"] == values["best"]["version"]
