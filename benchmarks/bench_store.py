"""DuckDB store against JSONL on real letters: prints its figures, asserts nothing.

    python benchmarks/bench_store.py PDF_DIR [--repeat 3] [--copies 20]

Figures: (1) offline extraction into .duckdb and into .jsonl, end to end, in the same run,
alternating which goes first, ``--repeat`` times to show the noise: letters/s each, the ratio
of each run (and of CPU time, less sensitive to a shared machine), of the best runs (noise only
slows) and the median; (2) items in ``items`` against items in the JSONL; (3) a re-run into the same store adds
no rows; (4) the sinks alone, writing the extracted records ``--copies`` times under distinct
paths, into a fresh store and again into the full one (every letter replaced); (5) a sample of
each view.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb

from extractor import extract, extract_many
from extractor.models import Record
from extractor.sinks import open_sink
from extractor.sinks.duckdb import SCHEMAS, VIEWS


def write_all(records: Iterable[Record], output: Path) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) to write every record; extraction is timed too when ``records`` is lazy."""
    wall, cpu = time.perf_counter(), time.process_time()
    sink = open_sink(output)
    for record in records:
        sink.write(record)
    sink.close()
    return time.perf_counter() - wall, time.process_time() - cpu


def row_counts(store: Path) -> dict[str, int]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in SCHEMAS}  # type: ignore[index]


def copies(records: list[Record], n: int) -> Iterator[Record]:
    """The records ``n`` times, each copy under its own source path (as distinct letters), made as they are written."""
    for i in range(n):
        for r in records:
            yield r.model_copy(update={"provenance": r.provenance.model_copy(update={"source_path": f"{r.provenance.source_path}#{i}"})})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_store_") as out:
        report(args, Path(out))


def report(args: argparse.Namespace, out: Path) -> None:
    pdfs = sorted(args.pdf_dir.glob("*.pdf"))
    extract(pdfs[0])  # loads the drug lexicon before timing
    store, jsonl = out / "records.duckdb", out / "records.jsonl"

    print(f"letters: {len(pdfs)} PDFs from {args.pdf_dir}; offline extraction end to end")
    runs: dict[str, list[tuple[float, float]]] = {"duckdb": [], "jsonl": []}
    for run in range(1, args.repeat + 1):
        order = [(store, "duckdb"), (jsonl, "jsonl")] if run % 2 else [(jsonl, "jsonl"), (store, "duckdb")]
        for output, name in order:
            output.unlink(missing_ok=True)
            runs[name].append(write_all(extract_many(pdfs), output))
        (db_wall, db_cpu), (js_wall, js_cpu) = runs["duckdb"][-1], runs["jsonl"][-1]
        print(f"  run {run}: duckdb {len(pdfs) / db_wall:6.1f} letters/s, jsonl {len(pdfs) / js_wall:6.1f} letters/s, "
              f"ratio duckdb/jsonl {js_wall / db_wall:.2f} (CPU time {js_cpu / db_cpu:.2f})")
    ratios = [js[0] / db[0] for js, db in zip(runs["jsonl"], runs["duckdb"], strict=True)]
    best = {name: min(wall for wall, _ in timings) for name, timings in runs.items()}
    print(f"ratio duckdb/jsonl: best runs {best['jsonl'] / best['duckdb']:.2f}, "
          f"median of runs {statistics.median(ratios):.2f}  (target >= 0.9)")

    records = [Record.model_validate_json(line) for line in jsonl.read_text().splitlines()]
    counts = row_counts(store)
    jsonl_items = sum(len(r.items) for r in records)
    print(f"items: {counts['items']} in the store, {jsonl_items} in the JSONL ({'equal' if counts['items'] == jsonl_items else 'DIFFERENT'})")
    write_all(extract_many(pdfs), store)
    added = {name: n - counts[name] for name, n in row_counts(store).items()}
    print(f"re-run into the same store, rows added per table: {json.dumps(added)}")

    big_store, big_jsonl, letters = out / "many.duckdb", out / "many.jsonl", len(records) * args.copies
    (fresh, _), (replace, _), (lines, _) = (write_all(copies(records, args.copies), output)
                                            for output in (big_store, big_store, big_jsonl))
    per_letter_ms = 1000 * best["jsonl"] / len(pdfs)
    print(f"sinks alone, {letters} letters ({args.copies} copies), ms per letter: duckdb fresh "
          f"{1000 * fresh / letters:.3f}, duckdb replacing every letter {1000 * replace / letters:.3f}, "
          f"jsonl {1000 * lines / letters:.3f} (extraction + jsonl: {per_letter_ms:.2f} ms per letter at best); "
          f"store {big_store.stat().st_size / 2**20:.1f} MiB, jsonl {big_jsonl.stat().st_size / 2**20:.1f} MiB")

    with duckdb.connect(str(store), read_only=True) as con:
        for view in VIEWS:
            print(f"\n{view}:")
            print(con.sql(f"SELECT * FROM {view} LIMIT 5"))


if __name__ == "__main__":
    main()
