"""A local OpenAI-compatible chat-completions stub for benchmarks: loopback only, a fixed latency,
and a configurable share of failures (429 with Retry-After, 500, and timeouts).

It answers every request with a minimal valid answer for the schema asked (no items), so it
measures the pipeline and the transport, not extraction quality.

    python benchmarks/llm_stub_server.py --port 8099 --latency 0.2 --error-rate 0.3 --seconds 60
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import random
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from extractor.evaluation import FUZZY, similarity

Gold = dict[str, Any]
# The judgement fields a flawed model gets wrong (reasons are soft: scored by F1, never injected).
FLAWED_FIELDS = ("treatment", "category", "generic_name", "strength", "quantity", "decision",
                 "claims_administrator_guidelines", "reviewer_guidelines")
_SOURCES = ("MTUS", "ODG", "ACOEM")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that timed out reset their connections: expected here


class StubServer:
    """Serves from a child process, as a real endpoint would, so the stub never competes with the
    client for the GIL; ``requests`` counts every request received."""

    def __init__(self, *, latency: float = 0.2, error_rate: float = 0.0, timeout_sleep: float = 2.0,
                 seed: int = 0, port: int = 0) -> None:
        self.latency = latency
        self.error_rate = error_rate
        self.timeout_sleep = timeout_sleep
        self._count = multiprocessing.get_context("fork").Value("i", 0)
        self._rng = random.Random(seed)
        self._server = _QuietServer(("127.0.0.1", port), self._handler())
        self._process = multiprocessing.get_context("fork").Process(target=self._server.serve_forever, daemon=True)

    @property
    def requests(self) -> int:
        return int(self._count.value)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._process.terminate()
        self._process.join(5)
        self._server.server_close()

    def _roll(self) -> float:
        with self._count.get_lock():
            self._count.value += 1
            return self._rng.random()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body, written apart, wait on delayed ACKs
            wbufsize = 1 << 16

            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                roll = stub._roll()
                if roll < stub.error_rate / 3:
                    return self._send(429, {"error": {"message": "rate limited"}}, {"retry-after-ms": "100"})
                if roll < stub.error_rate * 2 / 3:
                    time.sleep(stub.latency)
                    return self._send(500, {"error": {"message": "stub failure"}})
                if roll < stub.error_rate:
                    time.sleep(stub.timeout_sleep)  # longer than the client's timeout
                    return self._send(504, {"error": {"message": "too late"}})
                time.sleep(stub.latency)
                self._send(200, _completion(body))

            def _send(self, code: int, payload: dict[str, object], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    for k, v in {"content-type": "application/json", "content-length": str(len(data)),
                                 **(headers or {})}.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

        return Handler


def _completion(request: dict[str, object]) -> dict[str, object]:
    messages = request.get("messages", [])
    user = next((m["content"] for m in messages if m.get("role") == "user"), "")  # type: ignore[union-attr]
    hybrid = "CASE SUMMARY:" in user or "ITEM 1:" in user
    answer = json.dumps({"diagnoses": [], "items": []} if hybrid else {"items": []})
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4  # type: ignore[union-attr]
    if request.get("tools"):
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_stub", "type": "function", "function": {"name": "answer", "arguments": answer}}]}
    else:
        message = {"role": "assistant", "content": answer}
    return {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": request.get("model", "stub"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 12, "total_tokens": prompt_tokens + 12}}


def wrong_value(item: Gold, name: str, rng: random.Random, pool: list[Gold]) -> Any:
    """A plausible value of field ``name`` that the eval harness scores as wrong for this gold item.

    ``pool`` is every gold item, where other treatments, categories and generic names are drawn from.
    Raises ``ValueError`` if the field has no such value for this item (see ``flawable``).
    """
    value = item[name]
    if name == "decision":
        return "upheld" if value == "overturned" else "overturned"
    if name == "treatment":
        others = sorted({g["treatment"] for g in pool if similarity(g["treatment"], value) < FUZZY})
        return rng.choice(others)
    if name == "category":
        return rng.choice(sorted({g["category"] for g in pool} - {value}))
    if name == "generic_name" and value:
        return rng.choice(sorted({g["generic_name"] for g in pool if g["generic_name"]} - {value}))
    if name == "strength" and value:
        number = re.search(r"\d+(?:\.\d+)?", value)
        if number:
            changed = float(number.group()) * rng.choice((2, 0.5))
            return f"{value[: number.start()]}{changed:g}{value[number.end():]}"
    if name == "quantity" and value:
        return value + rng.choice((30, -max(1, value // 2)))
    if name in ("claims_administrator_guidelines", "reviewer_guidelines") and value:
        citations = copy.deepcopy(value)
        cited = rng.choice(citations)
        if rng.random() < 0.5:
            cited["source"] = rng.choice([s for s in _SOURCES if s != cited["source"]])
        else:
            cited["pages"] = sorted({*cited["pages"], max(cited["pages"], default=rng.randint(10, 90)) + 1})
        return citations
    raise ValueError(f"no wrong value of {name} for this item")


def flawable(item: Gold) -> list[str]:
    """The judgement fields a wrong value can be made for: drug facts only where the gold has them."""
    return [n for n in FLAWED_FIELDS if item[n] or n in ("treatment", "category", "decision")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="OpenAI-compatible stub on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long")
    args = parser.parse_args()
    with StubServer(latency=args.latency, error_rate=args.error_rate, port=args.port) as server:
        print(f"stub on {server.url} for {args.seconds:.0f} s", flush=True)
        time.sleep(args.seconds)
    print(f"{server.requests} requests served")
