"""The batch path against the online path, on the project's gold, with the same answers.

For ``hybrid`` and ``llm``: the online run asks the loopback stub model (benchmarks/llm_stub_server.py,
answering from gold with a wrong judgement field on ``--rate`` of the items, and with a ``--missing``
share of answers that fail the schema, so re-asks happen); the batch run prepares the requests,
checks every line against the OpenAI Batch input format and limits, submits them to the same stub's
files and batches endpoints, polls, downloads, and collects (re-asks online with ``--online``, else
flagged). It prints the eval figures of each run, whether the records are the same, and tokens,
requests and estimated cost per 1,000 letters (gpt-4o-mini list price online, half in the batch).

    PYTHONPATH=. python benchmarks/bench_batch.py [--rate 0.3] [--missing 0.1] [--context 128000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_stub_server import Flaws, GoldAnswers, StubServer  # beside this script, which Python puts on the path
from pydantic import SecretStr

from extractor import extract_many
from extractor.batch.api import download, refresh, submit, summary
from extractor.batch.collect import Batch, collect
from extractor.batch.prepare import BATCH_JSON, MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE, prepare
from extractor.evaluation.scoring import find_letter, load_gold, score
from extractor.models import Record
from extractor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gpt-4o-mini"


def valid_lines(folder: Path) -> tuple[int, int]:
    """(request lines, lines breaking the OpenAI Batch input format or its limits)."""
    meta = json.loads((folder / BATCH_JSON).read_text())
    lines = bad = 0
    seen: set[str] = set()
    for name in meta["files"]:
        path = folder / name
        rows = path.read_text(encoding="utf-8").splitlines()
        bad += (len(rows) > MAX_REQUESTS_PER_FILE) + (path.stat().st_size > MAX_BYTES_PER_FILE)
        for text in rows:
            line = json.loads(text)
            lines += 1
            body = line.get("body", {})
            ok = (set(line) == {"custom_id", "method", "url", "body"} and line["method"] == "POST"
                  and line["url"] == "/v1/chat/completions" and line["custom_id"] not in seen
                  and body.get("model") == MODEL and isinstance(body.get("messages"), list) and body.get("max_tokens"))
            seen.add(line["custom_id"])
            bad += not ok
    return lines, bad


def figures(records: list[Record], gold: dict[str, Any]) -> dict[str, Any]:
    report = score({r.document_id: r for r in records}, gold).summary
    usage = [r.provenance.usage for r in records if r.provenance.usage is not None]
    n = len(records)
    cost = sum(u.cost_usd or 0.0 for u in usage)
    return {"recall": report["item_recall"], "precision": report["item_precision"],
            "decision": report["decision_accuracy"], "field": report["field_accuracy"],
            "flagged": sum(i.needs_review for r in records for i in r.items), "errors": sum(not r.ok for r in records),
            "prompt/1k": 1000 * sum(u.prompt_tokens for u in usage) / n,
            "completion/1k": 1000 * sum(u.completion_tokens for u in usage) / n,
            "requests/1k": 1000 * sum(u.requests for u in usage) / n, "cost/1k": 1000 * cost / n}


def same(a: list[Record], b: list[Record]) -> bool:
    return [r.model_dump(exclude={"provenance"}) for r in a] == [r.model_dump(exclude={"provenance"}) for r in b]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=0.3, help="share of items answered with one wrong field")
    parser.add_argument("--missing", type=float, default=0.1, help="share of item answers missing a required property")
    parser.add_argument("--context", type=int, default=128_000, help="the model's context window (gpt-4o-mini: 128k)")
    parser.add_argument("--letters", type=Path, default=ROOT / "evals" / "letters")
    parser.add_argument("--gold", type=Path, default=ROOT / "evals" / "gold")
    args = parser.parse_args()
    gold = load_gold(args.gold)
    paths = [str(p) for d in sorted(gold) if (p := find_letter(args.letters, d)) is not None]
    print(f"{len(paths)} gold letters; stub answers: {args.rate:.0%} wrong field, {args.missing:.0%} missing property; "
          f"context {args.context}")
    header = ("run", "recall", "precision", "decision", "field", "flagged", "errors", "prompt/1k", "completion/1k",
              "requests/1k", "cost/1k")
    print(" | ".join(header))
    for backend in ("hybrid", "llm"):
        with tempfile.TemporaryDirectory() as tmp, StubServer(latency=0.0, answers=GoldAnswers(
                args.gold, args.letters, Flaws(args.rate, args.missing, 0, 0, 0))) as stub:
            settings = Settings(base_url=stub.url, api_key=SecretStr("sk-bench-dummy"), model=MODEL, no_cache=True,
                                context_tokens=args.context, max_concurrency=8)
            started = time.perf_counter()
            online = list(extract_many(paths, backend=backend, settings=settings))
            online_s = time.perf_counter() - started
            folder = Path(tmp) / "batch"
            started = time.perf_counter()
            list(prepare(paths, folder, backend=backend, settings=settings))
            prepare_s = time.perf_counter() - started
            lines, bad = valid_lines(folder)
            submit(folder, settings)
            while not summary(refresh(folder, settings))["all_finished"]:
                time.sleep(0.1)
            results = download(folder, settings)
            runs = {}
            for online_reasks in (True, False):
                started = time.perf_counter()
                runs[online_reasks] = list(collect(Batch.open(folder), results, settings, online=online_reasks))
                collect_s = time.perf_counter() - started
            rows = {"online": online, "batch, re-asks online": runs[True], "batch, no re-asks": runs[False]}
            for label, records in rows.items():
                f = figures(records, gold)
                print(" | ".join([f"{backend} {label}", *(f"{f[k]:.3f}" if k in ("recall", "precision", "decision") else
                                  f"{f[k]:.4f}" if k in ("field", "cost/1k") else f"{f[k]:.0f}" for k in header[1:])]))
            print(f"  {backend}: {lines} request lines, {bad} breaking the Batch format or limits; records the same as "
                  f"online: with online re-asks {same(runs[True], online)}, without {same(runs[False], online)}; "
                  f"online {online_s:.1f} s, prepare {prepare_s:.1f} s, collect {collect_s:.1f} s")


if __name__ == "__main__":
    main()
