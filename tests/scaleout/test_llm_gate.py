"""The limit on LLM requests in flight: per process without Ray, across the cluster with
Ray (one actor per endpoint). A scripted model records when each request starts and ends;
with a limit of 1 no two overlap, without one they do."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from lassi_ee.devices import cpu_device
from lassi_ee.llm.client import LLM
from lassi_ee.llm.fake import FakeCall, RoleScriptedChatModel
from lassi_ee.llm.models import build_models
from lassi_ee.llm.usage import Usage
from lassi_ee.settings import Settings

PROMPT = {"docs": "Avoid busy waiting.", "device": cpu_device()}
REQUEST_S = 0.5


def ask(settings: Settings, log: Path, gate_from_ray: bool) -> None:
    """One summarize_docs request whose (scripted) reply takes REQUEST_S."""

    def slow_reply(_call: FakeCall) -> str:
        start = time.time()
        time.sleep(REQUEST_S)
        with log.open("a") as handle:
            handle.write(f"{start} {time.time()}\n")
        return "- avoid busy waiting"

    gate = None
    if gate_from_ray:
        from lassi_ee.campaign.ray_engine import ray_request_gate

        gate = ray_request_gate(settings)
    model = RoleScriptedChatModel(scripts={"summarize_docs": slow_reply})
    LLM(build_models(settings, model), settings, gate).text("summarize_docs", PROMPT, usage=Usage())


def overlapping(log: Path) -> bool:
    spans = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    return any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2))


@pytest.mark.parametrize(("limit", "overlap"), [(None, True), (1, False)])
def test_threads_of_one_process_keep_the_limit(
    tmp_path: Path, limit: int | None, overlap: bool
) -> None:
    settings = Settings(llm_max_concurrent=limit, base_url=f"http://127.0.0.1:9/{limit}")
    log = tmp_path / "requests.log"
    threads = [threading.Thread(target=ask, args=(settings, log, False)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.read_text().splitlines()) == 4
    assert overlapping(log) is overlap


@pytest.mark.usefixtures("ray_instance")
@pytest.mark.parametrize(("limit", "overlap"), [(None, True), (1, False)])
@pytest.mark.server
def test_ray_tasks_keep_one_cluster_wide_limit(
    tmp_path: Path, limit: int | None, overlap: bool
) -> None:
    import ray

    settings = Settings(llm_max_concurrent=limit, base_url=f"http://127.0.0.1:9/ray-{limit}")
    log = tmp_path / "requests.log"
    remote_ask = ray.remote(num_cpus=0)(ask)
    ray.get([remote_ask.remote(settings, log, True) for _ in range(4)], timeout=120)
    assert len(log.read_text().splitlines()) == 4
    assert overlapping(log) is overlap  # 4 tasks, 4 processes


@pytest.mark.usefixtures("ray_instance")
@pytest.mark.server
def test_a_slot_never_given_back_expires_after_its_lease() -> None:
    import ray

    from lassi_ee.campaign.ray_engine import request_slots

    slots = request_slots("http://127.0.0.1:9/lease")
    ray.get(slots.acquire.remote(1, 1.0))  # never released, as by a worker killed mid-request
    start = time.monotonic()
    token = ray.get(slots.acquire.remote(1, 30.0), timeout=20)
    assert 0.5 < time.monotonic() - start < 10
    assert ray.get(slots.in_flight.remote()) == 1
    ray.get(slots.release.remote(token))
    assert ray.get(slots.in_flight.remote()) == 0
