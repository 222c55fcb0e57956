"""Review site on the real-letter corpus: prints its figures, asserts nothing.

    python benchmarks/bench_review.py [--pdf-dir DIR] [--manifest TSV] [--out DIR]

The letters are first extracted offline to JSONL (timed apart); then the site is built from that
file as ``imr-extract review`` does. Figures: build time, total and largest page size, the page of
the letter with the most items (from MANIFEST.tsv's items column), and, read back from the written
pages, the share of each record's fields with a span that carry a mark.
"""

from __future__ import annotations

import argparse
import csv
import html
import re
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "data" / "real-letters"
DATA_FIELD = re.compile(r'data-field="([^"]*)"')


def most_items(manifest: Path) -> tuple[str, int]:
    with manifest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    top = max(rows, key=lambda r: int(r["items"]))
    return top["case_number"], int(top["items"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf-dir", type=Path, default=CORPUS / "pdf")
    parser.add_argument("--manifest", type=Path, default=CORPUS / "MANIFEST.tsv")
    parser.add_argument("--out", type=Path, default=None, help="Keep the site here (default: a temporary folder).")
    args = parser.parse_args()

    from extractor import extract_many
    from extractor.review import build_site, load_records
    from extractor.review.highlight import fields_with_spans
    from extractor.review.site import page_names
    from extractor.sinks import open_sink

    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    out = args.out or work / "site"
    records_path = work / "records.jsonl"
    start = time.perf_counter()
    sink = open_sink(records_path)
    for record in extract_many(sorted(args.pdf_dir.glob("*.pdf")), backend="offline"):
        sink.write(record)
    sink.close()
    print(f"offline extraction to JSONL: {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    records = load_records(records_path)
    build_site(records, out)
    built = time.perf_counter() - start
    pages = sorted(out.rglob("*.html"))
    total = sum(p.stat().st_size for p in pages)
    largest = max(pages, key=lambda p: p.stat().st_size)
    print(f"site for {len(records)} letters ({sum(len(r.items) for r in records)} items): built in {built:.2f} s "
          f"(load + render + write), {len(pages)} pages, {total / 1e6:.2f} MB in all")
    print(f"largest page: {largest.relative_to(out)} {largest.stat().st_size / 1e3:.1f} KB")

    doc_id, items = most_items(args.manifest)
    names = dict(zip((r.document_id for r in records), page_names(records), strict=True))
    biggest = out / "letters" / names[doc_id]
    extracted = next(len(r.items) for r in records if r.document_id == doc_id)
    print(f"{doc_id} ({items} items in the manifest, {extracted} extracted): page "
          f"{biggest.stat().st_size / 1e3:.1f} KB (limit 300 KB)")

    shares = []
    for record in records:
        wanted = {f.path for f in fields_with_spans(record)}
        if not wanted:
            continue
        page = (out / "letters" / names[record.document_id]).read_text(encoding="utf-8")
        marked = {html.unescape(m) for m in DATA_FIELD.findall(page)}
        shares.append(len(wanted & marked) / len(wanted))
    complete = sum(s == 1.0 for s in shares)
    print(f"fields with a span that are marked, per record: min {min(shares):.3f}, mean {statistics.mean(shares):.3f}; "
          f"{complete}/{len(shares)} records have every such field marked")
    print(f"site: {out / 'index.html'}")


if __name__ == "__main__":
    main()
