"""A small OpenAI-compatible chat server on 127.0.0.1 for tests.

It answers POST /v1/chat/completions from a script (successes and HTTP errors,
in order) and records every request it receives: path, headers and JSON body.
Non-streaming only, which is how the LLM layer calls ChatOpenAI.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class StubOpenAIServer:
    def __init__(self, *, one_at_a_time: bool = False) -> None:
        """``one_at_a_time``: write one reply at a time, a request that comes meanwhile
        waiting its turn, and finish a reply its client gave up on, as llama-cpp-python's
        server does."""
        self.requests: list[ReceivedRequest] = []
        self._script: deque[tuple[int, dict[str, Any], float]] = deque()
        self._lock = threading.Lock()
        self._writing = threading.Lock() if one_at_a_time else contextlib.nullcontext()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> StubOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reply(
        self,
        content: str,
        *,
        finish_reason: str = "stop",
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        delay_s: float = 0.0,
    ) -> None:
        """Script a successful completion, sent ``delay_s`` after the request came
        (longer than the client's timeout: a request that times out)."""
        body = {
            "id": f"chatcmpl-{len(self._script)}",
            "object": "chat.completion",
            "created": 0,
            "model": "stub",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self._script.append((200, body, delay_s))

    def fail(self, status: int, message: str, *, param: str | None = None) -> None:
        """Script an HTTP error with an OpenAI-style error body."""
        kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit"}
        error = {"message": message, "type": kind.get(status, "server_error"), "param": param}
        self._script.append((status, {"error": error}, 0.0))

    def _next(self, request: ReceivedRequest) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if not self._script:
                return 500, {"error": {"message": "stub script is empty", "type": "server_error"}}
            status, payload, delay_s = self._script.popleft()
        with self._writing:
            time.sleep(delay_s)
        return status, payload

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                request = ReceivedRequest(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                if self.path != "/v1/chat/completions":
                    status, payload = 404, {"error": {"message": f"no route {self.path}"}}
                    stub.requests.append(request)
                else:
                    status, payload = stub._next(request)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler
