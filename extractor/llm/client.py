"""One client for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server), and the
structured call: rate limit -> instructor (re-asks) -> transport retries -> answer and usage.

Everything comes from ``Settings``: the openai SDK is never left to read the environment for the
endpoint or the key. The HTTP transport can be injected (tests, stubs); the SDK path stays real.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx2
import instructor
import openai
from instructor.core.hooks import Hooks
from pydantic import BaseModel

from ..errors import ConfigurationError, ModelError
from ..models import Usage
from ..settings import Settings
from .prompt import Prompt
from .retry import with_retries
from .usage import usage

# instructor logs every failed attempt at ERROR; without a handler anywhere Python's last-resort
# handler would print them all. A NullHandler leaves them to the application's logging set-up.
logging.getLogger("instructor").addHandler(logging.NullHandler())

OPENAI_URL = "https://api.openai.com/v1"
_NO_KEY = "not-needed"  # local servers ignore the key; the SDK insists on one
_MODES = {"tools": instructor.Mode.TOOLS, "json": instructor.Mode.JSON}
M = TypeVar("M", bound=BaseModel)


class RateLimiter:
    """Spaces request starts ``60 / per_minute`` seconds apart, across every task of the loop."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def acquire(self) -> None:
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval  # reserved before awaiting: no lock needed on one loop
        if slot > now:
            await self._sleep(slot - now)


class _PacedTransport(httpx2.AsyncBaseTransport):
    """Every HTTP request, re-asks and retries included, waits for the rate limiter."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, limiter: RateLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await self._limiter.acquire()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_client(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> instructor.AsyncInstructor:
    """An instructor client on ``settings``' endpoint: the SDK never retries (``retry`` does)."""
    if settings.base_url is None and settings.api_key is None:
        raise ConfigurationError("no model endpoint: set IMR_BASE_URL (vLLM, Ollama, llama.cpp) or IMR_API_KEY (OpenAI)")
    inner = transport or httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(max_connections=max(settings.max_concurrency * 2, 10), max_keepalive_connections=100)
    )
    if settings.requests_per_minute:
        inner = _PacedTransport(inner, RateLimiter(settings.requests_per_minute))
    http = httpx2.AsyncClient(transport=inner, timeout=httpx2.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)))
    key = settings.api_key.get_secret_value() if settings.api_key else _NO_KEY
    sdk = openai.AsyncOpenAI(
        api_key=key, base_url=settings.base_url or OPENAI_URL, max_retries=0, timeout=settings.timeout, http_client=http
    )
    return instructor.from_openai(sdk, mode=_MODES[settings.mode])


@functools.cache
def wire_model(model: type[M]) -> type[M]:
    """The answer model as instructor sends it, built once: given a plain model, instructor builds a
    new wrapper class on every call, which also defeats its cache of the tool's JSON schema."""
    return instructor.openai_schema(model)  # type: ignore[no-any-return]


@dataclass
class Reply(Generic[M]):
    """One structured call's outcome: the answer or the error, and what it spent either way."""

    answer: M | None
    usage: Usage
    error: ModelError | None = None


@dataclass
class ModelCaller:
    """Asks the model for a structured answer with the settings' sampling, re-asks and retries."""

    client: instructor.AsyncInstructor
    settings: Settings
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @property
    def sampling(self) -> dict[str, Any]:
        """The parameters that shape the answer: part of every cache key."""
        params: dict[str, Any] = {"model": self.settings.model, "temperature": self.settings.temperature,
                                  "mode": self.settings.mode}
        if self.settings.seed is not None:
            params["seed"] = self.settings.seed
        return params

    async def ask(self, prompt: Prompt, response_model: type[M]) -> Reply[M]:
        sent = 0

        def count(*_: object, **__: object) -> None:
            nonlocal sent
            sent += 1

        hooks = Hooks()
        hooks.on("completion:kwargs", count)
        params = {k: v for k, v in self.sampling.items() if k != "mode"}

        async def once() -> tuple[M, Any]:
            return await self.client.chat.completions.create_with_completion(  # type: ignore[no-any-return]
                messages=prompt.messages,  # type: ignore[arg-type]
                response_model=wire_model(response_model),
                max_retries=self.settings.max_reasks,
                hooks=hooks,
                **params,
            )

        try:
            answer, completion = await with_retries(once, attempts=self.settings.max_attempts, sleep=self.sleep)
        except ModelError as e:
            return Reply(None, usage(self.settings.model, e.tokens, 0, sent, self.settings.prices), e)
        spent = getattr(completion, "usage", None)
        prompt_tokens = int(getattr(spent, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(spent, "completion_tokens", 0) or 0)
        return Reply(answer, usage(self.settings.model, prompt_tokens, completion_tokens, sent, self.settings.prices))
