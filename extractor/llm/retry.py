"""Transport retries: which failures are worth another try, how long to wait, and the loop.

This layer owns transport retries (the openai client is built with ``max_retries=0``); instructor
owns re-asks on answers that fail the schema. A 429 waits what its Retry-After says; everything
else waits a jittered exponential backoff. When the attempts run out the letter gets a
``ModelError`` that says how many attempts, the last answer and the tokens spent.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ..errors import ModelError

T = TypeVar("T")
# The kinds of ``ModelError`` that are the endpoint's failure, not the answer's (``ENDPOINT_FAILED``).
ENDPOINT_FAILURES = ("transport", "timeout")
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 60.0


def root_cause(exc: BaseException) -> BaseException:
    """The transport error behind instructor's wrapper, or ``exc`` itself."""
    while isinstance(exc, InstructorRetryException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def is_retryable(exc: BaseException) -> bool:
    """True for 429 (not an exhausted quota), 408, 409, 5xx, timeouts and connection failures."""
    exc = root_cause(exc)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | TimeoutError):  # timeouts and resets
        return True
    if isinstance(exc, openai.APIStatusError):
        if rejected_mode(exc):
            return False
        if exc.status_code == 429:
            return exc.code != "insufficient_quota"
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


_MODE_WORDS = ("response_format", "json_schema", "json_object", "tool_choice", "tools", "function")


def rejected_mode(exc: openai.APIStatusError) -> bool:
    """The server refused the request's structured-output parameters (a 4xx/500 that names them):
    asking again cannot help, a different IMR_MODE can."""
    if exc.status_code not in (400, 404, 422, 500, 501):
        return False
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in _MODE_WORDS)


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after``: seconds or a date)."""
    exc = root_cause(exc)
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        when = email.utils.parsedate_tz(value)
        if when is None:
            return None
        return max(email.utils.mktime_tz(when) - (time.time() if now is None else now), 0.0)


def backoff(attempt: int, exc: BaseException, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempt + 1``: the server's Retry-After (capped), else full jitter."""
    asked = retry_after(exc)
    if asked is not None:
        return min(asked, RETRY_AFTER_CAP)
    return rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    mode: str = "tools",
    max_tokens: int | None = None,
) -> T:
    """``await call()``, tried up to ``attempts`` times on retryable errors; else a ``ModelError``."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return backoff(state.attempt_number, exc, rng) if exc else 0.0

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts), retry=retry_if_exception(is_retryable), wait=wait, sleep=sleep, reraise=True
    )
    try:
        return await retrying(call)
    except Exception as e:
        raise model_error(e, retrying.statistics.get("attempt_number", 1), mode=mode, max_tokens=max_tokens) from e


def model_error(exc: BaseException, attempts: int, *, mode: str = "tools", max_tokens: int | None = None) -> ModelError:
    """Why the request gave no answer, in words a user can act on, with what it cost and the last answer."""
    cause = root_cause(exc)
    completion = getattr(exc, "last_completion", None)
    last_output = _completion_text(completion) if completion is not None else None
    prompt_tokens, completion_tokens = _spent(exc, completion)
    kind = "invalid"
    # Some servers (llama-cpp-python with tool calls) say "tool_calls" even when the bound stopped them.
    if isinstance(exc, IncompleteOutputException) or (
            isinstance(exc, InstructorRetryException) and max_tokens and completion_tokens >= max_tokens):
        kind, what = "cut_off", f"the answer was cut off at max_tokens={max_tokens} (finish_reason: length)"
    elif isinstance(cause, openai.APIStatusError) and rejected_mode(cause):
        kind = "mode"
        what = (f"the endpoint rejected IMR_MODE={mode} (HTTP {cause.status_code}: {_first_line(cause)}); "
                "use a mode the server supports: tools, json_schema, json_object (llama-cpp-python) or json")
    elif isinstance(cause, openai.APIStatusError):
        kind, what = "transport", f"HTTP {cause.status_code} from the model endpoint"
    elif isinstance(cause, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        kind, what = "timeout", "the model endpoint timed out"
    elif isinstance(cause, openai.APIConnectionError | httpx2.TransportError):
        kind, what = "transport", "could not connect to the model endpoint"
    elif mode == "tools" and completion is not None and not _has_tool_call(completion):
        kind = "mode"
        what = ("the endpoint answered in text instead of the forced tool call: it does not support IMR_MODE=tools "
                "(llama-cpp-python needs --chat_format chatml-function-calling); try json_schema or json_object")
    elif isinstance(exc, InstructorRetryException):
        what = f"the model's answer failed validation: {_first_line(cause)}"
    else:
        what = f"{type(cause).__name__}: {_first_line(cause)}"
    return ModelError(f"{what} ({attempts} attempt(s))", kind=kind, attempts=attempts, last_output=last_output,
                      prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def _spent(exc: BaseException, completion: object) -> tuple[int, int]:
    """Prompt and completion tokens an unsuccessful request still cost."""
    spent = getattr(exc, "total_usage", None) or getattr(completion, "usage", None)
    return (int(getattr(spent, "prompt_tokens", 0) or 0), int(getattr(spent, "completion_tokens", 0) or 0))


def _has_tool_call(completion: object) -> bool:
    try:
        return bool(completion.choices[0].message.tool_calls)  # type: ignore[attr-defined]
    except (AttributeError, IndexError):
        return False


def _completion_text(completion: object) -> str | None:
    try:
        message = completion.choices[0].message  # type: ignore[attr-defined]
    except (AttributeError, IndexError):
        return None
    if message.tool_calls:
        return str(message.tool_calls[0].function.arguments)
    return message.content  # type: ignore[no-any-return]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
