"""Shared fixtures: real compilers, a settings object that keeps work under tmp_path, and
the runs that tests of several folders assert on: a trial killed at every step and a
whole campaign killed once, each run once per session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lassi_ee.settings import Settings
from tests.helpers.scratch import sandbox_work_dir

if TYPE_CHECKING:
    from tests.helpers.killed_campaign import KilledCampaign
    from tests.helpers.killed_chain import KilledChain


def _nvml_gpu_count() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 0


def pytest_configure(config: pytest.Config) -> None:
    """Give Ctrl-C its usual meaning here, and so to every program the tests start.

    A shell's background job (as a CI runner may start the suite) inherits SIGINT
    ignored and passes that on to its children: the tests that send Ctrl-C to the CLI
    would then test the runner. A handled signal is reset to its default at exec, so
    the children get the default that Python turns into KeyboardInterrupt.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The real local model's tests take tens of minutes on a laptop's CPU: they run only
    # when asked for (`make test-realllm`, i.e. `-m realllm`), never as a side effect.
    if "realllm" not in (config.option.markexpr or ""):
        real = pytest.mark.skip(reason="the real local model's tier: `make test-realllm`")
        for item in items:
            if "realllm" in item.keywords:
                item.add_marker(real)
    if _nvml_gpu_count() > 0:
        return
    skip = pytest.mark.skip(reason="no NVIDIA GPU visible through NVML")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LASSI_* variable, config file or OpenAI key of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("LASSI_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LASSI_CONFIG", os.devnull)  # no config file


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    work = sandbox_work_dir()
    yield Settings(
        work_root=work,
        runs_dir=tmp_path / "runs",
        checkpoint_url=str(tmp_path / "checkpoints.sqlite"),
        lock_dir=tmp_path / "locks",
        run_timeout_s=60,
        compile_timeout_s=120,
    )
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def build_c(tmp_path: Path) -> Callable[[str, str], Path]:
    """Compile a small C program with the real system compiler; returns the binary."""

    def build(name: str, code: str) -> Path:
        source = tmp_path / f"{name}.c"
        source.write_text(code)
        binary = tmp_path / name
        subprocess.run(["cc", "-O1", "-o", str(binary), str(source)], check=True)
        return binary

    return build


@pytest.fixture(scope="session")
def killed_campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledCampaign]:
    """A scripted campaign killed in the middle of a trial and run again, once per session
    (see tests/helpers/killed_campaign.py)."""
    from tests.helpers.killed_campaign import run_killed_campaign  # loads the whole stack

    work = sandbox_work_dir()
    yield run_killed_campaign(tmp_path_factory.mktemp("campaign"), work)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def killed_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledChain]:
    """A trial run straight and the same trial killed after every step and resumed, once per
    session (see tests/helpers/killed_chain.py)."""
    from tests.helpers.killed_chain import run_killed_chain  # loads the whole stack

    work = sandbox_work_dir()
    yield run_killed_chain(tmp_path_factory.mktemp("chain"), work)
    shutil.rmtree(work, ignore_errors=True)
