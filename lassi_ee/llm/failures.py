"""What a failed LLM request means: worth another attempt, a setting to fix, or a quirk.

The client retries what ``is_transient`` calls transient (rate limits, server
errors, timeouts, lost connections); a model that refuses ``temperature`` or
structured output is detected from its 400 and asked again without it; every
other failure becomes, through ``explain``, one line that names the setting to
fix. Servers word these errors differently, so the reading is by status code,
LangChain's exception types and a few words of the message.
"""

from __future__ import annotations

import httpx
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAuthenticationError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
)

from lassi_ee.llm.errors import LLMConfigError, LLMUnavailable
from lassi_ee.llm.models import ModelSlot
from lassi_ee.llm.usage import Usage
from lassi_ee.settings import Settings


def status_code(exc: BaseException) -> int | None:
    """The HTTP status a failed request carries, on the error or its response."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Rate limits, server errors, timeouts and lost connections: worth another attempt."""
    if isinstance(exc, ModelError):
        return exc.is_retryable
    status = status_code(exc)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    return isinstance(exc, TimeoutError | ConnectionError | httpx.TransportError)


def _is_bad_request(exc: BaseException) -> bool:
    return isinstance(exc, ModelInvalidRequestError) or status_code(exc) in (400, 422)


def refuses_temperature(exc: BaseException) -> bool:
    """A 400 saying the model does not take ``temperature`` (or not the value sent)."""
    message = str(exc).lower()
    refusals = ("unsupported", "not supported", "does not support", "only the default")
    return _is_bad_request(exc) and "temperature" in message and any(r in message for r in refusals)


def lacks_structured_output(exc: BaseException) -> bool:
    """A 400 about the response format or tools that structured output sends.

    llama-cpp-python's server answers the same refusal (a ``json_schema`` response format
    it does not know) with a 500 carrying the request's validation error; retried, it
    would only fail again, so that 500 counts as the refusal too.
    """
    message = str(exc).lower()
    names_it = any(
        word in message for word in ("response_format", "json_schema", "tool", "function")
    )
    refused = _is_bad_request(exc) or (status_code(exc) == 500 and "validation error" in message)
    return refused and names_it


def first_line(exc: BaseException) -> str:
    """The error's first line, at most 200 characters: enough to recognise it in a log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def explain(
    exc: Exception, role: str, slot: ModelSlot, settings: Settings, spent: Usage
) -> LLMUnavailable | LLMConfigError | None:
    """The one-line error for a request that failed for good, naming what to fix; None
    when the failure is not one of these (it is raised as it is). ``spent`` is what the
    failed operation had already used."""
    status = status_code(exc)
    detail = first_line(exc)
    where = f" at {settings.base_url}" if settings.base_url else ""
    if is_transient(exc):
        return LLMUnavailable(
            f"the LLM server{where} for '{role}' (model '{slot.name}') kept failing after "
            f"{settings.llm_max_attempts} attempts ({detail})",
            usage=spent,
        )
    from_settings = slot.origin.startswith("LASSI_")
    if isinstance(exc, ModelAuthenticationError | ModelPermissionDeniedError) or status in (
        401,
        403,
    ):
        fix = (
            "set LASSI_API_KEY (or OPENAI_API_KEY) to a valid key, and check LASSI_BASE_URL"
            if from_settings
            else f"check the API key of {slot.origin}"
        )
        return LLMConfigError(
            f"the LLM server{where} refused the credentials for model '{slot.name}' "
            f"(status {status or 'auth'}): {fix}",
            usage=spent,
        )
    if isinstance(exc, ModelNotFoundError) or status == 404:
        return LLMConfigError(
            f"model '{slot.name}' was not found{where}: set {slot.origin} to a model the "
            "server serves" + (", or fix LASSI_BASE_URL" if from_settings else ""),
            usage=spent,
        )
    if isinstance(exc, ContextOverflowError):
        return LLMConfigError(
            f"the '{role}' prompt is too long for model '{slot.name}': choose a model with "
            f"a larger context window ({slot.origin}) or lower LASSI_MAX_OUTPUT_TOKENS",
            usage=spent,
        )
    if isinstance(exc, ModelInvalidRequestError) or status in (400, 422):
        return LLMConfigError(
            f"model '{slot.name}' rejected the '{role}' request ({detail}): check "
            f"{slot.origin}, LASSI_BASE_URL and LASSI_MAX_OUTPUT_TOKENS",
            usage=spent,
        )
    return None
