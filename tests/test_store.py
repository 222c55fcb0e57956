"""The DuckDB store: tables and views, replace-not-duplicate, error records, round trip, a killed run resumed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from extractor import extract_many
from extractor.cli import app
from extractor.errors import ConfigurationError
from extractor.models import ErrorInfo
from extractor.sinks.duckdb import SCHEMAS, VIEWS, DuckDbSink, read_records

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "evals" / "letters"
FEW = [LETTERS / name for name in ("CM16-0230548.pdf", "imr-000.txt", "imr-002.txt", "syn-c-06.txt", "syn-b-01.txt")]
runner = CliRunner()


def _extract(*args: str | Path) -> str:
    result = runner.invoke(app, ["extract", *map(str, args)])
    assert result.exit_code in (0, 1), result.output
    return result.output


def _counts(store: Path) -> dict[str, int]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in SCHEMAS}  # type: ignore[index]


def _query(store: Path, sql: str, *params: object) -> list[tuple]:  # type: ignore[type-arg]
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_tables_hold_what_the_jsonl_holds_and_views_add_up(tmp_path: Path) -> None:
    jsonl, store = tmp_path / "records.jsonl", tmp_path / "records.duckdb"
    _extract(*FEW, "-o", jsonl)
    _extract(*FEW, "-o", store)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    items = [item for r in records for item in r["items"]]
    counts = _counts(store)
    assert counts["letters"] == len(records) == len(FEW)
    assert counts["items"] == len(items) > len(FEW)
    assert counts["citations"] == sum(len(i["claims_administrator_guidelines"]) + len(i["reviewer_guidelines"])
                                      for i in items)
    assert counts["diagnoses"] == sum(len(r["diagnoses"]) for r in records)
    assert sorted(_query(store, "SELECT decision, request FROM items")) == sorted((i["decision"], i["request"])
                                                                                  for i in items)
    by_category = {row[0]: row[1:] for row in _query(store, "SELECT * FROM overturn_by_category")}
    assert sum(n for n, _, _ in by_category.values()) == len(items)
    for category, (n, overturned, rate) in by_category.items():
        assert overturned == sum(i["category"] == category and i["decision"] == "overturned" for i in items)
        assert rate == round(overturned / n, 3)
    months = _query(store, "SELECT sum(items) FROM overturn_by_month")[0][0]
    assert months == sum(len(r["items"]) for r in records if r["decision_date"])
    for view in VIEWS:
        assert _query(store, f"SELECT count(*) FROM {view}")[0][0] > 0, view


def test_rerun_adds_no_rows_and_changed_content_replaces(tmp_path: Path) -> None:
    store = tmp_path / "records.duckdb"
    letter = tmp_path / "letter.txt"
    shutil.copy(LETTERS / "imr-000.txt", letter)
    _extract(*FEW, letter, "-o", store)
    before = _counts(store)
    _extract(*FEW, letter, "-o", store)
    assert _counts(store) == before

    shutil.copy(LETTERS / "imr-002.txt", letter)  # same path, other content
    _extract(letter, "-o", store)
    rows = _query(store, "SELECT source_sha256, case_number FROM letters WHERE source_path = ?", str(letter))
    new = next(extract_many([letter]))
    assert rows == [(new.provenance.source_sha256, new.case_number)]
    assert _query(store, "SELECT count(*) FROM items WHERE source_path = ?", str(letter))[0][0] == len(new.items)
    assert _counts(store)["letters"] == before["letters"]


def test_resume_skips_unchanged_letters_and_redoes_changed_ones(tmp_path: Path) -> None:
    store = tmp_path / "records.duckdb"
    letter = tmp_path / "letter.txt"
    shutil.copy(LETTERS / "imr-000.txt", letter)
    _extract(letter, FEW[0], "-o", store)
    shutil.copy(LETTERS / "imr-002.txt", letter)
    output = _extract(letter, *FEW, "--resume", "-o", store)
    assert f"{len(FEW)} letter(s) extracted" in output and "1 already done" in output
    assert _query(store, "SELECT case_number FROM letters WHERE source_path = ?", str(letter)) == [
        (next(extract_many([letter])).case_number,)]


def test_error_records_are_stored_with_their_error_and_resumed(tmp_path: Path, bad_inputs: dict[str, Path]) -> None:
    store = tmp_path / "records.duckdb"
    _extract(FEW[1], bad_inputs["empty"], "-o", store)
    rows = _query(store, "SELECT source_path, error_type, error_message FROM letters WHERE error_type IS NOT NULL")
    assert rows == [(str(bad_inputs["empty"]), "UnreadableFileError", "file is empty")]
    assert _query(store, "SELECT count(*) FROM items WHERE source_path = ?", str(bad_inputs["empty"]))[0][0] == 0
    model_failure = next(extract_many([FEW[2]])).model_copy(
        update={"items": [], "error": ErrorInfo(type="ModelError", message="the endpoint failed")})
    sink = DuckDbSink(store, resume=True)
    sink.write(model_failure)
    assert set(sink.completed()) == {str(FEW[1])}
    sink.close()
    assert _query(store, "SELECT error_type FROM letters WHERE source_path = ?", str(FEW[2])) == [("ModelError",)]
    assert "1 already done" in _extract(FEW[1], bad_inputs["empty"], "--resume", "-o", store)
    assert _counts(store)["letters"] == 3


def test_read_records_rebuilds_every_record(tmp_path: Path, bad_inputs: dict[str, Path]) -> None:
    store = tmp_path / "records.duckdb"
    records = list(extract_many([*FEW, bad_inputs["scanned_pdf"]]))
    sink = DuckDbSink(store, batch=2)
    for record in records:
        sink.write(record)
    sink.close()
    by_path = {r.provenance.source_path: r for r in records}
    rebuilt = list(read_records(store))
    assert len(rebuilt) == len(records)
    for record in rebuilt:
        assert record == by_path[record.provenance.source_path]


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    not_a_store = tmp_path / "notes.duckdb"
    not_a_store.write_text("shopping list\n")
    result = runner.invoke(app, ["extract", str(FEW[1]), "-o", str(not_a_store)])
    assert result.exit_code == 2 and str(not_a_store) in result.output and "Traceback" not in result.output
    with pytest.raises(ConfigurationError, match="no such DuckDB store"):
        next(read_records(tmp_path / "missing.duckdb"))


_WRITER = """
import sys, time
from extractor import extract_many
from extractor.read import iter_letter_paths
from extractor.sinks.duckdb import DuckDbSink


class HoldThirdBatch:
    \"\"\"Stops inside the third batch's transaction (letters inserted, items not yet) to be killed there.\"\"\"

    def __init__(self, con):
        self.con, self.batches = con, 0

    def __getattr__(self, name):
        return getattr(self.con, name)

    def execute(self, sql, *args):
        if sql.startswith("INSERT INTO items"):
            self.batches += 1
            if self.batches == 3:
                print("inside", flush=True)
                time.sleep(60)
        return self.con.execute(sql, *args)


sink = DuckDbSink(sys.argv[1], batch=4, flush_seconds=3600)
sink._con = HoldThirdBatch(sink._con)
for record in extract_many(iter_letter_paths([sys.argv[2]])):
    sink.write(record)
"""


def test_a_run_killed_inside_a_batch_keeps_whole_batches_and_resumes_each_letter_once(tmp_path: Path) -> None:
    store = tmp_path / "records.duckdb"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(store), str(LETTERS)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "inside\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert _counts(store)["letters"] == 8  # two batches of 4; the third, cut inside its transaction, is absent
    assert _query(store, "SELECT count(*) FROM items WHERE source_path NOT IN (SELECT source_path FROM letters)") == [(0,)]
    output = _extract(LETTERS, "--resume", "-o", store)
    assert "8 already done" in output
    total = len([p for p in LETTERS.iterdir() if p.suffix in (".pdf", ".txt")])
    assert _query(store, "SELECT count(*), count(DISTINCT source_path) FROM letters") == [(total, total)]
    jsonl = tmp_path / "records.jsonl"
    _extract(LETTERS, "-o", jsonl)
    items = sum(len(json.loads(line)["items"]) for line in jsonl.read_text().splitlines())
    assert _query(store, "SELECT count(*), count(DISTINCT (source_path, item_index)) FROM items") == [(items, items)]


@pytest.mark.parametrize("code", ["not_in_batch", "endpoint_failed"])
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".duckdb"])
def test_a_record_short_of_model_answers_is_stored_but_not_done_for_resume(tmp_path: Path, suffix: str,
                                                                           code: str) -> None:
    """Awaiting a batch's answers, or short of those a failed endpoint did not give: ``--resume`` asks again."""
    from extractor.models import ExtractionWarning
    from extractor.sinks import open_sink

    done, waiting = list(extract_many([LETTERS / "CM16-0230548.pdf", LETTERS / "CM16-0238035.pdf"], backend="offline"))
    waiting = waiting.model_copy(update={"warnings": [ExtractionWarning(code=code, message="1 question")]})
    out = tmp_path / f"records{suffix}"
    sink = open_sink(out)
    for record in (done, waiting):
        sink.write(record)
    sink.close()
    reopened = open_sink(out, resume=True)
    try:
        assert set(reopened.completed()) == {done.provenance.source_path}
    finally:
        reopened.close()
