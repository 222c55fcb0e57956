"""Does a flawed model make records worse? The library against the flawed stub model, on the gold set.

For offline, and for ``hybrid`` and ``llm`` against benchmarks/llm_stub_server.py answering from
gold with (a) a wrong judgement field on ``--rate`` of the items, (b) a required property missing
from ``--rate`` of the item answers, (c) every answer correct, it prints: error records, letters
lost, item recall and precision, decision accuracy, field accuracy (extractor.evaluation.scoring), review
recall (flawed items whose record item has ``needs_review`` / flawed items, from the stub's flaw
log) and false alarms (record items flagged whose answer had no flaw / such items).

    PYTHONPATH=. python benchmarks/bench_trust.py [--rate 0.3] [--backends hybrid llm] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_stub_server import Flaws, GoldAnswers, StubServer  # beside this script, which Python puts on the path

from extractor import extract_many
from extractor.evaluation.scoring import align, find_letter, load_gold, score
from extractor.models import Record
from extractor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    backend: str
    answers: str
    records: list[Record]
    flaws: list[dict[str, Any]]


def run(backend: str, paths: list[Path], gold_dir: Path, letters_dir: Path, flaws: Flaws | None, tmp: Path) -> Row:
    """Extract every letter with ``backend``; against the flawed stub unless offline."""
    if flaws is None:
        return Row(backend, "-", list(extract_many(paths, backend="offline")), [])
    log = tmp / f"flaws-{backend}-{flaws.wrong_field}-{flaws.missing_property}.jsonl"
    answers = GoldAnswers(gold_dir, letters_dir, flaws, log)
    with StubServer(latency=0.0, answers=answers) as stub:
        settings = Settings(base_url=stub.url, api_key="sk-bench-dummy", no_cache=True,  # type: ignore[arg-type]
                            cache_dir=tmp / "cache", max_concurrency=8)
        records = list(extract_many(paths, backend=backend, settings=settings))
    logged = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    label = "correct" if flaws == Flaws(seed=flaws.seed) else \
        f"{flaws.wrong_field:.0%} wrong field" if flaws.wrong_field else f"{flaws.missing_property:.0%} missing property"
    return Row(backend, label, records, logged)


def review(records: Iterable[Record], gold: dict[str, dict[str, Any]], flaws: list[dict[str, Any]]) -> tuple[str, str]:
    """Review recall and false alarms, as 'caught/flawed = rate'; a flawed item in an error record is not caught."""
    flawed = {(f["document_id"], f["item"]) for f in flaws}
    caught = clean = alarms = 0
    for record in records:
        doc_id = record.document_id
        gold_items = gold[doc_id]["items"]
        flagged = set()
        if record.ok:
            pairs = align([i.model_dump(mode="json") for i in record.items], gold_items)
            flagged = {g + 1 for p, g in pairs if record.items[p].needs_review}
        for n in range(1, len(gold_items) + 1):
            if (doc_id, n) in flawed:
                caught += n in flagged
            elif record.ok:
                clean += 1
                alarms += n in flagged
    return _rate(caught, len(flawed)), _rate(alarms, clean)


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.3f}" if whole else "-"


def show(row: Row, gold: dict[str, dict[str, Any]], paths: list[Path]) -> None:
    summary = score({r.document_id: r for r in row.records}, gold).summary
    lost = len({str(p) for p in paths} - {r.provenance.source_path for r in row.records})
    recall, alarms = review(row.records, gold, row.flaws)
    print(f"{row.backend:<8} {row.answers:<22} {summary['errors']:>6} {lost:>4} {summary['item_recall']:>7.3f} "
          f"{summary['item_precision']:>7.3f} {summary['decision_accuracy'] or 0:>8.3f} "
          f"{summary['field_accuracy'] or 0:>8.4f}  {recall:<20} {alarms}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=Path, default=ROOT / "evals" / "letters")
    parser.add_argument("--gold", type=Path, default=ROOT / "evals" / "gold")
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--backends", nargs="+", default=["hybrid", "llm"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gold = load_gold(args.gold)
    paths = [p for d in sorted(gold) if (p := find_letter(args.letters, d)) is not None]
    print(f"{len(paths)} letters, {sum(len(gold[p.stem]['items']) for p in paths)} gold items; stub on loopback, "
          f"seed {args.seed}")
    print(f"{'backend':<8} {'answers':<22} {'errors':>6} {'lost':>4} {'recall':>7} {'precis.':>7} {'decision':>8} "
          f"{'fields':>8}  {'review recall':<20} false alarms")
    settings = [Flaws(wrong_field=args.rate, seed=args.seed), Flaws(missing_property=args.rate, seed=args.seed),
                Flaws(seed=args.seed)]
    with tempfile.TemporaryDirectory() as tmp:
        show(run("offline", paths, args.gold, args.letters, None, Path(tmp)), gold, paths)
        for backend in args.backends:
            for flaws in settings:
                show(run(backend, paths, args.gold, args.letters, flaws, Path(tmp)), gold, paths)


if __name__ == "__main__":
    main()
