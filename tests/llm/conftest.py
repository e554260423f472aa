"""Shared fixtures of the LLM layer's tests: settings isolated from the environment,
a device, and full prompt variables for every role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lassi_ee.devices import Device
from lassi_ee.settings import Settings
from tests.helpers.llm_samples import BETTER, SOURCE
from tests.helpers.openai_stub import StubOpenAIServer


@pytest.fixture
def settings() -> Settings:
    return Settings(llm_backoff_initial_s=0.001, llm_backoff_max_s=0.005, llm_max_attempts=4)


@pytest.fixture
def device() -> Device:
    return Device(
        spec="cuda:0", kind="cuda", name="NVIDIA H100 80GB HBM3", arch="sm_90", memory_gib=79.6
    )


@pytest.fixture
def prompt_vars(device: Device) -> dict[str, Any]:
    """Every variable any role needs (the graph supplies a superset like this)."""
    return {
        "device": device,
        "source": SOURCE,
        "best_code": SOURCE,
        "candidate": BETTER,
        "docs": "Coalesce memory accesses.",
        "docs_summary": "- coalesce accesses",
        "code_analysis": "one kernel, memory bound",
        "source_profile": "no profiler counters: ncu not found on PATH",
        "plan": "1. use 512 threads per block",
        "feedback": "none",
        "compiler_errors": "error: expected ';'",
        "run_failure": "exit status 1",
        "stdout": "",
        "stderr": "an illegal memory access was encountered",
        "source_output": "PASS",
        "candidate_output": "PASS",
        "check_finding": "outputs match within rtol 1e-05",
        "flags": "none",
        "source_figures": "energy 120 J, runtime 1.2 s",
        "best_figures": "energy 100 J, runtime 1.0 s",
        "candidate_figures": "energy 100 J, runtime 1.0 s",
        "report": "1. Larger blocks raise occupancy.",
    }


@pytest.fixture
def stub_server() -> Iterator[StubOpenAIServer]:
    server = StubOpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
