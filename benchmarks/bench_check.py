"""The model-value checks (extractor/llm/check.py) measured on the gold set, with no model.

For every gold item the parser's item is checked against a proposal made from the gold values (a
correct model; its citations grounded in the letter as the backends do) or, on ``--rate`` of the
items, from gold with ONE judgement field changed to a plausible wrong value
(benchmarks/llm_stub_server.py ``wrong_value``; seeded). It prints the field
accuracy of the kept items (the eval harness's comparison) beside the parser's alone, the review
recall (flawed items flagged / flawed items), the wrong values kept, and the false alarms (items
flagged whose proposal was correct / such items); then the same with every proposal correct.

    PYTHONPATH=. python benchmarks/bench_check.py [--rate 0.3] [--seed 0] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_stub_server import flawable, wrong_value  # beside this script, which Python puts on the path

from extractor import extract
from extractor.evaluation.scoring import align, find_letter, load_gold, score
from extractor.llm.check import JUDGEMENT_FIELDS, ItemEvidence, check_item, item_evidence
from extractor.llm.ground import Grounder
from extractor.llm.schema import AnswerCitation
from extractor.models import Item, Record
from extractor.parse import clean_letter
from extractor.parse.letter import parse_letter
from extractor.parse.segment import ItemBlock
from extractor.read.files import read_letter
from extractor.read.text import CleanText

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Letter:
    """One gold letter as the parser read it: its offline record, each item's evidence, and where
    each item's guideline paragraphs are (to ground the proposed citations as the backends do)."""

    record: Record
    evidence: list[ItemEvidence]
    pairs: list[tuple[int, int]]  # (parser item, gold item)
    clean: CleanText
    blocks: list[ItemBlock]

    def proposal(self, gold_item: dict[str, Any], p: int) -> dict[str, Any]:
        """What a correct model proposes for parser item ``p``: the gold judgement fields, citations grounded."""
        proposed = {name: gold_item[name] for name in JUDGEMENT_FIELDS}
        grounder = Grounder(self.clean)
        for name, region in (("claims_administrator_guidelines", self.blocks[p].claims_administrator),
                             ("reviewer_guidelines", self.blocks[p].reviewer)):
            proposed[name] = [grounder.citation(name, AnswerCitation.model_validate(c), item=p, region=region)
                              for c in proposed[name]]
        return proposed


@dataclass
class Outcome:
    """What the checks did over the gold set at one flaw rate."""

    accuracy: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # per run: overall, judgement fields
    flawed: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    kept_wrong: Counter[str] = field(default_factory=Counter)
    correct: int = 0
    false_alarms: int = 0
    alarms: Counter[str] = field(default_factory=Counter)


def load(letters_dir: Path, gold: dict[str, dict[str, Any]]) -> dict[str, Letter]:
    letters = {}
    for doc_id, g in gold.items():
        path = find_letter(letters_dir, doc_id)
        if path is None:
            continue
        clean = clean_letter(read_letter(path))
        record = extract(path, backend="offline")
        pairs = align([i.model_dump(mode="json") for i in record.items], g["items"])
        parsed = parse_letter(clean)
        assert parsed.segments is not None
        letters[doc_id] = Letter(record, item_evidence(clean, parsed), pairs, clean, parsed.segments.items)
    return letters


def run(letters: dict[str, Letter], gold: dict[str, dict[str, Any]], rate: float, seeds: range) -> Outcome:
    out = Outcome()
    for seed in seeds:
        records = _run_once(letters, gold, rate, random.Random(seed), out)
        out.accuracy.append(_field_accuracy(records, gold))
    return out


def _run_once(letters: dict[str, Letter], gold: dict[str, dict[str, Any]], rate: float, rng: random.Random,
              out: Outcome) -> dict[str, Record | None]:
    pool = [item for g in gold.values() for item in g["items"]]
    records: dict[str, Record | None] = {}
    for doc_id, letter in letters.items():
        items: list[Item] = list(letter.record.items)
        for p, g in letter.pairs:
            gold_item = gold[doc_id]["items"][g]
            flaw = rng.choice(flawable(gold_item)) if rng.random() < rate else None
            sent = {**gold_item, flaw: wrong_value(gold_item, flaw, rng, pool)} if flaw else gold_item
            proposed = letter.proposal(sent, p)
            kept = check_item(items[p], proposed, letter.evidence[p], index=p)
            items[p] = kept
            if flaw is None:
                out.correct += 1
                out.false_alarms += kept.needs_review
                out.alarms.update(r.split(": ")[1] for r in kept.review_reasons)
                continue
            out.flawed[flaw] += 1
            out.caught[flaw] += kept.needs_review
            out.kept_wrong[flaw] += kept.sources.get(flaw) == "model"
        records[doc_id] = letter.record.model_copy(update={"items": items})
    return records


def _field_accuracy(records: dict[str, Record | None], gold: dict[str, dict[str, Any]]) -> tuple[float, dict[str, float]]:
    report = score(records, gold)
    judged = {name: t["accuracy"] for name, t in report.fields.items() if name.split(".")[0] in JUDGEMENT_FIELDS}
    return report.summary["field_accuracy"], judged


def show(label: str, out: Outcome, gold: dict[str, dict[str, Any]], offline: dict[str, Record | None]) -> None:
    base, base_fields = _field_accuracy(offline, gold)
    worse = sorted({f"{n} {fields[n]:.3f} < {base_fields[n]:.3f}"
                    for _, fields in out.accuracy for n in fields if fields[n] < base_fields[n]})
    flawed, caught = sum(out.flawed.values()), sum(out.caught.values())
    print(f"{label}, {len(out.accuracy)} run(s):")
    runs = [a for a, _ in out.accuracy]
    print(f"  field accuracy {sum(runs) / len(runs):.4f} mean, {min(runs):.4f} worst run (offline {base:.4f}); "
          f"judgement fields below offline in some run: {', '.join(worse) or 'none'}")
    if flawed:
        print(f"  review recall {caught}/{flawed} = {caught / flawed:.3f}; wrong values kept "
              f"{sum(out.kept_wrong.values())}")
        for name in sorted(out.flawed):
            print(f"    {name:<34} flawed {out.flawed[name]:>3}  caught {out.caught[name]:>3}  "
                  f"wrong kept {out.kept_wrong[name]:>3}")
    alarms = ", ".join(f"{n} {c}" for n, c in out.alarms.most_common()) or "none"
    print(f"  false alarms {out.false_alarms}/{out.correct} = {out.false_alarms / max(out.correct, 1):.3f} "
          f"(reasons by field: {alarms})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=Path, default=ROOT / "evals" / "letters")
    parser.add_argument("--gold", type=Path, default=ROOT / "evals" / "gold")
    parser.add_argument("--rate", type=float, default=0.3, help="share of items with one wrong judgement field")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5, help="runs with seeds seed, seed+1, ... added up")
    args = parser.parse_args()
    gold = load_gold(args.gold)
    letters = load(args.letters, gold)
    offline: dict[str, Record | None] = {doc_id: letter.record for doc_id, letter in letters.items()}
    items = sum(len(g["items"]) for g in gold.values())
    seeds = range(args.seed, args.seed + args.runs)
    print(f"{len(letters)} letters, {items} gold items, seeds {seeds.start}..{seeds.stop - 1}")
    show(f"{args.rate:.0%} of items with one wrong judgement field", run(letters, gold, args.rate, seeds), gold, offline)
    show("every proposal correct", run(letters, gold, 0.0, range(args.seed, args.seed + 1)), gold, offline)


if __name__ == "__main__":
    main()
