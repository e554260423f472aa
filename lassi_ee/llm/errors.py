"""Why an LLM call gave nothing usable, as one-line LassiErrors.

Each carries the ``Usage`` the failed operation had already spent (re-asks,
continuations), so the graph can still account for it.
"""

from __future__ import annotations

from lassi_ee.errors import LassiError, TrialInterrupted
from lassi_ee.llm.usage import Usage


class LLMError(LassiError):
    """Base of the LLM layer's errors."""

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage or Usage()


class BudgetExhausted(LLMError):
    """The trial's token or money budget does not allow another call: finalize with what exists."""


class LLMUnavailable(LLMError, TrialInterrupted):
    """The server kept failing (rate limits, 5xx, timeouts, no connection) after every
    allowed attempt: an outage, which interrupts the trial instead of ending it."""


class LLMConfigError(LLMError):
    """The server refused the request itself (key, model, request): a setting is wrong."""


class NoUsableReply(LLMError):
    """The model answered, but not in a usable form, even after the allowed re-asks."""
