"""Can the rows be trusted? The library against the flawed stub model, on the gold set and on synthetic
letters whose requests the parser misreads (benchmarks/data/trust, README there).

For offline, and for each model backend against benchmarks/llm_stub_server.py answering from gold with
(a) a wrong judgement field on ``--rate`` of the items (the model right on the rest) and (b) every answer
correct, it prints: error records, letters lost, item recall and precision, decision accuracy, field
accuracy (extractor.evaluation.scoring), review recall (wrong items flagged / wrong items: an item is
wrong when any field scored against gold is, or when it is missing), false alarms (right items flagged
/ right items, among the items whose model answer had no flaw, from the stub's flaw log: a wrong model
value flagged on a right item is the check at work, not an alarm), model tokens per 1,000 letters and
the share of items asked of the model.

    PYTHONPATH=. python benchmarks/bench_trust.py [--rate 0.3] [--backends hybrid cascade] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_stub_server import Flaws, GoldAnswers, StubServer  # beside this script, which Python puts on the path

from extractor import extract_many
from extractor.evaluation.scoring import align, find_letter, load_gold, score
from extractor.models import Record
from extractor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "benchmarks" / "data" / "trust"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    backend: str
    answers: str
    records: list[Record]
    seconds: float
    flawed: set[tuple[str, int]] = field(default_factory=set)  # (document id, 0-based gold item) given a flaw


def run(backend: str, paths: list[Path], gold_dir: Path, letters_dir: Path, flaws: Flaws | None, tmp: Path) -> Row:
    """Extract every letter with ``backend``; against the flawed stub unless offline."""
    start = time.perf_counter()
    if flaws is None:
        return Row(backend, "-", list(extract_many(paths, backend="offline")), time.perf_counter() - start)
    log = tmp / f"flaws-{backend}-{flaws.wrong_field}.jsonl"
    answers = GoldAnswers(gold_dir, letters_dir, flaws, log)
    with StubServer(latency=0.0, answers=answers) as stub:
        settings = Settings(base_url=stub.url, api_key="sk-bench-dummy", no_cache=True,  # type: ignore[arg-type]
                            cache_dir=tmp / "cache", max_concurrency=8)
        records = list(extract_many(paths, backend=backend, settings=settings))
    flawed = {(f["document_id"], f["item"] - 1) for line in (log.read_text().splitlines() if log.exists() else [])
              if (f := json.loads(line))}
    label = "correct" if flaws == Flaws(seed=flaws.seed) else f"{flaws.wrong_field:.0%} wrong field"
    return Row(backend, label, records, time.perf_counter() - start, flawed)


def review(records: Iterable[Record], gold: dict[str, dict[str, Any]], flawed: set[tuple[str, int]]) -> tuple[str, str]:
    """Review recall and false alarms against gold, as 'part/whole = rate'."""
    records = list(records)
    wrong = {(m["document_id"], m["gold_item"]) for m in score({r.document_id: r for r in records}, gold).misses
             if m.get("gold_item") is not None}
    caught = wrong_items = right = alarms = 0
    for record in records:
        flagged: set[int] = set()
        if record.ok:
            pairs = align([i.model_dump(mode="json") for i in record.items], gold[record.document_id]["items"])
            flagged = {g for p, g in pairs if record.items[p].needs_review}
        for g in range(len(gold[record.document_id]["items"])):
            if (record.document_id, g) in wrong or not record.ok:
                wrong_items += 1
                caught += g in flagged
            elif (record.document_id, g) not in flawed:
                right += 1
                alarms += g in flagged
    return _rate(caught, wrong_items), _rate(alarms, right)


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.3f}" if whole else "-"


def show(row: Row, gold: dict[str, dict[str, Any]], paths: list[Path]) -> float:
    """Print the row's line; returns its model tokens per 1,000 letters."""
    summary = score({r.document_id: r for r in row.records}, gold).summary
    lost = len({str(p) for p in paths} - {r.provenance.source_path for r in row.records})
    recall, alarms = review(row.records, gold, row.flawed)
    usages = [r.provenance.usage for r in row.records if r.provenance.usage is not None]
    tokens = sum(u.prompt_tokens + u.completion_tokens for u in usages) * 1000 / len(row.records)
    items = sum(len(r.items) for r in row.records)
    asked = [r.provenance.items_asked for r in row.records if r.provenance.items_asked is not None]
    share = f"{sum(asked)}/{items} = {sum(asked) / items:.3f}" if asked else "all" if usages else "-"
    print(f"{row.backend:<8} {row.answers:<16} {summary['errors']:>6} {lost:>4} {summary['item_recall']:>7.3f} "
          f"{summary['item_precision']:>7.3f} {summary['decision_accuracy'] or 0:>8.3f} "
          f"{summary['field_accuracy'] or 0:>8.4f}  {recall:<18} {alarms:<18} {tokens:>10,.0f}  {share:<18} "
          f"{row.seconds:>5.0f} s")
    return tokens


def gather(folders: list[Path], into: Path) -> tuple[Path, Path]:
    """One letters folder and one gold folder (links) for the gold set and the synthetic letters."""
    letters, gold = into / "letters", into / "gold"
    letters.mkdir()
    gold.mkdir()
    for folder in folders:
        for g in sorted((folder / "gold").glob("*.json")):
            if (letter := find_letter(folder / "letters", g.stem)) is not None:
                (gold / g.name).symlink_to(g)
                (letters / letter.name).symlink_to(letter)
    return letters, gold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=Path, nargs="+", default=[ROOT / "evals", SYNTHETIC],
                        help="folders each holding letters/ and gold/")
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--backends", nargs="+", default=["hybrid", "cascade"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        letters_dir, gold_dir = gather(args.sets, Path(tmp))
        gold = load_gold(gold_dir)
        paths = [p for d in sorted(gold) if (p := find_letter(letters_dir, d)) is not None]
        print(f"{len(paths)} letters, {sum(len(gold[p.stem]['items']) for p in paths)} gold items "
              f"({', '.join(str(s) for s in args.sets)}); stub on loopback, seed {args.seed}")
        print(f"{'backend':<8} {'answers':<16} {'errors':>6} {'lost':>4} {'recall':>7} {'precis.':>7} {'decision':>8} "
              f"{'fields':>8}  {'review recall':<18} {'false alarms':<18} {'tokens/1k':>10}  {'items asked':<18} {'time':>7}")
        show(run("offline", paths, gold_dir, letters_dir, None, Path(tmp)), gold, paths)
        tokens: dict[tuple[str, str], float] = {}
        for backend in args.backends:
            for flaws in (Flaws(wrong_field=args.rate, seed=args.seed), Flaws(seed=args.seed)):
                row = run(backend, paths, gold_dir, letters_dir, flaws, Path(tmp))
                tokens[backend, row.answers] = show(row, gold, paths)
        for (backend, answers), spent in tokens.items():
            if backend == "cascade" and tokens.get(("hybrid", answers)):
                print(f"cascade's model tokens, {answers} answers: {spent / tokens['hybrid', answers]:.1%} of hybrid's")


if __name__ == "__main__":
    main()
