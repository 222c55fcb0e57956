"""The self-checks' flags and the calibrated confidence, measured offline.

1. On letters the rules were not tuned on: the held-out history batches (benchmarks/history.py: each read
   by the parser as it was before the batch joined the gold set; those the confidence table was fit on,
   named in extractor/verify/data/calibration.json, are left out), and any ``--unseen LETTERS GOLD``
   folders read by today's parser (gold that never saw the parser, e.g. a fresh labelled batch):
   review recall (wrong items flagged / wrong items; target >= 0.8), the share of right items flagged
   (<= 10%), the expected calibration error (<= 0.05) and the reliability table.
2. Today's parser on the gold set (``evals/``, which its rules were tuned on): the share of items flagged
   (<= 5%).

    PYTHONPATH=. python benchmarks/bench_confidence.py [--unseen LETTERS GOLD] [--cache /tmp/imr-history]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from history import BATCHES, DEFAULT_CACHE, ROOT, batch_documents, checked_records, gold_for, old_records

from extractor import extract_many
from extractor.evaluation.calibration import Outcomes, outcomes, reliability, review_recall
from extractor.evaluation.scoring import find_letter, load_gold
from extractor.verify.confidence import CALIBRATION


def today(letters: Path, gold_dir: Path) -> Outcomes:
    """Today's offline parser on a folder of letters with gold."""
    gold = load_gold(gold_dir)
    ids = [d for d in sorted(gold) if find_letter(letters, d)]
    records = dict(zip(ids, extract_many([find_letter(letters, d) for d in ids], backend="offline"), strict=True))
    return outcomes(records, {d: gold[d] for d in ids})


def show(title: str, out: Outcomes) -> dict:
    rel, review = reliability(out.fields), review_recall(out)
    print(f"\n== {title}")
    print(f"items {review['items']}: wrong {review['wrong_items']}, flagged {review['items_flagged']} "
          f"({review['items_flagged_share']})")
    print(f"review recall (wrong items flagged / wrong items): {review['wrong_items_flagged']}/{review['wrong_items']}"
          f" = {review['item_recall']}")
    print(f"right items flagged: {review['right_items_flagged']}/{review['right_items']} = "
          f"{review['right_items_flagged_share']}")
    print(f"wrong fields flagged / wrong fields: {review['wrong_fields_flagged']}/{review['wrong_fields']} = "
          f"{review['field_recall']}")
    print(f"ECE over {rel['fields']} fields: {rel['ece']}")
    for b in rel["bins"]:
        print(f"  {b['bin']}: {b['count']:5d} fields, mean confidence {b['mean_confidence']:.3f}, "
              f"accuracy {b['accuracy']:.3f}")
    return {"reliability": rel, "review": review}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unseen", nargs=2, action="append", default=[], metavar=("LETTERS", "GOLD"),
                        help="a folder of letters and its gold, never used to tune (repeatable)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--no-gold-set", action="store_true", help="skip today's parser on evals/")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    fitted = set(json.loads(CALIBRATION.read_text(encoding="utf-8")).get("batches", []))
    figures: dict[str, dict] = {}
    held = [b for b in BATCHES if b.name not in fitted]
    pooled = Outcomes()
    for batch in held:
        out = outcomes(checked_records(old_records(batch, cache=args.cache)), gold_for(batch_documents(batch)))
        figures[f"batch {batch.name}"] = show(f"batch {batch.name} read by the parser of {batch.parser} (unseen)", out)
        pooled.fields += out.fields
        pooled.items += out.items
    for letters, gold in args.unseen:
        out = today(Path(letters), Path(gold))
        figures[f"unseen {gold}"] = show(f"{gold} read by today's parser (unseen)", out)
        pooled.fields += out.fields
        pooled.items += out.items
    names = [f"batch {b.name}" for b in held] + [f"unseen {g}" for _, g in args.unseen]
    figures["unseen, pooled"] = show("all unseen above, pooled: " + ", ".join(names), pooled)
    if not args.no_gold_set:
        start = time.perf_counter()
        out = today(ROOT / "evals/letters", ROOT / "evals/gold")
        figures["gold set"] = show(f"today's parser on the gold set (tuned on; {time.perf_counter() - start:.0f} s)", out)
    print(f"\nconfidence table fit on batches {sorted(fitted)}; not reported as unseen")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
