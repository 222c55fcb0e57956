"""Hand-written model answers: OpenAI chat-completion bodies built from gold files, and transports
that serve them (in-process, no socket) for tests and for recording cassettes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import httpx2
from pydantic import BaseModel

from extractor.llm.prompt import fill_prompt, hybrid_excerpt, letter_prompt
from extractor.llm.schema import answer_from_gold
from extractor.parse.letter import parse_letter
from extractor.read.files import read_letter
from extractor.read.text import normalise

ROOT = Path(__file__).resolve().parents[2]
GOLD = ROOT / "evals" / "gold"
LETTERS = ROOT / "evals" / "letters"
DATA = Path(__file__).parent / "data"
TEST_URL = "http://llm.test/v1"
API_KEY = "sk-test-dummy"
MODEL = "gpt-4o-mini"
Reply = httpx2.Response | Exception


def letter_path(document_id: str) -> Path:
    for suffix in (".txt", ".pdf"):
        if (p := LETTERS / f"{document_id}{suffix}").exists():
            return p
    raise FileNotFoundError(document_id)


def gold(document_id: str) -> dict[str, object]:
    return json.loads((GOLD / f"{document_id}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def completion(arguments: BaseModel | str, *, mode: str = "tools", prompt_tokens: int = 1500,
               completion_tokens: int = 300, n: int = 1, finish: str | None = None) -> httpx2.Response:
    """A 200 chat completion whose tool call (or JSON content) carries ``arguments``; ``finish``
    overrides the finish reason (``length``: cut off at max_tokens)."""
    text = arguments if isinstance(arguments, str) else arguments.model_dump_json()
    if mode == "tools":
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_fixture_{n}", "type": "function", "function": {"name": "answer", "arguments": text}}]}
        finish_reason = finish or "tool_calls"
    else:
        message = {"role": "assistant", "content": text}
        finish_reason = finish or "stop"
    return httpx2.Response(200, json={
        "id": f"chatcmpl-fixture-{n}", "object": "chat.completion", "created": 1700000000, "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def status(code: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    """An error response as OpenAI-compatible servers send them."""
    return httpx2.Response(code, headers=headers or {}, json={"error": {
        "message": f"fixture error {code}", "type": "server_error" if code >= 500 else "requests", "code": None}})


def gold_completion(document_id: str, backend: str, *, mode: str = "tools") -> httpx2.Response:
    """What a correct model answers for an eval letter."""
    return completion(answer_from_gold(gold(document_id), backend), mode=mode)


def scripted(replies: Sequence[Reply], seen: list[httpx2.Request] | None = None) -> httpx2.MockTransport:
    """Serves ``replies`` in order (an exception is raised as the transport's failure)."""
    queue = list(replies)

    def handler(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            seen.append(request)
        if not queue:
            raise AssertionError("more requests than scripted replies")
        reply = queue.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return httpx2.MockTransport(handler)


@cache
def _gold_prompts() -> dict[str, tuple[str, str]]:
    """User message -> (document_id, backend), for every eval letter and both backends."""
    table = {}
    for g in sorted(GOLD.glob("*.json")):
        clean = normalise(read_letter(letter_path(g.stem)).text)
        parsed = parse_letter(clean)
        table[letter_prompt(clean.text).messages[1]["content"]] = (g.stem, "llm")
        if parsed.items:
            table[fill_prompt(hybrid_excerpt(clean, parsed)).messages[1]["content"]] = (g.stem, "hybrid")
    return table


def gold_endpoint(mode: str = "tools", count: Callable[[], None] | None = None) -> httpx2.MockTransport:
    """An endpoint that answers every eval letter as its gold file says, for either backend."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":  # /models: a server that does not say its context window
            return status(404)
        if count is not None:
            count()
        body = json.loads(request.content)
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        document_id, backend = _gold_prompts()[user]
        return gold_completion(document_id, backend, mode=mode)

    return httpx2.MockTransport(handler)
