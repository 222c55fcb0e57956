"""The real local model on the project's gold: ``offline``, ``llm`` and ``hybrid`` in the same run.

Starts llama-cpp-python's server with the bundled SmolLM2-135M (the ``local`` extra) as
``imr-extract serve-local`` does, sends one letter at a time (the server answers one request at a
time), and prints per backend: item recall and precision, decision accuracy, field accuracy,
error records, seconds and tokens per letter, the longest answer, letters split to fit the
context, and review recall: of the items the model made wrong (wrong in its record, right in the
offline one), the share flagged; and of every wrong item, the share flagged.

    PYTHONPATH=. python benchmarks/bench_local.py [--limit 12] [--letters DIR --gold DIR] [--mode tools]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from extractor import extract_many
from extractor.evaluation.scoring import EvalReport, find_letter, load_gold, score
from extractor.llm.local import local_server
from extractor.models import Record
from extractor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def wrong_items(report: EvalReport) -> set[tuple[str, int]]:
    """(document, predicted item index) of every item with a field the harness counts as missed."""
    return {(m["document_id"], m["item"]) for m in report.misses if m.get("item") is not None}


def flagged_share(records: dict[str, Record], items: set[tuple[str, int]]) -> str:
    hit = sum(records[d].items[i].needs_review for d, i in items if d in records and i < len(records[d].items))
    return f"{hit}/{len(items)} = {hit / len(items):.3f}" if items else "- (none wrong)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=Path, default=ROOT / "evals" / "letters")
    parser.add_argument("--gold", type=Path, default=ROOT / "evals" / "gold")
    parser.add_argument("--limit", type=int, default=12, help="letters, spread evenly over the gold set (0: all)")
    parser.add_argument("--mode", default="tools")
    parser.add_argument("--letter-timeout", type=float, default=180.0)
    args = parser.parse_args()
    gold = load_gold(args.gold)
    ids = sorted(gold)
    if args.limit:
        ids = ids[:: max(1, len(ids) // args.limit)][: args.limit]
    paths = [p for d in ids if (p := find_letter(args.letters, d)) is not None]
    chosen = {p.stem: gold[p.stem] for p in paths}
    print(f"{len(paths)} gold letters, {sum(len(g['items']) for g in chosen.values())} items; SmolLM2-135M-Instruct "
          f"Q4_1 on llama-cpp-python, mode {args.mode}, one letter at a time")
    print(f"{'backend':<8} {'recall':>6} {'precis.':>7} {'decision':>8} {'fields':>7} {'errors':>6} {'s/letter':>8} "
          f"{'tokens/letter':>13} {'longest':>7} {'split':>5}  {'review recall (model-made)':<27} all wrong flagged")
    with tempfile.TemporaryDirectory() as tmp, local_server(log=Path(tmp) / "server.log") as server:
        settings = Settings(base_url=server.url, model=server.model, mode=args.mode, context_tokens=server.context,
                            max_concurrency=1, no_cache=True, letter_timeout=args.letter_timeout)
        offline_wrong: set[tuple[str, int]] = set()
        for backend in ("offline", "llm", "hybrid"):
            started = time.perf_counter()
            records = {r.document_id: r for r in extract_many(paths, backend=backend, settings=settings)}
            seconds = time.perf_counter() - started
            report = score(records, chosen)
            wrong = wrong_items(report)
            if backend == "offline":
                offline_wrong = wrong
            usages = [r.provenance.usage for r in records.values() if r.provenance.usage is not None]
            tokens = sum(u.prompt_tokens + u.completion_tokens for u in usages) / len(paths)
            longest = max((u.longest_answer for u in usages), default=0)
            split = sum(any(w.code == "split" for w in r.warnings) for r in records.values())
            s = report.summary
            print(f"{backend:<8} {s['item_recall']:>6.3f} {s['item_precision']:>7.3f} {s['decision_accuracy'] or 0:>8.3f} "
                  f"{s['field_accuracy'] or 0:>7.4f} {s['errors']:>6} {seconds / len(paths):>8.1f} {tokens:>13.0f} "
                  f"{longest:>7} {split:>5}  "
                  f"{'-' if backend == 'offline' else flagged_share(records, wrong - offline_wrong):<27} "
                  f"{flagged_share(records, wrong)}")


if __name__ == "__main__":
    main()
