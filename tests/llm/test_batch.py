"""The batch path: ``batch prepare`` writes the online path's own requests as OpenAI Batch lines,
the Batch API (a loopback stub of its files and batches endpoints) or ``vllm run-batch`` answers them,
and ``batch collect`` makes the records the online path makes from the same answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from llm_fakes import API_KEY, GOLD, LETTERS, MODEL, letter_path
from pydantic import SecretStr
from typer.testing import CliRunner

from extractor.batch.collect import collect
from extractor.batch.folder import Batch
from extractor.batch.prepare import BATCH_JSON, MANIFEST, prepare
from extractor.cli import app
from extractor.run.stream import iter_records
from extractor.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from llm_stub_server import Flaws, GoldAnswers, StubServer, _completion  # noqa: E402 - benchmarks/ is not a package

LONGEST = "CM16-0248698"  # 21 items: split into parts at 8k
LETTER_IDS = ["CM16-0230548", "CM16-0238035", "imr-000", "syn-c-01", LONGEST]
runner = CliRunner()


@pytest.fixture
def letters() -> list[str]:
    return [str(letter_path(d)) for d in LETTER_IDS]


@pytest.fixture
def batch_settings(tmp_path: Path) -> Settings:
    return Settings(model=MODEL, context_tokens=8192, cache_dir=tmp_path / "cache", no_cache=True, max_concurrency=2)


def _requests(folder: Path) -> list[dict[str, Any]]:
    meta = json.loads((folder / BATCH_JSON).read_text())
    return [json.loads(line) for name in meta["files"] for line in (folder / name).read_text().splitlines()]


def _valid_batch_line(line: dict[str, Any]) -> bool:
    """OpenAI's Batch input format for chat completions."""
    body = line.get("body", {})
    return (set(line) == {"custom_id", "method", "url", "body"} and line["method"] == "POST"
            and line["url"] == "/v1/chat/completions" and isinstance(line["custom_id"], str) and 0 < len(line["custom_id"]) <= 64
            and body.get("model") == MODEL and isinstance(body.get("messages"), list) and body.get("max_tokens", 0) > 0)


def _answers(flaw_rate: float = 0.0) -> GoldAnswers:
    return GoldAnswers(GOLD, LETTERS, Flaws(flaw_rate, 0, 0, 0, 0))


def _results(folder: Path, answers: GoldAnswers, *, vllm: bool = False) -> list[dict[str, Any]]:
    """The answer lines an engine writes for the folder's requests (OpenAI's shape, or vLLM's)."""
    out = []
    for n, line in enumerate(_requests(folder)):
        prefix = "vllm-batch-" if vllm else "req_"
        out.append({"id": f"{'vllm-' if vllm else 'batch_req_'}{n}", "custom_id": line["custom_id"],
                    "response": {"status_code": 200, "request_id": f"{prefix}{n}", "body": _completion(line["body"], answers)},
                    "error": None})
    return out


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _without_provenance(records: list[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(exclude={"provenance"}) for r in records]


@pytest.mark.parametrize("backend", ["hybrid", "llm"])
def test_prepared_requests_are_the_requests_the_online_path_sends(tmp_path: Path, letters: list[str],
                                                                  batch_settings: Settings, backend: str) -> None:
    sent: list[dict[str, Any]] = []

    def refuse(request: httpx2.Request) -> httpx2.Response:  # keeps the first round: a 400 is not asked again
        sent.append(json.loads(request.content))
        return httpx2.Response(400, json={"error": {"message": "recorded"}})

    online = batch_settings.model_copy(update={"base_url": "http://llm.test/v1", "api_key": SecretStr(API_KEY)})
    list(iter_records(letters, backend=backend, settings=online, transport=httpx2.MockTransport(refuse)))
    list(prepare(letters, tmp_path / "batch", backend=backend, settings=batch_settings))
    lines = _requests(tmp_path / "batch")
    assert all(_valid_batch_line(line) for line in lines)
    assert len({line["custom_id"] for line in lines}) == len(lines)
    canonical = sorted(json.dumps(b, sort_keys=True) for b in sent)
    assert sorted(json.dumps(line["body"], sort_keys=True) for line in lines) == canonical
    manifest = [json.loads(line) for line in (tmp_path / "batch" / MANIFEST).read_text().splitlines()]
    assert [Path(m["path"]).stem for m in manifest] == LETTER_IDS
    assert len(manifest[-1]["requests"]) > 1  # the long letter is split, as online


def test_request_files_keep_within_the_limits_given(tmp_path: Path, letters: list[str], batch_settings: Settings) -> None:
    list(prepare(letters, tmp_path / "a", backend="llm", settings=batch_settings))
    every = _requests(tmp_path / "a")
    list(prepare(letters, tmp_path / "b", backend="llm", settings=batch_settings, max_requests=2))
    meta = json.loads((tmp_path / "b" / BATCH_JSON).read_text())
    assert len(meta["files"]) == (len(every) + 1) // 2
    assert all(len((tmp_path / "b" / f).read_text().splitlines()) <= 2 for f in meta["files"])
    largest = max(len(json.dumps(line)) for line in every) + 1
    list(prepare(letters, tmp_path / "c", backend="llm", settings=batch_settings, max_bytes=largest + 10))
    meta = json.loads((tmp_path / "c" / BATCH_JSON).read_text())
    assert all((tmp_path / "c" / f).stat().st_size <= largest + 10 for f in meta["files"])
    assert [line["custom_id"] for line in _requests(tmp_path / "c")] == [line["custom_id"] for line in every]


def test_prepare_wants_a_new_folder_and_a_model_backend(tmp_path: Path, letters: list[str], batch_settings: Settings) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(Exception, match="not empty"):
        list(prepare(letters, tmp_path / "full", backend="hybrid", settings=batch_settings))
    with pytest.raises(Exception, match="model backends"):
        list(prepare(letters, tmp_path / "new", backend="offline", settings=batch_settings))


def test_the_whole_loop_through_the_batch_api_stub_gives_the_online_records_at_half_the_cost(
        tmp_path: Path, letters: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, secret = tmp_path / "batch", "sk-test-secret-key-0042"
    answers = _answers(flaw_rate=0.3)  # a model that is sometimes wrong: the checks must act the same
    with StubServer(latency=0, answers=answers) as stub:
        for name, value in {"IMR_BASE_URL": stub.url, "IMR_API_KEY": secret, "IMR_MODEL": MODEL,
                            "IMR_CONTEXT_TOKENS": "8192", "IMR_NO_CACHE": "true"}.items():
            monkeypatch.setenv(name, value)
        steps = [["batch", "prepare", *letters, "-o", str(folder), "-b", "hybrid"], ["batch", "submit", str(folder)],
                 ["batch", "status", str(folder)], ["batch", "status", str(folder)], ["batch", "download", str(folder)],
                 ["batch", "collect", "--requests", str(folder), "-o", str(tmp_path / "batch.jsonl")],
                 ["extract", *letters, "-b", "hybrid", "-o", str(tmp_path / "online.jsonl")]]
        results = [runner.invoke(app, step) for step in steps]
    codes = [r.exit_code for r in results]
    assert codes == [0, 0, 3, 0, 0, 0, 0], [r.output for r in results]  # status: 3 while running, 0 when done
    batch = [json.loads(line) for line in (tmp_path / "batch.jsonl").read_text().splitlines()]
    online = [json.loads(line) for line in (tmp_path / "online.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k != "provenance"} for r in batch] == \
           [{k: v for k, v in r.items() if k != "provenance"} for r in online]
    assert any(r["needs_review"] for r in batch)  # the flawed answers were caught, as online
    for b, o in zip(batch, online, strict=True):
        bu, ou = b["provenance"]["usage"], o["provenance"]["usage"]
        assert (bu["prompt_tokens"], bu["completion_tokens"]) == (ou["prompt_tokens"], ou["completion_tokens"])
        assert bu["cost_usd"] == pytest.approx(ou["cost_usd"] / 2, abs=2e-6)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and ".results-index" not in p.parts]
    assert not [p for p in written if secret in p.read_text(errors="replace")]
    assert all(secret not in r.output for r in results)


def test_collect_reads_what_vllm_run_batch_writes_and_flags_what_it_could_not_answer(
        tmp_path: Path, letters: list[str], batch_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters, folder, backend="hybrid", settings=batch_settings))
    openai_shaped = _write(tmp_path / "openai.jsonl", _results(folder, _answers()))
    vllm_lines = _results(folder, _answers(), vllm=True)
    failed = vllm_lines[0]["custom_id"]
    vllm_lines[0] = {"id": "vllm-0", "custom_id": failed, "error": "Request must not be sent in stream mode",
                     "response": {"status_code": 400, "request_id": "vllm-batch-0", "body": None}}
    vllm_shaped = _write(tmp_path / "vllm.jsonl", vllm_lines)
    with vllm_shaped.open("a") as f:
        f.write("{torn by a full disk\n")
    expected = list(collect(Batch.open(folder), [openai_shaped], batch_settings))
    got = list(collect(Batch.open(folder), [vllm_shaped], batch_settings))
    assert _without_provenance(got[1:]) == _without_provenance(expected[1:])
    assert got[0].ok and got[0].items and all(i.needs_review for i in got[0].items)
    assert all("Request must not be sent in stream mode" in i.review_reasons[0] for i in got[0].items)
    assert not any(i.needs_review for i in expected[0].items)
    assert "1 line(s) of the batch results are not batch output lines" in caplog.text


def test_a_question_the_batch_was_not_asked_is_asked_online_or_flagged(tmp_path: Path, letters: list[str],
                                                                       batch_settings: Settings) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters[:1], folder, backend="hybrid", settings=batch_settings))
    lines = _results(folder, _answers())
    call = lines[0]["response"]["body"]["choices"][0]["message"]["tool_calls"][0]["function"]
    call["arguments"] = call["arguments"][: len(call["arguments"]) // 2]  # an answer that fails the schema
    results = _write(tmp_path / "results.jsonl", lines)
    offline = list(collect(Batch.open(folder), [results], batch_settings))[0]
    assert offline.items and all(i.needs_review for i in offline.items)
    assert all("collect with --online" in i.review_reasons[0] for i in offline.items)
    with StubServer(latency=0, answers=_answers()) as stub:
        online = list(collect(Batch.open(folder), [results], batch_settings.model_copy(update={
            "base_url": stub.url, "api_key": SecretStr(API_KEY)}), online=True))[0]
        asked = stub.requests
    assert asked == 1  # only the re-ask went out
    assert not any(i.needs_review for i in online.items)
    assert online.provenance.usage is not None and online.provenance.usage.requests == 2


def test_a_letter_that_cannot_be_read_is_kept_in_the_manifest_and_gets_an_error_record(
        tmp_path: Path, letters: list[str], batch_settings: Settings, bad_inputs: dict[str, Path]) -> None:
    folder = tmp_path / "batch"
    paths = [letters[0], str(bad_inputs["corrupt_pdf"]), str(bad_inputs["not_imr"])]
    done = list(prepare(paths, folder, backend="hybrid", settings=batch_settings))
    assert [d.error is None for d in done] == [True, False, False]
    records = list(collect(Batch.open(folder), [_write(tmp_path / "r.jsonl", _results(folder, _answers()))], batch_settings))
    assert [r.ok for r in records] == [True, False, False]
    assert records[1].error is not None and records[1].provenance.source_path.endswith("corrupt.pdf")


def test_collect_refuses_a_batch_from_another_prompt_version(tmp_path: Path, letters: list[str],
                                                             batch_settings: Settings) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters[:1], folder, backend="hybrid", settings=batch_settings))
    meta = json.loads((folder / BATCH_JSON).read_text())
    (folder / BATCH_JSON).write_text(json.dumps({**meta, "prompt_version": "v0"}))
    with pytest.raises(Exception, match="prepare the batch again"):
        Batch.open(folder)


def test_resume_does_again_the_letters_that_were_waiting_for_answers(tmp_path: Path, letters: list[str],
                                                                     batch_settings: Settings) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters[:3], folder, backend="hybrid", settings=batch_settings))
    lines = _results(folder, _answers())
    first = _write(tmp_path / "first.jsonl", lines[:1])  # a batch still running: one answer so far
    rest = _write(tmp_path / "rest.jsonl", lines[1:])
    out = tmp_path / "records.jsonl"
    base = ["batch", "collect", "--requests", str(folder), "-o", str(out)]
    partial = runner.invoke(app, [*base, str(first)])
    assert partial.exit_code == 0 and "2 awaiting batch answers" in partial.output, partial.output
    waiting = [json.loads(line) for line in out.read_text().splitlines()]
    assert [any(w["code"] == "not_in_batch" for w in r["warnings"]) for r in waiting] == [False, True, True]
    again = runner.invoke(app, [*base, str(first), str(rest), "--resume"])
    assert again.exit_code == 0 and "1 already done" in again.output, again.output
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    fresh = list(collect(Batch.open(folder), [first, rest], batch_settings))
    assert len(resumed) == 3 and not any(w["code"] == "not_in_batch" for r in resumed for w in r["warnings"])
    assert sorted(r["document_id"] for r in resumed) == sorted(r.document_id for r in fresh)
    assert not any(r["needs_review"] for r in resumed) and not any(r.needs_review for r in fresh)


def test_a_failed_batch_is_reported_and_submitted_again(tmp_path: Path, letters: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "batch"
    with StubServer(latency=0, answers=_answers(), failed_batches=1) as stub:
        for name, value in {"IMR_BASE_URL": stub.url, "IMR_API_KEY": API_KEY, "IMR_MODEL": MODEL,
                            "IMR_CONTEXT_TOKENS": "8192"}.items():
            monkeypatch.setenv(name, value)
        steps = [["batch", "prepare", *letters[:2], "-o", str(folder)], ["batch", "submit", str(folder)],
                 ["batch", "status", str(folder)], ["batch", "status", str(folder)], ["batch", "submit", str(folder)],
                 ["batch", "status", str(folder)], ["batch", "status", str(folder)], ["batch", "submit", str(folder)]]
        results = [runner.invoke(app, step) for step in steps]
    assert [r.exit_code for r in results] == [0, 0, 3, 1, 0, 3, 0, 0], [r.output for r in results]
    assert "token_limit_exceeded" in results[3].output and "sends them again" in results[3].output
    submitted = json.loads((folder / "submitted.json").read_text())
    assert [(s["status"], s["batch_id"]) for s in submitted] == [("failed", "batch_1"), ("completed", "batch_2")]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / BATCH_JSON).write_text("[1, 2]"), "not what `batch prepare` writes"),
    (lambda f: (f / BATCH_JSON).write_text("{"), "not what `batch prepare` writes"),
    (lambda f: (f / MANIFEST).write_text('{"path": "x"}\n'), "not a manifest line"),
    (lambda f: (f / MANIFEST).unlink(), "cannot be read"),
])
def test_a_damaged_batch_folder_is_a_clear_error(tmp_path: Path, letters: list[str], batch_settings: Settings,
                                                 damage: Any, message: str) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters[:1], folder, backend="hybrid", settings=batch_settings))
    results = _write(tmp_path / "r.jsonl", _results(folder, _answers()))
    damage(folder)
    done = runner.invoke(app, ["batch", "collect", str(results), "--requests", str(folder), "-o", str(tmp_path / "o.jsonl")])
    assert done.exit_code == 2 and message in done.output and "Traceback" not in done.output, done.output


def test_results_that_answer_nothing_of_the_batch_are_refused_and_odd_lines_skipped(
        tmp_path: Path, letters: list[str], batch_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters[:1], folder, backend="hybrid", settings=batch_settings))
    other = _write(tmp_path / "other.jsonl", [{"custom_id": "imr-elsewhere", "response": "oops"},
                                              {"custom_id": "imr-another", "response": {"status_code": 200, "body": {}}}])
    with other.open("ab") as f:
        f.write(b"\xff\xfe not utf-8\n")
    with pytest.raises(Exception, match="none of the batch's 1 request"):
        list(collect(Batch.open(folder), [other], batch_settings))
    assert "2 line(s) of the batch results are not batch output lines" in caplog.text


def test_collect_reads_each_letter_from_where_prepare_found_it(tmp_path: Path, batch_settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "letters").mkdir(parents=True)
    (work / "letters" / "a.pdf").write_bytes(letter_path("CM16-0230548").read_bytes())
    monkeypatch.chdir(work)
    list(prepare(["letters/a.pdf"], tmp_path / "batch", backend="hybrid", settings=batch_settings))
    results = _write(tmp_path / "r.jsonl", _results(tmp_path / "batch", _answers()))
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "letters").mkdir(parents=True)
    (elsewhere / "letters" / "a.pdf").write_bytes(b"another file at the same relative path")
    monkeypatch.chdir(elsewhere)
    record = list(collect(Batch.open(tmp_path / "batch"), [results], batch_settings))[0]
    assert record.ok and not record.needs_review
    assert record.provenance.source_path == str(work / "letters" / "a.pdf")


def test_prepare_finds_the_context_window_as_the_online_path_does(tmp_path: Path, letters: list[str]) -> None:
    """A vLLM-like endpoint that reports a 4096-token window: prepare splits for it, as online would."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Models(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            data = json.dumps({"object": "list", "data": [{"id": MODEL, "max_model_len": 4096}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(model=MODEL, base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", no_cache=True)
        list(prepare(letters, tmp_path / "batch", backend="hybrid", settings=settings))
    finally:
        server.shutdown()
    assert Batch.open(tmp_path / "batch").settings["context_tokens"] == 4096
    manifest = [json.loads(line) for line in (tmp_path / "batch" / MANIFEST).read_text().splitlines()]
    assert len(manifest[-1]["requests"]) > 4  # the 21-item letter: 13 parts at 4k, 4 at 8k


def test_a_corrupt_results_index_is_rebuilt(tmp_path: Path, letters: list[str], batch_settings: Settings) -> None:
    folder = tmp_path / "batch"
    list(prepare(letters[:1], folder, backend="hybrid", settings=batch_settings))
    results = _write(tmp_path / "r.jsonl", _results(folder, _answers()))
    first = list(collect(Batch.open(folder), [results], batch_settings))
    (index,) = folder.glob(".results-index-*")
    (index / "cache.db").write_bytes(b"not a database" * 100)  # a disk error, a kill in the middle of a write
    again = list(collect(Batch.open(folder), [results], batch_settings))
    assert _without_provenance(again) == _without_provenance(first) and not again[0].needs_review
