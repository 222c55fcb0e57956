"""The review server's figures: with 10,000 flagged items in a store, the queue page, the letter page and a
correction's round trip (median, p95); a scripted browser run resolving 20 flags with the keyboard (time per
flag); and, given a folder of real letters, every correction still applied after re-extracting them.

    python benchmarks/bench_review_server.py [REAL_LETTERS_DIR] [--items 10000] [--chromium /usr/bin/chromium]

The server runs as a person runs it (``imr-extract review STORE --serve`` in a subprocess); requests go over
loopback with the token. The store's letters are copies of the gold set's text letters (each copy a new file
with its own SHA-256), every item flagged with a random confidence.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import duckdb
import httpx

from extractor import extract_many
from extractor.models import Flag, Record
from extractor.read import read_letter
from extractor.sinks import open_sink

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from extractor.cli import main; main()"]


def flagged_copies(folder: Path, wanted_items: int, rng: random.Random) -> Iterator[Record]:
    """Records of copies of the gold text letters until ``wanted_items`` items, every item flagged."""
    bases = [r for r in extract_many(sorted((ROOT / "evals" / "letters").glob("*.txt")), backend="offline") if r.items]
    made = copy = 0
    while made < wanted_items:
        for base in bases:
            source = Path(base.provenance.source_path or "")
            target = folder / f"{source.stem}-{copy:05d}.txt"
            target.write_text(source.read_text(encoding="utf-8") + f"\n{copy}\n", encoding="utf-8")
            items = [item.with_flags(Flag(field=rng.choice(["treatment", "category", "quantity"]), code="bench",
                                          message="a generated doubt", values={"parser": item.treatment, "model": "Other"})
                                     ).model_copy(update={"confidence": {"treatment": round(rng.random(), 3)}})
                     for item in base.items]
            provenance = base.provenance.model_copy(update={"source_path": str(target),
                                                            "source_sha256": read_letter(target).sha256})
            yield base.model_copy(update={"document_id": target.stem, "items": items, "provenance": provenance,
                                          "needs_review": True})
            made += len(items)
            if made >= wanted_items:
                return
        copy += 1


@contextmanager
def server(store: Path) -> Iterator[str]:
    process = subprocess.Popen([*CLI, "review", str(store), "--serve", "--port", "0", "--reviewer", "bench"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def timed(call: Callable[[], httpx.Response], runs: int) -> tuple[float, float]:
    """Median and p95 in milliseconds; every answer must be a success."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - start) * 1000)
        answer.raise_for_status()
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * len(times)) - 1)]


def http_figures(url: str, store_items: list[tuple[str, int]], runs: int, rng: random.Random) -> None:
    base, token = url.split("/?token=")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        client.get("/", params={"token": token})
        rows = [("queue page", lambda: client.get("/")),
                ("queue page, filtered (field=quantity, confidence <= 0.5, page 3)",
                 lambda: client.get("/", params={"field": "quantity", "max_confidence": 0.5, "page": 3})),
                ("letter page", lambda: client.get(f"/letters/{rng.choice(store_items)[0]}")),
                ("GET /api/items?needs_review=true&limit=100", lambda: client.get("/api/items", params={"needs_review": "true", "limit": 100}))]

        def correction() -> httpx.Response:
            sha, index = rng.choice(store_items)
            return client.post(f"/api/items/{sha}-{index}/corrections", json={"field": "strength", "value": f"{rng.randint(1, 900)} mg"})

        rows.append(("correction round trip (POST, validated, appended)", correction))
        for name, call in rows:
            call()  # warm
            median, p95 = timed(call, runs)
            print(f"  {name:<66} median {median:7.1f} ms   p95 {p95:7.1f} ms")


def browser_figures(url: str, chromium: str, flags: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        start = time.perf_counter()
        done = 0
        while done < flags:
            with page.expect_navigation():
                page.keyboard.press("Enter")  # the queue's most doubtful open value
            page.wait_for_selector("form.decide.selected-row")
            while done < flags and page.locator("form.decide:not(.decided)").count():
                row = page.locator("form.decide.selected-row")
                row_id = row.get_attribute("id")
                if done % 2:
                    page.keyboard.press("a")
                else:
                    page.keyboard.press("e")
                    page.keyboard.press("Control+a")
                    field = row_id.rsplit("-", 1)[1] if row_id else ""
                    page.keyboard.type({"quantity": "30", "category": "surgery"}.get(field, "Resolved by keyboard"))
                    page.keyboard.press("Enter")
                page.wait_for_selector(f"[id='{row_id}'].decided")
                done += 1
            with page.expect_navigation():
                page.keyboard.press("q")
            page.wait_for_selector("#queue tr.entry")
        elapsed = time.perf_counter() - start
        browser.close()
    print(f"  {flags} flags resolved with the keyboard (open, decide, next, back to the queue): "
          f"{elapsed:.1f} s, {elapsed / flags * 1000:.0f} ms per flag")


def reextraction_figures(letters: Path, work: Path) -> None:
    """Extract, correct a field of every item and of every letter, re-extract: every correction still applied."""
    from extractor.review.server.store import ReviewStore

    store = work / "real.duckdb"
    subprocess.run([*CLI, "extract", str(letters), "-o", str(store), "--backend", "offline", "-q"], cwd=ROOT, check=False)
    with duckdb.connect(str(store), read_only=True) as con:
        targets = con.execute("SELECT l.source_sha256, i.item_index, i.treatment FROM items i "
                              "JOIN letters l USING (source_path) ORDER BY ALL").fetchall()
        letters_done = [r[0] for r in con.execute("SELECT source_sha256 FROM letters WHERE error_type IS NULL").fetchall()]
    review = ReviewStore(store, "bench")
    for sha, index, treatment in targets:
        review.correct(f"{sha}-{index}", "treatment", value=f"{treatment} (reviewed)")
    for sha in letters_done:
        review.correct(sha, "reviewer_specialty", value="Reviewed specialty")
    review.close()
    for label, extra in (("re-extraction", []), ("re-extraction --resume", ["--resume"])):
        start = time.perf_counter()
        subprocess.run([*CLI, "extract", str(letters), "-o", str(store), "--backend", "offline", "-q", *extra], cwd=ROOT,
                       check=False)
        with duckdb.connect(str(store), read_only=True) as con:
            corrections = con.execute("SELECT count(*) FROM corrections").fetchone()[0]  # type: ignore[index]
            applied = con.execute(
                "SELECT count(*) FROM latest_corrections c JOIN item_keys k ON k.source_sha256 = c.letter_sha256 "
                "AND k.item_key = c.item_key JOIN items_reviewed r ON r.source_path = k.source_path AND r.item_index = k.item_index "
                "WHERE r.treatment = json_extract_string(c.new_value, '$')").fetchone()[0]  # type: ignore[index]
            applied += con.execute(
                "SELECT count(*) FROM latest_corrections c JOIN letters_reviewed l ON l.source_sha256 = c.letter_sha256 "
                "WHERE c.item_key IS NULL AND l.reviewer_specialty = 'Reviewed specialty'").fetchone()[0]  # type: ignore[index]
            drift = con.execute("SELECT count(*) FROM correction_drift").fetchone()[0]  # type: ignore[index]
        print(f"  after {label} of {len(letters_done)} letters ({time.perf_counter() - start:.0f} s): "
              f"{corrections} corrections, {applied} applied, {corrections - applied} lost, {drift} listed as drift")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("real_letters", nargs="?", type=Path, help="a folder of real letters to re-extract")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--flags", type=int, default=20)
    parser.add_argument("--chromium", default=os.environ.get("IMR_TEST_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    rng = random.Random(17)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "letters").mkdir()
        store = work / "flagged.duckdb"
        start = time.perf_counter()
        with closing(open_sink(store)) as sink:
            for record in flagged_copies(work / "letters", args.items, rng):
                sink.write(record)
        with duckdb.connect(str(store), read_only=True) as con:
            items = con.execute("SELECT l.source_sha256, i.item_index FROM items i JOIN letters l USING (source_path)").fetchall()
        print(f"store: {len(items)} flagged items in {len({s for s, _ in items})} letters, "
              f"written in {time.perf_counter() - start:.1f} s")
        with server(store) as url:
            http_figures(url, items, args.runs, rng)
            if Path(args.chromium).is_file():
                browser_figures(url, args.chromium, args.flags)
            else:
                print(f"  (no Chromium at {args.chromium}: the browser run is skipped)")
        if args.real_letters:
            reextraction_figures(args.real_letters, work)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
