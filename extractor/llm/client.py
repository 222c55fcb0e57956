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
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx2
import instructor
import openai
from instructor.core.hooks import Hooks
from pydantic import BaseModel

from ..errors import ConfigurationError, ModelError
from ..models import Usage
from ..settings import OPENAI_URL, Settings
from .budget import DEFAULT_CONTEXT, OPENAI_CONTEXT
from .prompt import Prompt
from .retry import with_retries
from .usage import usage

# instructor logs every failed attempt at ERROR; without a handler anywhere Python's last-resort
# handler would print them all. A NullHandler leaves them to the application's logging set-up.
logging.getLogger("instructor").addHandler(logging.NullHandler())

_NO_KEY = "not-needed"  # local servers ignore the key; the SDK insists on one
# How each IMR_MODE asks the server to keep to the answer's schema (README, "LLM backends"):
# tools = a forced tool call; json_schema = OpenAI-style structured outputs; json_object = JSON
# mode plus llama-cpp-python's own ``schema`` key (it rejects json_schema); json = the schema
# in the prompt only, for servers with none of these.
_MODES = {"tools": instructor.Mode.TOOLS, "json_schema": instructor.Mode.JSON_SCHEMA,
          "json_object": instructor.Mode.JSON, "json": instructor.Mode.MD_JSON}
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


async def discover_context(sdk: openai.AsyncOpenAI, settings: Settings) -> int:
    """The served model's context window where the server says it: vLLM's ``max_model_len`` in
    ``/models``, llama-server's ``n_ctx`` in ``/props``; OpenAI's models hold 128k; else 8192."""
    if settings.base_url is None:
        return OPENAI_CONTEXT
    try:
        listing = await sdk.get("/models", cast_to=object)
        for entry in listing.get("data", []) if isinstance(listing, dict) else []:
            if entry.get("id") == settings.model and entry.get("max_model_len"):
                return int(entry["max_model_len"])
        props = await sdk.get(str(sdk.base_url).rstrip("/").removesuffix("/v1") + "/props", cast_to=object)
        n_ctx = props.get("default_generation_settings", {}).get("n_ctx") if isinstance(props, dict) else None
        if n_ctx:
            return int(n_ctx)
    except (openai.APIError, httpx2.HTTPError, ValueError, TypeError, AttributeError):
        pass  # a server that does not say: the default
    return DEFAULT_CONTEXT


@functools.cache
def wire_model(model: type[M]) -> type[M]:
    """The answer model as instructor sends it, built once: given a plain model, instructor builds a
    new wrapper class on every call, which also defeats its cache of the tool's JSON schema."""
    return instructor.openai_schema(model)  # type: ignore[no-any-return]


@dataclass
class Reply(Generic[M]):
    """One structured call's outcome: the answer or the error, and what it spent either way.

    ``raw`` is the answer's text when it failed validation, so that its valid items can still be
    kept (``schema.salvage``); ``cut_off`` says the answer stopped at ``max_tokens``."""

    answer: M | None
    usage: Usage
    error: ModelError | None = None
    raw: str | None = None

    @property
    def cut_off(self) -> bool:
        return self.error is not None and self.error.kind == "cut_off"


@dataclass
class ModelCaller:
    """Asks the model for a structured answer with the settings' sampling, bound and retries.

    Each call is one attempt at the answer (instructor does not re-ask): the backends re-ask
    for just the items that were wrong, which a whole-answer re-ask cannot do."""

    client: instructor.AsyncInstructor
    settings: Settings
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _context: int | None = field(default=None, init=False)
    _context_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def context_window(self) -> int:
        """The context the prompts must fit: the setting, else what the server reports (asked once)."""
        if self.settings.context_tokens:
            return self.settings.context_tokens
        async with self._context_lock:
            if self._context is None:
                self._context = await discover_context(self.client.client, self.settings)  # type: ignore[arg-type]
            return self._context

    @property
    def sampling(self) -> dict[str, Any]:
        """The parameters that shape the answer: part of every cache key."""
        params: dict[str, Any] = {"model": self.settings.model, "temperature": self.settings.temperature,
                                  "mode": self.settings.mode}
        if self.settings.seed is not None:
            params["seed"] = self.settings.seed
        return params

    def request_params(self, response_model: type[BaseModel], max_tokens: int) -> dict[str, Any]:
        """What every request carries besides the messages and what instructor adds for the mode."""
        params = {k: v for k, v in self.sampling.items() if k != "mode"}
        params["max_tokens"] = max_tokens
        if self.settings.mode == "json_object":
            schema = wire_model(response_model).model_json_schema()
            params["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        return params

    async def aclose(self) -> None:
        await self.client.client.close()  # type: ignore[union-attr]

    async def ask(self, prompt: Prompt, response_model: type[M], *, max_tokens: int) -> Reply[M]:
        sent = 0

        def count(*_: object, **__: object) -> None:
            nonlocal sent
            sent += 1

        hooks = Hooks()
        hooks.on("completion:kwargs", count)
        params = self.request_params(response_model, max_tokens)

        async def once() -> tuple[M, Any]:
            # The SDK's timeout bounds each read; this bounds the whole request, however it trickles.
            return await asyncio.wait_for(  # type: ignore[no-any-return]
                self.client.chat.completions.create_with_completion(
                    messages=prompt.messages,  # type: ignore[arg-type]
                    response_model=wire_model(response_model),
                    max_retries=0,  # one attempt: the backends re-ask only for what was wrong
                    hooks=hooks,
                    **params,
                ),
                self.settings.timeout,
            )

        try:
            answer, completion = await with_retries(once, attempts=self.settings.max_attempts, sleep=self.sleep,
                                                    mode=self.settings.mode, max_tokens=max_tokens)
        except ModelError as e:
            spent = usage(self.settings.model, e.prompt_tokens, e.completion_tokens, sent, self.settings.prices)
            return Reply(None, spent, e, raw=e.last_output)
        spent_tokens = getattr(completion, "usage", None)
        prompt_tokens = int(getattr(spent_tokens, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(spent_tokens, "completion_tokens", 0) or 0)
        return Reply(answer, usage(self.settings.model, prompt_tokens, completion_tokens, sent, self.settings.prices))
