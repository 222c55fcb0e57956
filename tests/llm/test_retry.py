"""The retry policy: which failures are retried, how long it waits, when it gives up."""

from __future__ import annotations

import asyncio
import email.utils

import httpx2
import openai
import pytest
from instructor.core.exceptions import InstructorRetryException
from pydantic import BaseModel, ValidationError

from extractor.errors import ModelError
from extractor.llm.retry import BACKOFF_CAP, RETRY_AFTER_CAP, backoff, is_retryable, retry_after, with_retries

_REQUEST = httpx2.Request("POST", "http://llm.test/v1/chat/completions")


def _status(code: int, headers: dict[str, str] | None = None, body: object = None) -> openai.APIStatusError:
    response = httpx2.Response(code, headers=headers or {}, request=_REQUEST)
    cls = {429: openai.RateLimitError, 500: openai.InternalServerError, 400: openai.BadRequestError,
           401: openai.AuthenticationError}.get(code, openai.APIStatusError)
    return cls(f"status {code}", response=response, body=body)


def _validation_error() -> ValidationError:
    class M(BaseModel):
        x: int

    try:
        M.model_validate({"x": "no"})
    except ValidationError as e:
        return e
    raise AssertionError


def _wrapped(cause: BaseException) -> InstructorRetryException:
    try:
        raise InstructorRetryException("failed", n_attempts=1, total_usage=None) from cause
    except InstructorRetryException as e:
        return e


@pytest.mark.parametrize(("exc", "expected"), [
    (_status(429), True),
    (_status(429, body={"code": "insufficient_quota"}), False),
    (_status(500), True),
    (_status(503), True),
    (_status(408), True),
    (_status(400), False),
    (_status(401), False),
    (openai.APITimeoutError(request=_REQUEST), True),
    (openai.APIConnectionError(request=_REQUEST), True),
    (httpx2.ConnectError("reset"), True),
    (_validation_error(), False),
    (ValueError("bug"), False),
    (_wrapped(_status(429)), True),
    (_wrapped(_validation_error()), False),
])
def test_retryable_or_not(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


def test_retry_after_in_seconds_milliseconds_and_http_dates() -> None:
    assert retry_after(_status(429, {"retry-after": "3"})) == 3.0
    assert retry_after(_status(429, {"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    date = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert retry_after(_status(429, {"retry-after": date}), now=1_000_000.0) == pytest.approx(30.0)
    assert retry_after(_status(429, {"retry-after": "soon"})) is None
    assert retry_after(_status(429)) is None
    assert retry_after(openai.APITimeoutError(request=_REQUEST)) is None


def test_backoff_honours_retry_after_and_caps_it() -> None:
    assert backoff(1, _status(429, {"retry-after": "4"}), rng=lambda: 0.0) == 4.0
    assert backoff(1, _status(429, {"retry-after": "3600"})) == RETRY_AFTER_CAP


def test_backoff_is_jittered_exponential_and_capped() -> None:
    assert [backoff(n, _status(500), rng=lambda: 1.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(1, _status(500), rng=lambda: 0.25) == 0.125
    assert backoff(30, _status(500), rng=lambda: 1.0) == BACKOFF_CAP


def _flaky(failures: list[BaseException]) -> tuple[list[int], object]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    return calls, call


def _recording_sleep() -> tuple[list[float], object]:
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    return sleeps, sleep


def test_retries_until_success_with_the_sleep_patched() -> None:
    calls, call = _flaky([_status(429, {"retry-after": "2"}), _status(500)])
    sleeps, sleep = _recording_sleep()
    assert asyncio.run(with_retries(call, attempts=5, sleep=sleep, rng=lambda: 1.0)) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert sleeps == [2.0, 1.0]


def test_gives_up_after_the_attempts_with_a_model_error() -> None:
    calls, call = _flaky([_status(503)] * 10)
    sleeps, sleep = _recording_sleep()
    with pytest.raises(ModelError) as info:
        asyncio.run(with_retries(call, attempts=4, sleep=sleep))  # type: ignore[arg-type]
    assert len(calls) == 4 and len(sleeps) == 3
    assert info.value.attempts == 4 and "HTTP 503" in str(info.value)


def test_does_not_retry_what_cannot_succeed() -> None:
    calls, call = _flaky([_status(401)])
    sleeps, sleep = _recording_sleep()
    with pytest.raises(ModelError) as info:
        asyncio.run(with_retries(call, attempts=5, sleep=sleep))  # type: ignore[arg-type]
    assert len(calls) == 1 and sleeps == [] and "HTTP 401" in str(info.value)
