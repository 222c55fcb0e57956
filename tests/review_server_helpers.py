"""A DuckDB store with flagged items for the review server's tests, and the server run as a person runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from extractor import Record, extract_many
from extractor.models import Flag
from extractor.sinks import open_sink

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "evals" / "letters"
TOKEN = "test-token-0123456789"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def flag_records(records: list[Record]) -> list[Record]:
    """Each record's first item flagged on its treatment (parser and model values), its second on its quantity
    and category, and the letter on its reviewer's licensure: the doubts a reviewer resolves."""
    flagged = []
    for record in records:
        if not record.ok or not record.items:
            flagged.append(record)
            continue
        items = list(record.items)
        first = items[0]
        items[0] = first.with_flags(Flag(field="treatment", code="model_disagrees",
                                         message=f"treatment: parser {first.treatment!r}, model 'Model reading'",
                                         values={"parser": first.treatment, "model": "Model reading"}))
        items[0] = items[0].model_copy(update={"confidence": {"treatment": 0.4, "category": 0.9}})
        if len(items) > 1:
            items[1] = items[1].with_flags(
                Flag(field="quantity", code="quantity_unsure", message="quantity: not after # in the request"),
                Flag(field="category", code="category_unsure", message="category: the request's words disagree"))
        letter_flag = Flag(field="reviewer_licensure", code="licensure_unsure", message="licensure: not in the header")
        flagged.append(record.model_copy(update={"items": items, "flags": [letter_flag], "needs_review": True}))
    return flagged


def letter_paths(folder: Path, count: int = 4) -> list[Path]:
    """``count`` gold letters copied into ``folder``, one of them carrying markup in its text."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sorted(LETTERS.glob("imr-0*.txt"))[:count]:
        target = folder / source.name
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        paths.append(target)
    hostile = folder / "hostile.txt"
    text = paths[0].read_text(encoding="utf-8")
    hostile.write_text(text.replace("Decision rationale: ", f"Decision rationale: {HOSTILE} ", 1), encoding="utf-8")
    return [*paths, hostile]


def write_store(store: Path, records: list[Record]) -> None:
    with closing(open_sink(store)) as sink:
        for record in records:
            sink.write(record)


def make_store(folder: Path, store: Path) -> list[Record]:
    """Extract the letters offline, flag them, write the store; the records written."""
    records = flag_records(list(extract_many(letter_paths(folder), backend="offline")))
    write_store(store, records)
    return records


@contextmanager
def running_server(store: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``imr-extract review STORE --serve --port 0`` in a subprocess; its printed URL (with the token)."""
    process = subprocess.Popen([sys.executable, "-c", "from extractor.cli import main; main()", "review", str(store), "--serve", "--port", "0",
                                "--reviewer", "tester", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise AssertionError(f"the server printed no URL: {process.communicate(timeout=10)[1]}")
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(name="store")
def flagged_store(tmp_path: Path) -> tuple[Path, list[Any]]:
    """The ``store`` fixture: a store of flagged letters (one hostile) in ``tmp_path``, and the records written.
    A test module imports it as ``from review_server_helpers import flagged_store as flagged_store``."""
    path = tmp_path / "corpus.duckdb"
    return path, make_store(tmp_path / "letters", path)
