"""A local model behind an OpenAI-compatible server on 127.0.0.1, started and stopped here.

lassi-ee talks to any OpenAI-compatible endpoint (``--base-url``); this module starts one
for a GGUF file a user has, with llama.cpp: its own ``llama-server`` where that is on the
PATH (Debian and Homebrew package it), else llama-cpp-python's server from a Python that
has it (``make local-llm`` builds one). The file is checked first (llm/gguf.py), the port
must be free, and the server must answer ``/v1/models`` before the base URL is handed out;
each of these failing is one line. The server listens on 127.0.0.1 only, in its own
process group, and ``stop`` ends every process it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lassi_ee.errors import LassiError, UsageError
from lassi_ee.llm.gguf import GGUFInfo, check_gguf

ServerKind = Literal["llama-server", "llama-cpp-python"]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerConfig:
    """How to serve one model file."""

    model: Path
    port: int = 8080
    context_tokens: int | None = None  # None: the model's own, at most 32768
    threads: int | None = None  # None: every core
    alias: str | None = None  # the model name requests use; None: the file's stem
    sha256: str | None = None  # pinned hash the file must have
    python: str | None = None  # an interpreter with llama_cpp, when no llama-server is used
    kind: ServerKind | None = None  # None: llama-server if on PATH, else llama-cpp-python
    log_path: Path | None = None  # the server's own output; None: server_log_path's
    start_timeout_s: float = 300.0


def port_is_free(port: int) -> bool:
    """Whether nothing listens on HOST:``port`` (a bind that succeeds, then is released).

    SO_REUSEADDR, as the servers themselves set it: the connections a stopped server
    leaves in TIME_WAIT do not keep a new one from listening there.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _has_llama_cpp(python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", "import llama_cpp.server"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def server_kind(config: ServerConfig) -> tuple[ServerKind, str]:
    """Which server serves the model, and its program: a UsageError when there is none."""
    llama_server = shutil.which("llama-server")
    python = config.python or sys.executable
    if config.kind == "llama-server" or (config.kind is None and llama_server):
        if llama_server is None:
            raise UsageError(
                "llama-server is not on the PATH: install llama.cpp, or use "
                "--server llama-cpp-python with a Python that has it"
            )
        return "llama-server", llama_server
    if not Path(python).exists() and shutil.which(python) is None:
        raise UsageError(f"{python} does not exist: give a Python that has llama-cpp-python")
    if not _has_llama_cpp(python):
        raise UsageError(
            f"no llama.cpp server here: llama-server is not on the PATH and {python} has no "
            "llama-cpp-python server; run `make local-llm` (it builds one), or install "
            "llama.cpp's llama-server"
        )
    return "llama-cpp-python", python


def server_command(
    kind: ServerKind, program: str, config: ServerConfig, info: GGUFInfo
) -> list[str]:
    """The command line that serves ``config.model`` on HOST:port."""
    context = str(context_tokens(config, info))
    threads = str(config.threads or os.cpu_count() or 1)
    alias = served_name(config)
    if kind == "llama-server":
        return [
            program, "--model", str(config.model), "--host", HOST, "--port", str(config.port),
            "--ctx-size", context, "--threads", threads, "--alias", alias, "--parallel", "1",
        ]  # fmt: skip
    return [
        program, "-m", "llama_cpp.server", "--model", str(config.model), "--host", HOST,
        "--port", str(config.port), "--n_ctx", context, "--n_threads", threads,
        "--model_alias", alias,
    ]  # fmt: skip


def context_tokens(config: ServerConfig, info: GGUFInfo) -> int:
    """The context window to serve with: as asked, else the model's own up to 32768."""
    if config.context_tokens is not None:
        return config.context_tokens
    return min(info.context_length or 4096, 32768)


def server_log_path(config: ServerConfig) -> Path:
    """Where the server writes its output: as asked, else beside the model, named by the
    port, so that a second server of the same file on another port keeps its own log."""
    return config.log_path or config.model.with_suffix(f".{config.port}.server.log")


def served_name(config: ServerConfig) -> str:
    return config.alias or config.model.stem


@dataclass
class LocalServer:
    """A running server; ``stop`` it (or use it as a context manager)."""

    config: ServerConfig
    info: GGUFInfo
    kind: ServerKind
    process: subprocess.Popen[bytes]
    log_path: Path
    started_s: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.config.port}/v1"

    @property
    def model_name(self) -> str:
        return served_name(self.config)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        """End the server and everything it started: SIGTERM, then SIGKILL after ``grace_s``."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_tail(path: Path, lines: int = 1) -> str:
    """The last non-empty lines of a server's log, for the one line that says why it failed."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "no log"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) if kept else "no output"


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            json.loads(response.read())
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_server(config: ServerConfig) -> LocalServer:
    """Check the model file and the port, start the server, and wait until it answers."""
    info = check_gguf(config.model, config.sha256)
    if not info.has_chat_template:
        raise UsageError(
            f"{config.model} has no chat template in its metadata: lassi-ee sends chat "
            "requests; use an instruct (chat) model's GGUF"
        )
    if not port_is_free(config.port):
        raise UsageError(
            f"port {config.port} on {HOST} is in use (another server?): choose another with "
            "--port, or stop what listens there"
        )
    kind, program = server_kind(config)
    log_path = server_log_path(config)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(kind, program, config, info),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends all of it
        )
    server = LocalServer(config, info, kind, process, log_path)
    deadline = time.monotonic() + config.start_timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            raise LassiError(
                f"the {kind} server exited with status {process.returncode} before it "
                f"answered: {log_tail(log_path, 3)} (whole log: {log_path})"
            )
        if _answers(server.base_url):
            return server
        time.sleep(0.5)
    server.stop()
    raise LassiError(
        f"the {kind} server did not answer on {server.base_url} within "
        f"{config.start_timeout_s:.0f} s: {log_tail(log_path)} (whole log: {log_path})"
    )
