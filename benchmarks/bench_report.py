"""``stats`` and ``report`` at corpus scale: time and peak memory on the real letters and on generated stores.

    python benchmarks/bench_report.py LETTERS_DIR [--sizes 100000 660000] [--keep DIR]

The real letters (``.txt`` or ``.pdf``) are extracted offline into a store; stores of each size are then made from
it in DuckDB SQL (copies of the real letters' rows under new keys, until the size is reached). Each command runs in
a fresh process, whose peak resident memory is read from the kernel (``ru_maxrss`` of the children of a small
wrapper process). Prints the figures, asserts nothing; the issue's bounds are 60 s and 500 MiB at 660,000 letters.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from extractor.sinks.duckdb import SCHEMAS, VIEWS

# Runs a command and prints its peak RSS (KiB), measured apart from this script's own memory.
_WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")


def measure(*command: str | Path) -> tuple[float, float]:
    """Wall seconds and peak MiB of one command run on its own."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *map(str, command)], capture_output=True, text=True,
                         check=True).stdout.split()
    if out[1] != "0":
        raise SystemExit(f"{' '.join(map(str, command))} failed (exit {out[1]})")
    return time.perf_counter() - start, int(out[0]) / 1024


def grow(base: Path, target: Path, letters: int) -> float:
    """A store of ``letters`` letters: the base store's letters copied under new keys (``<path>#<copy>``), in SQL."""
    start = time.perf_counter()
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute("ATTACH ? AS base (READ_ONLY)", [str(base)])
        (count,) = con.execute("SELECT count(*) FROM base.letters").fetchone()  # type: ignore[misc]
        copies = -(-letters // count)
        con.execute("CREATE TEMP TABLE keys AS SELECT source_path, n, source_path || '#' || n AS new_path FROM "
                    "(SELECT source_path, row_number() OVER (ORDER BY source_path) - 1 AS i FROM base.letters), "
                    f"range({copies}) AS r(n) WHERE n * {count} + i < {letters}")
        for name in SCHEMAS:
            con.execute(f"CREATE TABLE {name} AS SELECT t.* REPLACE (k.new_path AS source_path) "
                        f"FROM base.{name} t JOIN keys k USING (source_path)")
        for name, sql in VIEWS.items():
            con.execute(f"CREATE VIEW {name} AS {sql}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("letters_dir", type=Path)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 660_000])
    parser.add_argument("--keep", type=Path, help="keep the stores and reports here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_report_") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        base = work / "real.duckdb"
        base.unlink(missing_ok=True)
        cli = [str(Path(sys.executable).parent / "imr-extract")]
        start = time.perf_counter()
        subprocess.run([*cli, "extract", str(args.letters_dir), "-o", str(base), "--quiet"], check=False)
        with duckdb.connect(str(base), read_only=True) as con:
            (real,) = con.execute("SELECT count(*) FROM letters").fetchone()  # type: ignore[misc]
        print(f"extracted {real} real letters in {time.perf_counter() - start:.1f} s (not part of the figures)")
        rows = []
        for size, store in [(real, base), *((n, work / f"copies-{n}.duckdb") for n in args.sizes)]:
            made = grow(base, store, size) if store != base else 0.0
            with duckdb.connect(str(store), read_only=True) as con:
                letters, items = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("letters", "items"))  # type: ignore[index]
            stats_s, stats_mib = measure(*cli, "stats", store)
            report_s, report_mib = measure(*cli, "report", store, "-o", work / f"report-{size}")
            row = {"letters": letters, "items": items, "store_made_s": round(made, 1),
                   "store_mib": round(store.stat().st_size / 2**20), "stats_s": round(stats_s, 1),
                   "stats_peak_mib": round(stats_mib), "report_s": round(report_s, 1), "report_peak_mib": round(report_mib)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(f"\n{'letters':>8} {'items':>9} {'stats s':>8} {'stats MiB':>10} {'report s':>9} {'report MiB':>11}")
        for r in rows:
            print(f"{r['letters']:>8} {r['items']:>9} {r['stats_s']:>8} {r['stats_peak_mib']:>10} {r['report_s']:>9} "
                  f"{r['report_peak_mib']:>11}")


if __name__ == "__main__":
    main()
