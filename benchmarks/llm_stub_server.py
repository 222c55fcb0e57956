"""A local OpenAI-compatible chat-completions stub for benchmarks: loopback only, a fixed latency,
and a configurable share of failures (429 with Retry-After, 500, and timeouts).

Without gold it answers every request with a minimal valid answer for the schema asked (no
items), so it measures the pipeline and the transport, not extraction quality. With ``--gold`` it
is a flawed model: it finds which gold letter (and which of its items) a request is about and
answers from the gold, with seeded flaws at the rates asked (a wrong judgement field, a missing
required property, a flipped decision, the answer of another letter), each written to
``--flaw-log`` as one JSON line so that a benchmark can count how many were caught.

    python benchmarks/llm_stub_server.py --port 8099 --latency 0.2 --error-rate 0.3 --seconds 60
    PYTHONPATH=. python benchmarks/llm_stub_server.py --gold evals/gold --letters evals/letters \\
        --wrong-field-rate 0.3 --flaw-log flaws.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import random
import re
import threading
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from rapidfuzz import fuzz

from extractor.evaluation.scoring import FUZZY, find_letter, load_gold, similarity
from extractor.llm.prompt import CLOSE_MARKER, OPEN_MARKER
from extractor.llm.schema import HEADER_FIELDS, answer_from_gold

Gold = dict[str, Any]
# The judgement fields a flawed model gets wrong (reasons are soft: scored by F1, never injected).
FLAWED_FIELDS = ("treatment", "category", "generic_name", "strength", "quantity", "decision",
                 "claims_administrator_guidelines", "reviewer_guidelines")
_SOURCES = ("MTUS", "ODG", "ACOEM")
# Properties every item answer must have (FilledItem and LetterItem): one is dropped for a "missing" flaw.
REQUIRED = ("treatment", "category", "decision", "reasons")
_ITEM_LINE = re.compile(r"^ITEM (\d+):[ \t]*\n(.*)$", re.M)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that timed out reset their connections: expected here


class StubServer:
    """Serves from a child process, as a real endpoint would, so the stub never competes with the
    client for the GIL; ``requests`` counts every request received."""

    def __init__(self, *, latency: float = 0.2, error_rate: float = 0.0, timeout_sleep: float = 2.0,
                 seed: int = 0, port: int = 0, answers: GoldAnswers | None = None,
                 batch_error_rate: float = 0.0, failed_batches: int = 0) -> None:
        self.answers = answers
        self.batch_api = BatchApi(batch_error_rate, seed, failed_batches)
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
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.endswith("/files"):
                    return self._send(200, stub.batch_api.upload(self.headers.get("content-type", ""), raw))
                if self.path.endswith("/batches"):
                    return self._send(*stub.batch_api.create(json.loads(raw), stub.answers))
                body = json.loads(raw)
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
                self._send(200, _completion(body, stub.answers))

            def do_GET(self) -> None:
                found = stub.batch_api.get(self.path)
                if found is None:
                    return self._send(404, {"error": {"message": f"no such path {self.path}"}})
                self._send(200, found)

            def _send(self, code: int, payload: dict[str, object] | bytes, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                kind = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
                try:
                    self.send_response(code)
                    for k, v in {"content-type": kind, "content-length": str(len(data)),
                                 **(headers or {})}.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

        return Handler


class BatchApi:
    """OpenAI's Files and Batches endpoints, as far as a batch's life needs them: upload a file,
    create a batch on it (every line is checked against the Batch input format and answered at once,
    ``error_rate`` of them failing into the error file; the first ``failed_batches`` batches fail whole,
    as OpenAI fails a batch over the enqueued-token limit), retrieve it (``in_progress`` the first
    time, then finished), list them, and fetch file contents. Lives in the server process."""

    def __init__(self, error_rate: float, seed: int, failed_batches: int = 0) -> None:
        self.failed_batches = failed_batches
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.retrieved: dict[str, int] = {}
        self.error_rate = error_rate
        self.rng = random.Random(seed)

    def upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        assert fields["purpose"].get_payload(decode=True) == b"batch", "purpose must be batch"
        file_id = self._store(fields["file"].get_payload(decode=True))
        return {"id": file_id, "object": "file", "bytes": len(self.files[file_id]), "created_at": 0,
                "filename": fields["file"].get_filename(), "purpose": "batch", "status": "processed"}

    def create(self, request: dict[str, Any], answers: GoldAnswers | None) -> tuple[int, dict[str, Any]]:
        if request.get("endpoint") != "/v1/chat/completions" or request.get("completion_window") != "24h":
            return 400, {"error": {"message": "endpoint must be /v1/chat/completions, completion_window 24h"}}
        lines = self.files.get(request.get("input_file_id", ""), b"").decode().splitlines()
        batch_id = f"batch_{len(self.batches) + 1}"
        out, errors, problems, seen = [], [], [], set()
        for number, text in enumerate(lines, 1):
            line = json.loads(text)
            if set(line) != {"custom_id", "method", "url", "body"} or line["method"] != "POST" or \
                    line["url"] != "/v1/chat/completions" or line["custom_id"] in seen or "messages" not in line["body"]:
                problems.append({"code": "invalid_request", "message": f"line {number} is not a valid request", "line": number})
            seen.add(line["custom_id"])
            result = {"id": f"batch_req_{number}", "custom_id": line["custom_id"]}
            if self.rng.random() < self.error_rate:
                errors.append({**result, "response": None, "error": {"code": "server_error", "message": "stub failure"}})
            else:
                out.append({**result, "response": {"status_code": 200, "request_id": f"req_{number}",
                                                   "body": _completion(line["body"], answers)}, "error": None})
        batch: dict[str, Any] = {"id": batch_id, "object": "batch", "endpoint": request["endpoint"], "input_file_id":
                                 request["input_file_id"], "completion_window": "24h", "status": "validating",
                                 "created_at": 0, "metadata": request.get("metadata"), "output_file_id": None,
                                 "error_file_id": None, "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
        if len(self.batches) < self.failed_batches:
            problems.append({"code": "token_limit_exceeded", "message": "Enqueued token limit reached", "line": None})
        if problems:
            batch["final"] = {"status": "failed", "errors": {"object": "list", "data": problems}}
        else:
            batch["final"] = {"status": "completed", "request_counts": {
                "total": len(lines), "completed": len(out), "failed": len(errors)},
                "output_file_id": self._store(_lines(out)) if out else None,
                "error_file_id": self._store(_lines(errors)) if errors else None}
        self.batches[batch_id] = batch
        return 200, {k: v for k, v in batch.items() if k != "final"}

    def get(self, path: str) -> dict[str, Any] | bytes | None:
        parts = path.split("?")[0].rstrip("/").split("/")
        if parts[-1] == "batches":
            listed = [{k: v for k, v in b.items() if k != "final"} for b in reversed(self.batches.values())]
            return {"object": "list", "data": listed, "has_more": False}
        if len(parts) >= 3 and parts[-3] == "files" and parts[-1] == "content":
            return self.files.get(parts[-2])
        if parts[-2] == "batches" and parts[-1] in self.batches:
            batch = self.batches[parts[-1]]
            self.retrieved[batch["id"]] = self.retrieved.get(batch["id"], 0) + 1
            if self.retrieved[batch["id"]] == 1:
                return {**{k: v for k, v in batch.items() if k != "final"}, "status": "in_progress"}
            return {**{k: v for k, v in batch.items() if k != "final"}, **batch["final"]}
        return None

    def _store(self, content: bytes) -> str:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return file_id


def _lines(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _completion(request: dict[str, Any], answers: GoldAnswers | None) -> dict[str, object]:
    """The chat completion for one request: the answer as a call to the forced tool, or as content."""
    messages = request.get("messages", [])
    user = next((str(m["content"]) for m in messages if m.get("role") == "user"), "")
    letter = user.split(OPEN_MARKER, 1)[-1].split(CLOSE_MARKER, 1)[0]
    hybrid = _ITEM_LINE.search(letter) is not None  # a hybrid excerpt; a whole letter has no ITEM lines
    schema = _schema(request)
    found = answers.answer(letter, hybrid, _item_properties(schema)) if answers is not None else None
    empty = {"diagnoses": [], "items": []} if hybrid else {"items": []}
    answer = json.dumps(_fit(found if found is not None else empty, schema))
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4
    if tools := request.get("tools"):
        choice = request.get("tool_choice")
        name = choice["function"]["name"] if isinstance(choice, dict) else tools[0]["function"]["name"]
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_stub", "type": "function", "function": {"name": name, "arguments": answer}}]}
    else:
        message = {"role": "assistant", "content": answer}
    completion_tokens = max(12, len(answer) // 4)
    return {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": request.get("model", "stub"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tools else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _schema(request: dict[str, Any]) -> dict[str, Any]:
    """The answer's JSON schema the request carries (a forced tool's parameters, or the response format's)."""
    if tools := request.get("tools"):
        return tools[0]["function"].get("parameters") or {}  # type: ignore[no-any-return]
    response_format = request.get("response_format") or {}
    return response_format.get("json_schema", {}).get("schema") or response_format.get("schema") or {}


def _item_properties(schema: dict[str, Any]) -> set[str] | None:
    """The properties the schema asks of each item (None: it does not say)."""
    one = schema.get("properties", {}).get("items", {}).get("items", {})
    if ref := one.get("$ref"):
        one = schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
    return set(one["properties"]) if "properties" in one else None


def _fit(answer: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The answer cut to the properties the schema asks for, as a model keeping to it answers: a
    ``cascade`` question asks only for the fields in doubt."""
    properties = schema.get("properties")
    if not properties:
        return answer
    fitted = {k: v for k, v in answer.items() if k in properties}
    if (asked := _item_properties(schema)) is not None and "items" in fitted:
        fitted["items"] = [{k: v for k, v in item.items() if k in asked} for item in fitted["items"]]
    return fitted


@dataclass(frozen=True)
class Flaws:
    """The share of answers given each kind of flaw."""

    wrong_field: float = 0.0       # items with one judgement field changed to a plausible wrong value
    missing_property: float = 0.0  # item answers with one required property left out
    flip_decision: float = 0.0     # items with the decision flipped
    wrong_letter: float = 0.0      # letters answered with another letter's answer
    seed: int = 0


class GoldAnswers:
    """A model that answers from gold with seeded flaws; each flaw sent is logged once (JSON lines).

    Whether a flaw is given is decided per letter and item from the seed, so a re-asked or split
    request gets the same answer, and a benchmark run is reproducible.
    """

    def __init__(self, gold_dir: Path, letters_dir: Path, flaws: Flaws, flaw_log: Path | None = None) -> None:
        self.gold = {d: g for d, g in load_gold(gold_dir).items() if find_letter(letters_dir, d) is not None}
        self.flaws = flaws
        self.pool = [item for g in self.gold.values() for item in g["items"]]
        self._flaw_log = flaw_log
        self._logged: set[tuple[str, int, str]] = set()
        self._lock = threading.Lock()

    def answer(self, letter: str, hybrid: bool, fields: set[str] | None = None) -> dict[str, Any] | None:
        """The answer for the letter (excerpt) in a request, or None if no gold letter matches it;
        ``fields``: the item fields asked (flaws are given only to those)."""
        doc_id = self.identify(letter)
        if doc_id is None:
            return None
        gold = self.gold[doc_id]
        asked = self._asked(letter, gold, hybrid)  # (number in the answer, gold item index)
        rng = self._rng(doc_id, "letter")
        if rng.random() < self.flaws.wrong_letter:
            other = rng.choice(sorted(d for d, g in self.gold.items() if d != doc_id and g["items"]))
            for _, j in asked:
                self._log(doc_id, j, "wrong_letter", None, gold["items"][j]["request"], other)
            count = len(self.gold[other]["items"])
            sent = [(n, i % count) for i, (n, _) in enumerate(asked)] if hybrid else [(j + 1, j) for j in range(count)]
            return self._dump(other, sent, hybrid, flawed=False)
        return self._dump(doc_id, asked, hybrid, flawed=True, fields=fields)

    def identify(self, letter: str) -> str | None:
        """The gold letter whose case number, requests and rationales the text holds the largest share of
        (then the most of): a long letter whose rationales open with common boilerplate must not win
        over the one-item letter the text is."""
        text = _key(letter)
        best, best_score = None, (0.0, 0)
        for doc_id, gold in self.gold.items():
            found = 5 * (_key(gold.get("case_number") or doc_id) in text)
            for item in gold["items"]:
                found += _key(item["request"]) in text
                found += 2 * (_key(item["rationale"][:120]) in text if item["rationale"] else 0)
            score = (found / (5 + 3 * len(gold["items"])), found)
            if found and score > best_score:
                best, best_score = doc_id, score
        return best

    def _asked(self, letter: str, gold: Gold, hybrid: bool) -> list[tuple[int, int]]:
        """(number to answer with, gold item index) for each item the request is about."""
        items = gold["items"]
        if not hybrid:
            text = _key(letter)
            return [(j + 1, j) for j, item in enumerate(items) if _key(item["request"]) in text]
        asked, free = [], set(range(len(items)))
        for m in _ITEM_LINE.finditer(letter):
            n, heading = int(m[1]), _key(m[2])
            if free:
                j = max(free, key=lambda j: (fuzz.partial_ratio(_key(items[j]["request"]), heading), -abs(j - n + 1)))
                free.discard(j)
                asked.append((n, j))
        return asked

    def _dump(self, doc_id: str, asked: list[tuple[int, int]], hybrid: bool, *, flawed: bool,
              fields: set[str] | None = None) -> dict[str, Any]:
        """The answer of gold letter ``doc_id`` for the items asked, with its flaws if ``flawed``."""
        full = answer_from_gold(self.gold[doc_id], "hybrid" if hybrid else "llm").model_dump(mode="json")
        if hybrid and fields is not None:  # the header's fields too, for a schema that asks them (``_fit`` cuts the rest)
            full = {**{k: self.gold[doc_id].get(k) for k in HEADER_FIELDS}, **full}
        items = []
        for n, j in asked:
            item = dict(full["items"][j])
            if hybrid:
                item["item"] = n
            if flawed:
                self._flaw(doc_id, j, item, fields)
            items.append(item)
        return {**full, "items": items}

    def _flaw(self, doc_id: str, j: int, item: dict[str, Any], fields: set[str] | None = None) -> None:
        """Apply this item's seeded flaws to its answer, in place, and log them."""
        rng = self._rng(doc_id, str(j))
        if rng.random() < self.flaws.wrong_field:
            names = [n for n in flawable(item) if fields is None or n in fields]
            if names:
                name = rng.choice(names)
                sent = wrong_value(item, name, rng, self.pool)
                self._log(doc_id, j, "wrong_field", name, item[name], sent)
                item[name] = sent
        if rng.random() < self.flaws.flip_decision:
            sent = "upheld" if item["decision"] == "overturned" else "overturned"
            self._log(doc_id, j, "flip_decision", "decision", item["decision"], sent)
            item["decision"] = sent
        if rng.random() < self.flaws.missing_property:
            name = rng.choice(REQUIRED)
            self._log(doc_id, j, "missing_property", name, item.pop(name), None)

    def _rng(self, doc_id: str, what: str) -> random.Random:
        return random.Random(f"{self.flaws.seed}:{doc_id}:{what}")

    def _log(self, doc_id: str, j: int, kind: str, name: str | None, gold: Any, sent: Any) -> None:
        if self._flaw_log is None:
            return
        with self._lock:
            if (doc_id, j, kind) in self._logged:
                return
            self._logged.add((doc_id, j, kind))
            line = {"document_id": doc_id, "item": j + 1, "kind": kind, "field": name, "gold": gold, "sent": sent}
            with self._flaw_log.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


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
        citations = copy.deepcopy(value)  # wrong as the harness sees it: a source or a page not in the list
        cited = rng.choice(citations)
        sources = [s for s in _SOURCES if s not in {c["source"] for c in citations}]
        if sources and rng.random() < 0.5:
            cited["source"] = rng.choice(sources)
        else:
            pages = [p for c in citations for p in c["pages"]]
            cited["pages"] = sorted({*cited["pages"], max(pages, default=rng.randint(10, 90)) + 1})
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
    parser.add_argument("--gold", type=Path, help="answer from these gold files (a flawed model)")
    parser.add_argument("--letters", type=Path, help="the gold letters (with --gold)")
    parser.add_argument("--wrong-field-rate", type=float, default=0.0)
    parser.add_argument("--missing-property-rate", type=float, default=0.0)
    parser.add_argument("--flip-decision-rate", type=float, default=0.0)
    parser.add_argument("--wrong-letter-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flaw-log", type=Path, help="JSON lines: one per flaw sent")
    args = parser.parse_args()
    answers = None
    if args.gold:
        if not args.letters:
            parser.error("--gold needs --letters")
        flaws = Flaws(args.wrong_field_rate, args.missing_property_rate, args.flip_decision_rate,
                      args.wrong_letter_rate, args.seed)
        answers = GoldAnswers(args.gold, args.letters, flaws, args.flaw_log)
    with StubServer(latency=args.latency, error_rate=args.error_rate, port=args.port, answers=answers) as server:
        print(f"stub on {server.url} for {args.seconds:.0f} s", flush=True)
        time.sleep(args.seconds)
    print(f"{server.requests} requests served")
