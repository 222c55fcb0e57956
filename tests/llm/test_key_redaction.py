"""The configured API key never shows, whatever its shape, even from a server that echoes it back:
not on stdout or stderr, not in a record, the answer cache or a batch folder (issue 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from llm_fakes import ROOT, gold, letter_path

from extractor.llm.schema import answer_from_gold
from extractor.models import Record
from extractor.redact import REDACTED, Redactor

KEY = "tok_abc123def456ghi789jkl"  # not shaped like sk-... or key-...
CLI = [sys.executable, "-c", "from extractor.cli import main; main()"]
LETTER = "imr-000"


def _answer_echoing(auth: str) -> str:
    """A valid ``llm`` answer for LETTER with the echoed header in a treatment and a diagnosis."""
    answer = answer_from_gold(gold(LETTER), "llm").model_dump(mode="json")
    answer["items"][0]["treatment"] = auth
    answer["diagnoses"] = [*answer.get("diagnoses", []), auth]
    return json.dumps(answer)


class _Echo(BaseHTTPRequestHandler):
    """Every answer quotes the Authorization header it was sent, as careless servers do."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self._error(404)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        model = json.loads(body).get("model") if self.path.endswith("/chat/completions") else None
        if model == "echo-answer":
            message = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "answer", "arguments": _answer_echoing(auth)}}]}
            self._send(200, {"id": "c1", "object": "chat.completion", "created": 1, "model": model,
                             "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})
        else:  # the words "tools" and "response_format" make it a rejected mode, whose message is quoted
            self._error(400)

    def _error(self, code: int) -> None:
        auth = self.headers.get("Authorization", "")
        self._send(code, {"error": {"message": f"Incorrect API key provided: {auth}. (tools, response_format)",
                                    "type": "invalid_request_error", "code": "invalid_api_key", "param": auth}})

    def _send(self, code: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", self.headers.get("Authorization", ""))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _run(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMR_")}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**clean, "PYTHONPATH": str(ROOT), **env})


def _files_holding(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize("model", ["echo-error", "echo-answer"])
def test_extract_never_shows_nor_stores_the_key_a_server_echoes(tmp_path: Path, echo_url: str, model: str) -> None:
    env = {"IMR_BASE_URL": echo_url, "IMR_API_KEY": KEY, "IMR_MODEL": model, "IMR_CACHE_DIR": str(tmp_path / "cache"),
           "IMR_MAX_ATTEMPTS": "1", "IMR_CONTEXT_TOKENS": "128000"}
    result = _run("extract", "--backend", "llm", letter_path(LETTER), "-o", tmp_path / "out.jsonl", env=env, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert KEY not in result.stdout + result.stderr
    assert _files_holding(tmp_path, KEY) == []
    stored = (tmp_path / "out.jsonl").read_text()
    assert REDACTED in stored  # the echo reached the record: the test sees what it guards
    if model == "echo-answer":
        assert list((tmp_path / "cache").rglob("*")), "the answer was cached"


def test_batch_submit_never_shows_nor_keeps_the_key_a_server_echoes(tmp_path: Path, echo_url: str) -> None:
    env = {"IMR_BASE_URL": echo_url, "IMR_MODEL": "echo-error", "IMR_CONTEXT_TOKENS": "128000"}
    prepared = _run("batch", "prepare", letter_path(LETTER), "-o", tmp_path / "batch", env=env, cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    submitted = _run("batch", "submit", tmp_path / "batch", env={**env, "IMR_API_KEY": KEY}, cwd=tmp_path)
    assert submitted.returncode == 2
    assert "Incorrect API key provided" in submitted.stderr and REDACTED in submitted.stderr
    assert KEY not in submitted.stdout + submitted.stderr
    assert _files_holding(tmp_path, KEY) == []


def test_the_redactor_takes_the_key_in_every_form_it_is_written() -> None:
    redactor = Redactor([KEY, 'q"uo\\ted-secret'])
    assert redactor.text(f"Bearer {KEY}, again {KEY}") == f"Bearer {REDACTED}, again {REDACTED}"
    assert redactor.text(json.dumps({"m": 'x q"uo\\ted-secret y'})) == json.dumps({"m": f"x {REDACTED} y"})
    assert redactor.text("key=tok_abc123def456ghi789jkl%20") == f"key={REDACTED}%20"
    # key-shaped words go from messages, not from data (a letter may say "key-points")
    assert redactor.message("got sk-abcdef123 and key-zzzz9") == f"got {REDACTED} and {REDACTED}"
    assert redactor.text("see key-points") == "see key-points"
    # a short key is a placeholder (vLLM's EMPTY) far more often than a secret: kept in data, where
    # redacting it would damage every record, and gone from messages all the same
    short = Redactor(["EMPTY", "none", "sk-test"])
    assert short.text("none EMPTY sk-test") == "none EMPTY sk-test"
    assert short.message("none EMPTY tok sk-test") == f"{REDACTED} {REDACTED} tok {REDACTED}"
    assert Redactor(["abc"]).message("abc") == "abc"  # three characters are no secret, even to show


def test_a_record_holding_the_key_comes_back_whole_without_it() -> None:
    record = Record(document_id="d", review_reasons=[f"the endpoint said: Bearer {KEY}"],
                    provenance={"backend": "llm", "package_version": "0", "source_path": f"/tmp/{KEY}.txt"})
    clean = Redactor([KEY]).record(record)
    assert KEY not in clean.model_dump_json()
    assert clean.review_reasons == [f"the endpoint said: Bearer {REDACTED}"]
    untouched = Record(document_id="d", provenance={"backend": "llm", "package_version": "0"})
    assert Redactor([KEY]).record(untouched) is untouched
