"""Offline backend speed on the real-letter corpus: prints its figures, asserts nothing.

    python benchmarks/bench_offline.py [--pdf-dir DIR] [--txt-dir DIR] [--repeat N]

Figures: (1) PDF end to end (read + parse + record) against pypdfium2 text extraction alone on
the same files, measured in the same run, as a ratio of speeds; (2) text input letters/s on one
core (the poppler renderings); (3) peak resident memory. Imports and the drug lexicon are loaded
before timing (a warm process, as in any batch); the cold start is printed apart.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import pypdfium2 as pdfium

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "data" / "real-letters"


def pdfium_only(paths: list[Path]) -> None:
    for path in paths:
        pdf = pdfium.PdfDocument(path)
        for page in pdf:
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
        pdf.close()


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf-dir", type=Path, default=CORPUS / "pdf")
    parser.add_argument("--txt-dir", type=Path, default=CORPUS / "txt")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    cold_start = time.perf_counter()
    from extractor import extract, extract_many

    pdfs = sorted(args.pdf_dir.glob("*.pdf"))
    texts = sorted(args.txt_dir.glob("*.txt"))
    extract(pdfs[0])  # loads the drug lexicon
    print(f"cold start (imports + first letter): {time.perf_counter() - cold_start:.2f} s")

    def run_all(paths: list[Path]) -> None:
        for record in extract_many(paths):
            assert record.ok, record.error

    best_pdfium = min(timed(pdfium_only, pdfs) for _ in range(args.repeat))
    best_pdf = min(timed(run_all, pdfs) for _ in range(args.repeat))
    best_txt = min(timed(run_all, texts) for _ in range(args.repeat))
    print(f"PDF letters: {len(pdfs)}")
    print(f"pypdfium2 text extraction alone: {len(pdfs) / best_pdfium:8.1f} letters/s")
    print(f"offline extraction end to end:   {len(pdfs) / best_pdf:8.1f} letters/s")
    print(f"ratio end-to-end / pypdfium2:    {best_pdfium / best_pdf:8.2f}  (target >= 0.6)")
    print(f"text letters: {len(texts)}, offline extraction: {len(texts) / best_txt:8.1f} letters/s on one core  (target >= 500)")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory (max RSS): {peak_kb / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
