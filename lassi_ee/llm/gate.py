"""How many LLM requests may be in flight at once, per endpoint.

A *request gate* is a callable that returns a context manager; the LLM client
holds one around each HTTP request (each attempt, so a retry's back-off wait
holds no slot). Without Ray the gate is a semaphore of this process; a Ray
campaign passes a gate backed by one actor per endpoint, which makes the limit
hold across the whole cluster (lassi_ee/campaign/ray_engine.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

from lassi_ee.settings import Settings

RequestGate = Callable[[], AbstractContextManager[object]]

_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def endpoint_of(settings: Settings) -> str:
    """The name the limit is kept under: the server's base URL, or "openai"."""
    return settings.base_url or "openai"


def ungated() -> AbstractContextManager[object]:
    return contextlib.nullcontext()


def local_gate(settings: Settings) -> RequestGate:
    """At most ``llm_max_concurrent`` requests at once from this process to the endpoint."""
    limit = settings.llm_max_concurrent
    if limit is None:
        return ungated
    key = (endpoint_of(settings), limit)
    with _semaphores_lock:
        semaphore = _semaphores.setdefault(key, threading.BoundedSemaphore(limit))
    return lambda: semaphore
