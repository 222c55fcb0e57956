"""The exact requests the online path would send, kept instead of sent.

``RequestRecorder`` is a model caller whose HTTP transport keeps each request and sends nothing: the
body is built by the same openai SDK, instructor mode, prompt, schema and ``max_tokens`` as online,
so a batch engine receives byte for byte what the endpoint would have. A request's ``custom_id`` is
the hash of its body, which is how ``batch collect`` finds the answer to each question it asks again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Final

import httpx2
import instructor
from pydantic import BaseModel, SecretStr

from ..errors import ModelError
from ..llm.budget import OPENAI_CONTEXT
from ..llm.client import ModelCaller, Reply, make_client
from ..llm.prompt import Prompt
from ..models import Usage
from ..settings import Settings

URL: Final = "/v1/chat/completions"


class _Kept(Exception):
    """Raised by the transport once it has the request: nothing is sent."""


class _KeepingTransport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.kept.append(json.loads(await request.aread()))
        raise _Kept


def local_client(settings: Settings, transport: httpx2.AsyncBaseTransport) -> instructor.AsyncInstructor:
    """The online path's client on a transport that never reaches an endpoint. The SDK insists on
    a key: a placeholder, unless one is set (a request body never carries the key either way)."""
    return make_client(settings.model_copy(update={"api_key": settings.api_key or SecretStr("unused")}), transport=transport)


def custom_id(body: dict[str, Any]) -> str:
    """The request's id in batch files: the same body always gets the same id, on any machine."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "imr-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def batch_settings(settings: Settings) -> Settings:
    """The settings a batch is prepared with: a fixed context window, found as the online path finds
    it (``IMR_CONTEXT_TOKENS``; else what the configured endpoint reports; OpenAI's with none), so
    that letters are split into the same parts. ``collect`` then uses this window as it is."""
    if settings.context_tokens:
        return settings
    if settings.base_url is None:
        return settings.model_copy(update={"context_tokens": OPENAI_CONTEXT})
    caller = ModelCaller(make_client(settings.model_copy(update={"timeout": min(settings.timeout, 10.0)})), settings)
    try:
        return settings.model_copy(update={"context_tokens": await caller.context_window()})
    finally:
        await caller.aclose()


@dataclass
class RequestRecorder(ModelCaller):
    """Asks nothing: keeps each request (``requests``: custom_id -> body) and answers ``deferred``."""

    transport: _KeepingTransport = field(default_factory=_KeepingTransport)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    _one_at_a_time: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> RequestRecorder:
        quiet = settings.model_copy(update={"max_attempts": 1, "requests_per_minute": None})
        transport = _KeepingTransport()
        return cls(local_client(quiet, transport), quiet, transport=transport)

    async def body(self, prompt: Prompt, response_model: type[BaseModel], max_tokens: int) -> dict[str, Any]:
        """The body the online path sends for this prompt."""
        async with self._one_at_a_time:
            await super().ask(prompt, response_model, max_tokens=max_tokens)
            return self.transport.kept.pop()

    async def ask(self, prompt: Prompt, response_model: type[Any], *, max_tokens: int) -> Reply[Any]:
        body = await self.body(prompt, response_model, max_tokens)
        self.requests[custom_id(body)] = body
        return Reply(None, Usage(), ModelError("deferred to a batch", kind="deferred"))


def batch_line(cid: str, body: dict[str, Any]) -> str:
    """One line of an OpenAI Batch input file (``vllm run-batch`` reads the same)."""
    return json.dumps({"custom_id": cid, "method": "POST", "url": URL, "body": body}, ensure_ascii=False) + "\n"
