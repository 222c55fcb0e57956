"""The live tier: the command line against the REAL local model server (llama-cpp-python with
SmolLM2-135M from the ``local`` extra, started by the ``local_model_server`` fixture), as a user
runs it, on a seed letter. CI runs it. A 135M model is weak: these assert the plumbing,
never what it answers.

Cost decides the shape: on 2 cores the grammar-constrained answers come at about 8 tokens a
second, so each backend runs on the one letter that shows its path (split, where the context is small), and
the clock never cuts a request short: a request abandoned by the client keeps the server busy and
makes the next one late, so a slow machine would fail for the wrong reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from extractor.llm.budget import answer_tokens
from extractor.llm.local import LocalServer
from extractor.pipeline import extract

ROOT = Path(__file__).resolve().parent.parent
LETTER = "imr-002.txt"  # 4 items; asked in two parts where the context is 4096 tokens
pytestmark = pytest.mark.live


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    letters, gold = tmp_path / "letters", tmp_path / "gold"
    letters.mkdir()
    gold.mkdir()
    (letters / LETTER).symlink_to(ROOT / "evals" / "letters" / LETTER)
    stem = LETTER.rsplit(".", 1)[0]
    (gold / f"{stem}.json").symlink_to(ROOT / "evals" / "gold" / f"{stem}.json")
    return letters, gold


def _cli(args: list[str], server: LocalServer, cache: Path, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **server.environment, "IMR_MAX_CONCURRENCY": "1", "IMR_CACHE_DIR": str(cache),
           "IMR_MAX_REASKS": "0", "IMR_TIMEOUT": "600", "IMR_LETTER_TIMEOUT": "900", **env_overrides}
    return subprocess.run([sys.executable, "-c", "from extractor.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=1200)


@pytest.mark.parametrize(("backend", "context"), [("hybrid", "4096"), ("llm", None)], ids=["hybrid-split-scored", "llm"])
def test_extract_and_eval_against_the_real_local_model(backend: str, context: str | None,
                                                       local_model_server: LocalServer, tmp_path: Path) -> None:
    """The letter's record made with the model's answers, the parser's items kept; the hybrid run
    in a context small enough to split the letter, then scored by ``eval`` (whose re-extraction
    takes the cached answers and asks again only what failed)."""
    letters, gold = _folders(tmp_path)
    out = tmp_path / "records.jsonl"
    window = {"IMR_CONTEXT_TOKENS": context} if context else {}
    done = _cli(["extract", str(letters), "-o", str(out), "--backend", backend], local_model_server, tmp_path / "cache",
                **window)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    [record] = map(json.loads, out.read_text().splitlines())
    offline = extract(letters / LETTER, backend="offline")
    assert record["document_id"] == offline.document_id and record["error"] is None
    assert [i["request"] for i in record["items"]] == [i.request for i in offline.items]  # every item, in order
    provenance, usage = record["provenance"], record["provenance"]["usage"]
    assert provenance["backend"] == backend and provenance["model"] == local_model_server.model
    assert provenance["prompt_version"] == "v1"
    assert usage["requests"] >= 1
    blocks = " ".join(i.request + " " + i.rationale for i in offline.items)
    bound = answer_tokens(len(offline.items), blocks if backend == "llm" else "")
    assert usage["longest_answer"] <= bound  # no answer past the largest bound any part was given
    for item, parsed in zip(record["items"], offline.items, strict=True):  # what the parser reads best stays
        assert (item["decision"], item["strength"], item["quantity"]) == (parsed.decision, parsed.strength,
                                                                          parsed.quantity)
        assert set(item["sources"]) >= {"treatment", "category", "decision"}
    if backend == "llm":
        return
    assert any(w["code"] == "split" for w in record["warnings"])
    report = tmp_path / "report.json"
    done = _cli(["eval", "--letters", str(letters), "--gold", str(gold), "--backend", backend, "--report-json",
                 str(report)], local_model_server, tmp_path / "cache", **window)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(report.read_text())["summary"]
    assert summary["documents"] == 1 and summary["item_recall"] == 1.0 and summary["decision_accuracy"] == 1.0


def test_batch_lines_answered_by_the_real_server_collect_into_the_online_records(local_model_server: LocalServer,
                                                                                tmp_path: Path) -> None:
    """prepare -> each request line POSTed to the real server, as a batch engine would -> collect
    (--online for what the batch was not asked): the records the online run makes, token for token."""
    import httpx2

    letters = [str(ROOT / "evals" / "letters" / LETTER)]
    folder, results = tmp_path / "batch", tmp_path / "results.jsonl"
    timing = {"IMR_NO_CACHE": "true"}
    prepared = _cli(["batch", "prepare", *letters, "-o", str(folder), "-b", "hybrid"], local_model_server,
                    tmp_path / "cache", **timing)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    lines = [json.loads(line) for f in sorted(folder.glob("requests-*.jsonl")) for line in f.read_text().splitlines()]
    with httpx2.Client(base_url=local_model_server.url, timeout=600) as client, results.open("w") as out:
        for n, line in enumerate(lines):
            answer = client.post("/chat/completions", json=line["body"])
            out.write(json.dumps({"id": f"batch_req_{n}", "custom_id": line["custom_id"], "error": None, "response": {
                "status_code": answer.status_code, "request_id": f"req_{n}", "body": answer.json()}}) + "\n")
    assert all(json.loads(line)["response"]["status_code"] == 200 for line in results.read_text().splitlines())
    collected = _cli(["batch", "collect", str(results), "--requests", str(folder), "-o", str(tmp_path / "batch.jsonl"),
                      "--online"], local_model_server, tmp_path / "cache", **timing)
    online = _cli(["extract", *letters, "-o", str(tmp_path / "online.jsonl"), "-b", "hybrid"], local_model_server,
                  tmp_path / "cache", **timing)
    assert collected.returncode == 0 and online.returncode == 0, (collected.stderr[-2000:], online.stderr[-2000:])
    batch = [json.loads(line) for line in (tmp_path / "batch.jsonl").read_text().splitlines()]
    direct = [json.loads(line) for line in (tmp_path / "online.jsonl").read_text().splitlines()]
    assert [r["document_id"] for r in batch] == [r["document_id"] for r in direct] and len(batch) == 1
    assert [{k: v for k, v in r.items() if k != "provenance"} for r in batch] == \
           [{k: v for k, v in r.items() if k != "provenance"} for r in direct]
    sources = {v for r in batch for i in r["items"] for v in i["sources"].values()}
    assert sources & {"model", "agreed"}, sources  # the model's answers were used, not only the parser's
    for b, d in zip(batch, direct, strict=True):
        assert b["provenance"]["usage"]["prompt_tokens"] == d["provenance"]["usage"]["prompt_tokens"]
        assert b["provenance"]["usage"]["completion_tokens"] == d["provenance"]["usage"]["completion_tokens"]
