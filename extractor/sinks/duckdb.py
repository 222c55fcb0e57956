"""The DuckDB store: records in normalised tables, with views that answer the common questions.

``letters`` has one row per letter (identity, the contract's letter fields, review flags, error,
provenance, usage, and the whole record as JSON so it can be rebuilt); ``items``, ``citations``,
``diagnoses`` and ``warnings`` hang off it by ``source_path`` (and ``item_index``). Each letter is
keyed by its source path: writing it again replaces its rows. Letters are buffered and written as
Arrow tables in one transaction per batch, so a killed run leaves every batch whole or absent and
``--resume`` (``completed()``) takes up from the last one.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import ValidationError

from ..errors import ConfigurationError, first_problem
from ..models import NOT_FINAL, Citation, Record
from .base import record_key, trust_columns, trust_values
from .corrections import RefusedCorrection, apply_corrections, create_review_schema, latest_by_record

_STRINGS = pa.list_(pa.string())

# The tables, as Arrow schemas: the one place their columns and types are written (DuckDB creates
# each table from its schema). Every table starts with the letter's key, ``source_path``.
SCHEMAS: dict[str, pa.Schema] = {
    "letters": pa.schema([
        ("source_path", pa.string()), ("source_sha256", pa.string()), ("document_id", pa.string()),
        ("layout", pa.string()), ("case_number", pa.string()), ("date_assigned", pa.date32()),
        ("decision_date", pa.date32()), ("ur_denial_date", pa.date32()), ("application_received_date", pa.date32()),
        ("priority", pa.string()), ("date_of_injury", pa.date32()), ("patient_sex", pa.string()),
        ("patient_age", pa.int32()), ("reviewer_specialty", pa.string()), ("reviewer_licensure", _STRINGS),
        ("needs_review", pa.bool_()), ("review_reasons", _STRINGS), ("error_type", pa.string()),
        ("error_message", pa.string()), ("backend", pa.string()), ("package_version", pa.string()),
        ("model", pa.string()), ("prompt_version", pa.string()), ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()), ("requests", pa.int64()), ("cost_usd", pa.float64()),
        ("extracted_at", pa.timestamp("us", tz="UTC")), ("record", pa.string()),
        *trust_columns(pa)[:2],
    ]),
    "items": pa.schema([
        ("source_path", pa.string()), ("item_index", pa.int32()), ("request", pa.string()),
        ("original_request", pa.string()), ("retrospective", pa.bool_()), ("date_of_service", pa.date32()),
        ("treatment", pa.string()), ("category", pa.string()), ("generic_name", pa.string()),
        ("strength", pa.string()), ("quantity", pa.int64()), ("decision", pa.string()), ("rationale", pa.string()),
        ("reasons", _STRINGS), ("needs_review", pa.bool_()), ("review_reasons", _STRINGS),
        ("sources", pa.map_(pa.string(), pa.string())), ("drug_class", pa.string()), ("compounded", pa.bool_()),
        ("dwc_category", pa.string()), *trust_columns(pa),
    ]),
    "citations": pa.schema([
        ("source_path", pa.string()), ("item_index", pa.int32()), ("role", pa.string()), ("position", pa.int32()),
        ("source", pa.string()), ("guideline", pa.string()), ("topic", pa.string()), ("pages", pa.list_(pa.int64())),
    ]),
    "diagnoses": pa.schema([("source_path", pa.string()), ("position", pa.int32()), ("diagnosis", pa.string())]),
    "warnings": pa.schema([
        ("source_path", pa.string()), ("position", pa.int32()), ("code", pa.string()), ("message", pa.string()),
        ("item_index", pa.int32()),
    ]),
}

_LETTER_FIELDS = ("document_id", "layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
                  "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age",
                  "reviewer_specialty", "reviewer_licensure", "needs_review", "review_reasons")
_ITEM_FIELDS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
                "generic_name", "strength", "quantity", "decision", "rationale", "reasons", "needs_review",
                "review_reasons", "drug_class", "compounded", "dwc_category")
_CITATION_ROLES = {"claims_administrator": "claims_administrator_guidelines", "reviewer": "reviewer_guidelines"}

_RATE = ("count(*) AS items, count(*) FILTER (WHERE decision = 'overturned') AS overturned, "
         "round(count(*) FILTER (WHERE decision = 'overturned') / count(*), 3) AS overturn_rate")
_REVIEWER_CITED = "(SELECT DISTINCT source_path, item_index, source, guideline FROM citations WHERE role = 'reviewer')"
# The relations the views read: the extracted rows with reviewers' corrections applied. A store defines them over
# its corrections table (``corrections.create_review_schema``); JSONL and Parquet outputs, read by ``review.tables``,
# have no corrections, so there they pass the rows through.
REVIEWED_VIEWS: dict[str, str] = {
    "letters_reviewed": "SELECT * FROM letters",
    "items_reviewed": "SELECT * FROM items",
}
_PERIODS = {"year": "year(decision_date)", "month": "date_trunc('month', decision_date)::DATE"}


def _by_period(name: str, key: str, where: str) -> dict[str, str]:
    """A view of overturn rates by ``key`` over the reviewed items, and the same by decision year and month."""
    views = {name: f"SELECT {key}, {_RATE} FROM items_reviewed WHERE {where} GROUP BY ALL ORDER BY items DESC, {key}"}
    for period, expr in _PERIODS.items():
        views[f"{name}_by_{period}"] = (
            f"SELECT {expr} AS {period}, {key}, {_RATE} FROM items_reviewed JOIN letters_reviewed USING (source_path) "
            f"WHERE {where} AND decision_date IS NOT NULL GROUP BY ALL ORDER BY {period}, items DESC, {key}")
    return views


def _mix(period: str | None) -> str:
    """Medication items per drug group, and their share of the period's medication items (and compounded)."""
    by = f"{_PERIODS[period]} AS {period}, " if period else ""
    join = " JOIN letters_reviewed USING (source_path)" if period else ""
    where = " AND decision_date IS NOT NULL" if period else ""
    counts = (f"SELECT {by}drug_class, count(*) AS items, count(*) FILTER (WHERE compounded) AS compounded, "
              "count(*) FILTER (WHERE decision = 'overturned') AS overturned "
              f"FROM items_reviewed{join} WHERE category = 'medication'{where} GROUP BY ALL")
    return (f"SELECT *, round(items / sum(items) OVER ({'PARTITION BY ' + period if period else ''}), 3) AS share "
            f"FROM ({counts}) ORDER BY {period + ', ' if period else ''}items DESC, drug_class")


def _items_per_letter(period: str | None) -> str:
    """How many letters have 1, 2, ... items (letters that gave a record); by period also the mean."""
    counts = ("SELECT source_path, decision_date, count(item_index) AS items FROM letters_reviewed "
              "LEFT JOIN items_reviewed USING (source_path) WHERE error_type IS NULL GROUP BY ALL")
    if period is None:
        return f"SELECT items, count(*) AS letters FROM ({counts}) GROUP BY items ORDER BY items"
    return (f"SELECT {_PERIODS[period]} AS {period}, count(*) AS letters, sum(items) AS items, "
            f"round(sum(items) / count(*), 2) AS items_per_letter FROM ({counts}) WHERE decision_date IS NOT NULL "
            f"GROUP BY ALL ORDER BY {period}")


VIEWS: dict[str, str] = {
    **_by_period("overturn_by_drug_class", "drug_class", "drug_class IS NOT NULL"),
    **_by_period("overturn_by_dwc_category", "dwc_category", "dwc_category IS NOT NULL"),
    "pharmacy_mix": _mix(None), "pharmacy_mix_by_year": _mix("year"), "pharmacy_mix_by_month": _mix("month"),
    "items_per_letter": _items_per_letter(None), "items_per_letter_by_year": _items_per_letter("year"),
    "items_per_letter_by_month": _items_per_letter("month"),
    "overturn_by_category": f"SELECT category, {_RATE} FROM items_reviewed GROUP BY ALL ORDER BY items DESC, category",
    "overturn_by_drug": f"SELECT generic_name, {_RATE} FROM items_reviewed WHERE generic_name IS NOT NULL "
                        "GROUP BY ALL ORDER BY items DESC, generic_name",
    "overturn_by_guideline_source": f"SELECT source, {_RATE} FROM (SELECT DISTINCT source_path, item_index, source "
                                    f"FROM {_REVIEWER_CITED}) JOIN items_reviewed USING (source_path, item_index) "
                                    "GROUP BY ALL ORDER BY items DESC, source",
    "overturn_by_guideline": f"SELECT source, guideline, {_RATE} FROM {_REVIEWER_CITED} "
                             "JOIN items_reviewed USING (source_path, item_index) GROUP BY ALL ORDER BY items DESC, source, guideline",
    "overturn_by_specialty": f"SELECT reviewer_specialty, {_RATE} FROM items_reviewed JOIN letters_reviewed USING (source_path) "
                             "WHERE reviewer_specialty IS NOT NULL GROUP BY ALL ORDER BY items DESC, reviewer_specialty",
    "overturn_by_month": f"SELECT date_trunc('month', decision_date)::DATE AS month, {_RATE} FROM items_reviewed "
                         "JOIN letters_reviewed USING (source_path) WHERE decision_date IS NOT NULL GROUP BY ALL ORDER BY month",
}


class DuckDbSink:
    """Writes records into a DuckDB store, ``batch`` letters (or ``flush_seconds`` of work) per transaction.

    The store keeps every letter it already holds: a letter written again (same source path)
    replaces its old rows, so a re-run never duplicates. ``resume`` is accepted for the interface
    every sink shares; the skipping itself is the caller's, from ``completed()``. Reviewers' corrections
    (``corrections.py``) are kept apart and never deleted by a re-run; the views read the corrected values.
    """

    def __init__(self, path: str | Path, *, resume: bool = False, batch: int = 500, flush_seconds: float = 5.0) -> None:
        self._path = Path(path)
        self._batch = batch
        self._flush_seconds = flush_seconds
        self._pending: dict[str, tuple[Record, dt.datetime]] = {}
        self._last_flush = time.monotonic()
        self._con = _connect(self._path)
        try:
            with _store_errors(self._path):
                self._con.begin()
                for name, schema in SCHEMAS.items():
                    self._con.register("empty", schema.empty_table())
                    self._con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM empty")
                    _add_missing_columns(self._con, name)
                self._con.unregister("empty")
                create_review_schema(self._con)
                for name, sql in VIEWS.items():
                    self._con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
                self._con.commit()
                self._stored = {row[0] for row in self._con.execute("SELECT source_path FROM letters").fetchall()}
        except BaseException:
            self._con.close()
            raise

    def write(self, record: Record) -> None:
        self._pending[record_key(record)] = (record, dt.datetime.now(dt.UTC))
        if len(self._pending) >= self._batch or time.monotonic() - self._last_flush >= self._flush_seconds:
            self._flush()

    def completed(self) -> dict[str, str]:
        """source_path -> source_sha256 of the letters stored for good (``Record.final``)."""
        self._flush()
        with _store_errors(self._path):
            rows = self._con.execute(
                "SELECT source_path, source_sha256 FROM letters WHERE error_type IS NULL AND source_sha256 IS NOT NULL "
                "AND source_path NOT IN (SELECT source_path FROM warnings WHERE code IN ?)", [list(NOT_FINAL)]
            ).fetchall()
        return dict(rows)

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._con.close()

    def _flush(self) -> None:
        """One transaction: the pending letters' old rows out, their new rows in."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
        for record, extracted_at in self._pending.values():
            for name, table_rows in _rows(record, extracted_at).items():
                rows[name].extend(table_rows)
        replaced = [key for key in self._pending if key in self._stored]
        con = self._con
        with _store_errors(self._path):
            self._write_rows(con, replaced, rows)
        self._stored.update(self._pending)
        self._pending = {}

    @staticmethod
    def _write_rows(con: duckdb.DuckDBPyConnection, replaced: list[str], rows: dict[str, list[dict[str, Any]]]) -> None:
        con.begin()
        try:
            if replaced:
                con.register("replaced", pa.table({"source_path": pa.array(replaced, pa.string())}))
                for name in SCHEMAS:
                    con.execute(f"DELETE FROM {name} WHERE source_path IN (SELECT source_path FROM replaced)")
                con.unregister("replaced")
            for name, schema in SCHEMAS.items():
                if rows[name]:
                    con.register("batch", pa.Table.from_pylist(rows[name], schema=schema))
                    con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM batch")
                    con.unregister("batch")
            con.commit()
        except BaseException:
            con.rollback()
            raise


def read_records(path: str | Path, *, chunk: int = 1000, corrected: bool = True,
                 refused: Callable[[str], None] | None = None) -> Iterator[Record]:
    """Every stored record, rebuilt from its JSON, in source-path order; with reviewers' corrections
    applied (``corrected``) where the store has any. A store that cannot be read (cut short, not a
    store, no ``letters`` table) stops the reading with a ``ConfigurationError`` naming the store. A letter
    that today's model refuses (its stored record, written by another version, or a stored correction) is
    left out and its line passed to ``refused``, or without it stops the reading with that one line."""
    p = Path(path)
    con = _connect(p, read_only=True)
    try:
        with _store_errors(p):
            # A store written before corrections existed has no review views: its records are as extracted.
            corrected = corrected and con.execute(
                "SELECT count(*) FROM duckdb_views() WHERE view_name = 'latest_corrections'").fetchone() == (1,)
            latest = latest_by_record(con) if corrected else {}
            result = con.execute("SELECT source_path, record FROM letters ORDER BY source_path")
            while rows := result.fetchmany(chunk):
                for key, data in rows:
                    try:
                        record = _record(p, key, data)
                        record = apply_corrections(record, latest.get(record_key(record), {}))
                    except (ConfigurationError, RefusedCorrection) as e:
                        if refused is None:
                            raise ConfigurationError(str(e) if isinstance(e, ConfigurationError) else f"{p}: {e}") from None
                        refused(str(e))
                    else:
                        yield record
    finally:
        con.close()


def _record(path: Path, key: str, data: str | None) -> Record:
    try:
        return Record.model_validate_json(data or "")
    except ValidationError as e:
        raise ConfigurationError(f"{path}: the stored record of {key} is not a record this version accepts "
                                 f"({first_problem(e)}); extract it again") from None


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    """DuckDB's errors on a store (a file cut short, a disk error) as one line naming the store."""
    try:
        yield
    except duckdb.Error as e:
        raise ConfigurationError(f"{path}: the DuckDB store cannot be used ({_first_line(e)})") from None


def _first_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """A store made by an older version gets the columns added since (null in its old rows)."""
    have = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    for column, kind, *_ in con.execute("DESCRIBE SELECT * FROM empty").fetchall():
        if column not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {kind}')


def _connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if read_only and not path.is_file():
        raise ConfigurationError(f"{path}: no such DuckDB store" if not path.exists() else f"{path}: not a file")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as e:
        raise ConfigurationError(f"{path}: cannot open as a DuckDB store ({_first_line(e)})") from e


def _rows(record: Record, extracted_at: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """The record's rows for each table."""
    key = record_key(record)
    provenance, usage, error = record.provenance, record.provenance.usage, record.error
    letter = {field: getattr(record, field) for field in _LETTER_FIELDS} | {
        "source_path": key, "source_sha256": provenance.source_sha256,
        "error_type": error.type if error else None, "error_message": error.message if error else None,
        "backend": provenance.backend, "package_version": provenance.package_version, "model": provenance.model,
        "prompt_version": provenance.prompt_version,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "requests": usage.requests if usage else None, "cost_usd": usage.cost_usd if usage else None,
        "extracted_at": extracted_at, "record": record.model_dump_json(),
    } | trust_values(record.flags, record.confidence)
    items: list[dict[str, Any]] = []
    citations: list[dict[str, Any]] = []
    for index, item in enumerate(record.items):
        items.append({field: getattr(item, field) for field in _ITEM_FIELDS}
                     | {"source_path": key, "item_index": index, "sources": list(item.sources.items())}
                     | trust_values(item.flags, item.confidence))
        for role, field in _CITATION_ROLES.items():
            cited: list[Citation] = getattr(item, field)
            citations.extend({"source_path": key, "item_index": index, "role": role, "position": position,
                              "source": c.source, "guideline": c.guideline, "topic": c.topic, "pages": c.pages}
                             for position, c in enumerate(cited))
    return {
        "letters": [letter],
        "items": items,
        "citations": citations,
        "diagnoses": [{"source_path": key, "position": i, "diagnosis": d} for i, d in enumerate(record.diagnoses)],
        "warnings": [{"source_path": key, "position": i, "code": w.code, "message": w.message, "item_index": w.item}
                     for i, w in enumerate(record.warnings)],
    }
