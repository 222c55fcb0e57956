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
from instructor.core.exceptions import InstructorRetryException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ..errors import ModelError

T = TypeVar("T")
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
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):  # timeouts and resets included
        return True
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return exc.code != "insufficient_quota"
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


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
        raise model_error(e, retrying.statistics.get("attempt_number", 1)) from e


def model_error(exc: BaseException, attempts: int) -> ModelError:
    """The error record's reason: what failed last, after how many attempts, and what it cost."""
    cause = root_cause(exc)
    last_output = None
    tokens = 0
    if isinstance(exc, InstructorRetryException):
        usage = exc.total_usage
        tokens = int(getattr(usage, "total_tokens", 0) or 0)
        if exc.last_completion is not None:
            last_output = _completion_text(exc.last_completion)
    if isinstance(cause, openai.APIStatusError):
        what = f"HTTP {cause.status_code} from the model endpoint"
    elif isinstance(cause, openai.APITimeoutError | httpx2.TimeoutException):
        what = "the model endpoint timed out"
    elif isinstance(cause, openai.APIConnectionError | httpx2.TransportError):
        what = "could not connect to the model endpoint"
    elif isinstance(exc, InstructorRetryException):
        what = f"the model's answer failed validation {exc.n_attempts} times: {_first_line(cause)}"
    else:
        what = f"{type(cause).__name__}: {_first_line(cause)}"
    return ModelError(f"{what} ({attempts} attempt(s))", attempts=attempts, last_output=last_output, tokens=tokens)


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
