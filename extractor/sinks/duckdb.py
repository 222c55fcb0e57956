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
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import ValidationError

from ..errors import ConfigurationError
from ..models import AWAITING_ANSWERS, Citation, Record
from .base import record_key
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
    ]),
    "items": pa.schema([
        ("source_path", pa.string()), ("item_index", pa.int32()), ("request", pa.string()),
        ("original_request", pa.string()), ("retrospective", pa.bool_()), ("date_of_service", pa.date32()),
        ("treatment", pa.string()), ("category", pa.string()), ("generic_name", pa.string()),
        ("strength", pa.string()), ("quantity", pa.int64()), ("decision", pa.string()), ("rationale", pa.string()),
        ("reasons", _STRINGS), ("needs_review", pa.bool_()), ("review_reasons", _STRINGS),
        ("sources", pa.map_(pa.string(), pa.string())),
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
                "review_reasons")
_CITATION_ROLES = {"claims_administrator": "claims_administrator_guidelines", "reviewer": "reviewer_guidelines"}

_RATE = ("count(*) AS items, count(*) FILTER (WHERE decision = 'overturned') AS overturned, "
         "round(count(*) FILTER (WHERE decision = 'overturned') / count(*), 3) AS overturn_rate")
_REVIEWER_CITED = "(SELECT DISTINCT source_path, item_index, source, guideline FROM citations WHERE role = 'reviewer')"
VIEWS: dict[str, str] = {
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
        self._con.begin()
        for name, schema in SCHEMAS.items():
            self._con.register("empty", schema.empty_table())
            self._con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM empty")
        self._con.unregister("empty")
        create_review_schema(self._con)
        for name, sql in VIEWS.items():
            self._con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        self._con.commit()
        self._stored = {row[0] for row in self._con.execute("SELECT source_path FROM letters").fetchall()}

    def write(self, record: Record) -> None:
        self._pending[record_key(record)] = (record, dt.datetime.now(dt.UTC))
        if len(self._pending) >= self._batch or time.monotonic() - self._last_flush >= self._flush_seconds:
            self._flush()

    def completed(self) -> dict[str, str]:
        """source_path -> source_sha256 of the letters stored for good (no error, no answer awaited)."""
        self._flush()
        rows = self._con.execute(
            "SELECT source_path, source_sha256 FROM letters WHERE error_type IS NULL AND source_sha256 IS NOT NULL "
            "AND source_path NOT IN (SELECT source_path FROM warnings WHERE code = ?)", [AWAITING_ANSWERS]
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
        self._stored.update(self._pending)
        self._pending = {}


def read_records(path: str | Path, *, chunk: int = 1000, corrected: bool = True,
                 refused: Callable[[str], None] | None = None) -> Iterator[Record]:
    """Every stored record, rebuilt from its JSON, in source-path order; with reviewers' corrections
    applied (``corrected``) where the store has any. A letter that today's model refuses (its stored record,
    written by another version, or a stored correction) is left out and its line passed to ``refused``, or
    without it stops the reading with that one line."""
    con = _connect(Path(path), read_only=True)
    try:
        # A store written before corrections existed has no review views: its records are as extracted.
        corrected = corrected and con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'latest_corrections'").fetchone() == (1,)
        latest = latest_by_record(con) if corrected else {}
        result = con.execute("SELECT source_path, record FROM letters ORDER BY source_path")
        while rows := result.fetchmany(chunk):
            for source, data in rows:
                try:
                    record = Record.model_validate_json(data)
                    record = apply_corrections(record, latest.get(record_key(record), {}))
                except ValidationError as e:
                    first = e.errors()[0]
                    problem = (f"{source}: the stored record is refused by this version's record model "
                               f"({'.'.join(map(str, first['loc']))}: {first['msg']}); extract it again")
                except RefusedCorrection as e:
                    problem = str(e)
                else:
                    yield record
                    continue
                if refused is None:
                    raise ConfigurationError(f"{path}: {problem}")
                refused(problem)
    except duckdb.Error as e:  # a store cut short reads its header, then fails on the first page it lacks
        raise ConfigurationError(f"{path}: cannot read the DuckDB store ({e})") from e
    finally:
        con.close()


def _connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if read_only and not path.is_file():
        raise ConfigurationError(f"{path}: no such DuckDB store")
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as e:
        raise ConfigurationError(f"{path}: cannot open as a DuckDB store ({e})") from e


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
    }
    items: list[dict[str, Any]] = []
    citations: list[dict[str, Any]] = []
    for index, item in enumerate(record.items):
        items.append({field: getattr(item, field) for field in _ITEM_FIELDS}
                     | {"source_path": key, "item_index": index, "sources": list(item.sources.items())})
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
