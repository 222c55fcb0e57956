"""drug_class and compounded on labelled medication requests, through the whole offline extraction.

Each request is put in place of the one in a seed letter (a one-item medication letter of the gold set),
the letter is extracted as a user would, and the record's ``drug_class`` and ``compounded`` are compared
with the labels. The labels file is JSON lines: ``{"request": ..., "drug_class": ..., "compounded": ...}``
(written by a labeller who follows ``evals/LABELING.md`` and never saw ``parse/data/drug_classes.csv``).

    python benchmarks/bench_drugclass.py LABELS.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import Counter
from pathlib import Path

from extractor import Settings, extract

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "evals" / "letters" / "syn-c-01.txt"
SEED_REQUEST = "Oxycodone 10mg #90"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path, help="JSON lines with request, drug_class and compounded")
    args = parser.parse_args()
    labels = [json.loads(line) for line in args.labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    seed = SEED.read_text(encoding="utf-8")
    printed = re.compile(re.escape(SEED_REQUEST), re.I)
    assert printed.search(seed), f"{SEED}: the seed request is not printed"
    settings = Settings(backend="offline")
    wrong: Counter[str] = Counter()
    misses = []
    with tempfile.TemporaryDirectory() as folder:
        for n, label in enumerate(labels):
            request = re.sub(r"^\s*Retrospective:?\s*", "", label["request"], flags=re.I)
            letter = Path(folder) / f"drug-{n:03d}.txt"
            letter.write_text(printed.sub(lambda _: request, seed), encoding="utf-8")  # noqa: B023
            [item] = extract(letter, settings=settings).items
            for field in ("drug_class", "compounded"):
                if getattr(item, field) != label[field]:
                    wrong[field] += 1
                    misses.append(f"  {field}: {label['request']!r}: labelled {label[field]!r}, read {getattr(item, field)!r}"
                                  f" (category {item.category}, generic {item.generic_name})")
    total = len(labels)
    print(f"{total} labelled medication requests ({args.labels})")
    for field in ("drug_class", "compounded"):
        print(f"{field}: {total - wrong[field]}/{total} = {(total - wrong[field]) / total:.3f}")
    print("\n".join(misses))


if __name__ == "__main__":
    main()
