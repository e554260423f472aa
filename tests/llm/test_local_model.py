"""A local GGUF model and its server: the file is checked first, and each way of going
wrong (no file, not GGUF, cut short, another file, no chat template, port in use, no
server program, a server that dies at start) is one line that says what to do."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lassi_ee.cli import main
from lassi_ee.errors import LassiError, UsageError
from lassi_ee.llm.gguf import check_gguf, read_gguf
from lassi_ee.llm.local_server import (
    ServerConfig,
    ServerKind,
    port_is_free,
    server_command,
    server_log_path,
    start_server,
)
from tests.helpers.ports import free_port

TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}"


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf_bytes(*, chat_template: bool = True, tokens: int = 50) -> bytes:
    """A GGUF v3 header as llama.cpp writes one: scalars, strings and a token array."""
    fields: list[bytes] = [
        _string("general.architecture") + struct.pack("<I", 8) + _string("qwen2"),
        _string("general.name") + struct.pack("<I", 8) + _string("Tiny Coder"),
        _string("qwen2.context_length") + struct.pack("<I", 4) + struct.pack("<I", 32768),
        _string("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 15),
        _string("tokenizer.ggml.tokens")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 8, tokens)
        + b"".join(_string(f"t{i}") for i in range(tokens)),
        _string("tokenizer.ggml.scores")
        + struct.pack("<I", 9)
        + struct.pack("<IQ", 6, tokens)
        + struct.pack(f"<{tokens}f", *range(tokens)),
    ]
    if chat_template:
        fields.append(_string("tokenizer.chat_template") + struct.pack("<I", 8) + _string(TEMPLATE))
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(fields))
    return header + b"".join(fields) + b"\0" * 64  # tensor data would follow


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-coder.gguf"
    path.write_bytes(gguf_bytes())
    return path


def test_the_header_says_what_the_model_is(model: Path) -> None:
    info = read_gguf(model)
    assert (info.name, info.architecture, info.context_length, info.file_type) == (
        "Tiny Coder",
        "qwen2",
        32768,
        "Q4_K_M",
    )
    assert info.has_chat_template and info.version == 3
    assert "Tiny Coder, architecture qwen2, Q4_K_M, context 32768 tokens" in info.summary()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 100), "is not a GGUF model file"),
        (lambda p: p.write_bytes(gguf_bytes()[:120]), "is a damaged GGUF file"),
    ],
    ids=["missing", "a zip, not GGUF", "cut short"],
)
def test_a_bad_model_file_is_one_line(
    tmp_path: Path, make: Callable[[Path], object], says: str
) -> None:
    path = tmp_path / "model.gguf"
    make(path)
    with pytest.raises(UsageError) as error:
        read_gguf(path)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_a_file_whose_hash_is_not_the_pinned_one_is_refused(model: Path) -> None:
    right = hashlib.sha256(model.read_bytes()).hexdigest()
    assert check_gguf(model, right.upper()).name == "Tiny Coder"
    with pytest.raises(UsageError, match=f"has sha256 {right}, not the pinned 0{{64}}"):
        check_gguf(model, "0" * 64)


def test_a_port_in_use_is_refused_before_anything_starts(model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is in use"):
            start_server(ServerConfig(model=model, port=port))


def test_a_model_without_a_chat_template_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(gguf_bytes(chat_template=False))
    with pytest.raises(UsageError, match="no chat template"):
        start_server(ServerConfig(model=base, port=free_port()))


def test_no_server_program_says_how_to_get_one(
    model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no llama-server here
    with pytest.raises(UsageError, match="make local-llm"):
        start_server(ServerConfig(model=model, port=free_port(), python=sys.executable))


def test_a_server_that_dies_at_start_is_one_line_with_its_last_words(
    model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    server = bin_dir / "llama-server"
    server.write_text(
        "#!/bin/sh\necho 'loading model'\necho 'error: unknown model architecture: tiny' >&2\n"
        "exit 1\n"
    )
    server.chmod(server.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = ServerConfig(model=model, port=free_port(), log_path=tmp_path / "server.log")
    with pytest.raises(LassiError) as error:
        start_server(config)
    message = str(error.value)
    assert "exited with status 1 before it answered" in message
    assert "unknown model architecture" in message and str(tmp_path / "server.log") in message
    assert port_is_free(config.port)


def test_servers_listen_on_loopback_only(model: Path) -> None:
    info = read_gguf(model)
    config = ServerConfig(model=model, port=8123, threads=2, alias="tiny")
    kinds: tuple[tuple[ServerKind, str], ...] = (
        ("llama-server", "llama-server"),
        ("llama-cpp-python", "python3"),
    )
    for kind, program in kinds:
        command = server_command(kind, program, config, info)
        assert command[command.index("--host") + 1] == "127.0.0.1"
        assert "8123" in command and "32768" in command and "tiny" in command


def test_two_servers_of_one_model_keep_their_own_logs(model: Path, tmp_path: Path) -> None:
    """A second server of the same file (another port) once truncated the first's log."""
    first, second = (ServerConfig(model=model, port=port) for port in (8080, 8091))
    assert server_log_path(first) != server_log_path(second)
    assert server_log_path(first).parent == model.parent
    asked = tmp_path / "mine.log"
    assert server_log_path(dataclasses.replace(first, log_path=asked)) == asked


def test_the_serve_command_refuses_a_missing_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path / "none.gguf")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lassi-ee: model file") and err.count("\n") == 1


FAKE_SERVER = """#!{python}
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Models(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"data": [{{"id": "tiny"}}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Models).serve_forever()
"""


def test_serve_stops_its_server_when_it_is_killed(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server runs in a session of its own; `lassi-ee serve` killed with SIGTERM still
    takes it down, so no model server outlives the command that started it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "llama-server"  # answers /v1/models on 127.0.0.1, as a started one does
    fake.write_text(FAKE_SERVER.format(python=sys.executable))
    fake.chmod(0o755)
    port = free_port()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    serve = subprocess.Popen(
        [sys.executable, "-m", "lassi_ee.cli", "serve", str(model), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert serve.stdout is not None
    lines = [serve.stdout.readline() for _ in range(2)]
    assert f"base URL: http://127.0.0.1:{port}/v1" in lines[1], lines
    assert not port_is_free(port)
    serve.terminate()
    assert serve.wait(timeout=30) == 128 + 15
    deadline = time.monotonic() + 10
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert port_is_free(port)
