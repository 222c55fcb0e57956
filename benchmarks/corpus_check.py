"""On every letter of a corpus, does the offline backend find one item per "Decision rationale:"?

    python benchmarks/corpus_check.py [DIR]     (default: ../shared/data/real-letters/pdf)

Prints each letter that differs or carries warnings, then the totals.
"""

from __future__ import annotations

import sys
from pathlib import Path

from extractor import extract_many, iter_letter_paths, read_letter

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real-letters" / "pdf"


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    paths = list(iter_letter_paths([folder]))
    letters = items = differ = warned = failed = 0
    for path, record in zip(paths, extract_many(paths), strict=True):
        letters += 1
        if not record.ok:
            failed += 1
            print(f"FAILED {path}: {record.error}")
            continue
        expected = read_letter(path).text.count("Decision rationale:")
        items += len(record.items)
        if len(record.items) != expected:
            differ += 1
            print(f"DIFFERS {path}: {len(record.items)} items, {expected} 'Decision rationale:' paragraphs")
        if record.warnings:
            warned += 1
            print(f"WARNED {path}: " + "; ".join(w.message for w in record.warnings))
    print(f"{letters} letters, {items} items; {differ} with an item count unlike their rationale count; "
          f"{warned} with warnings; {failed} failed")


if __name__ == "__main__":
    main()
