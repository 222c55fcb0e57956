"""Fit the confidence table (extractor/verify/data/calibration.json) on genuine unseen errors.

For each tuning batch, the parser as it was before the batch joined the gold set (benchmarks/history.py)
reads the batch's letters; today's self-checks are applied to those old records, which are scored
against today's gold, and the table is fit on the outcomes (extractor/evaluation/calibration.py:
``fit_table``). The batches used are written into the file; bench_confidence.py reports on the others.

    PYTHONPATH=. python benchmarks/calibrate.py [--batches 1 2 3-4] [--cache /tmp/imr-history]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from history import BATCHES, DEFAULT_CACHE, ROOT, batch_documents, checked_records, gold_for, old_records

from extractor.evaluation.calibration import fit_table, outcomes, reliability, review_recall
from extractor.verify.confidence import CALIBRATION

TUNING = ("1", "2", "3-4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", nargs="+", default=list(TUNING), help="the batches to fit on")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=CALIBRATION)
    args = parser.parse_args()
    chosen = [b for b in BATCHES if b.name in args.batches]
    item_fields, letter_fields, items, used = [], [], [], []
    for batch in chosen:
        docs = batch_documents(batch)
        out = outcomes(checked_records(old_records(batch, cache=args.cache)), gold_for(docs))
        item_fields += [o for o in out.fields if o.item is not None]
        letter_fields += [o for o in out.fields if o.item is None]
        items += out.items
        used.append(f"batch {batch.name} ({len(docs)} letters, gold added in {batch.joined}) read by the parser "
                    f"of {batch.parser}")
        print(f"batch {batch.name}: {len(out.items)} items, {sum(o.wrong for o in out.items)} wrong")
    table = fit_table(item_fields, letter_fields)
    table = {"fitted_on": "; ".join(used) + ". Outcomes: today's self-checks on those old records, scored against "
             "today's gold (" + f"{len(item_fields)} item fields, {len(letter_fields)} letter fields).",
             "script": "benchmarks/calibrate.py", "batches": [b.name for b in chosen]} | table
    args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    from extractor.evaluation.calibration import Outcomes
    fitted = Outcomes(fields=item_fields + letter_fields, items=items)
    print("flags on the tuning batches:", review_recall(fitted))
    print("(confidences before this fit) ECE:", reliability(fitted.fields)["ece"])


if __name__ == "__main__":
    main()
