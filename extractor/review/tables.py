"""Any output of ``imr-extract extract`` as DuckDB relations, so figures are SQL at corpus scale.

``connect(path)`` opens a scratch DuckDB in which ``letters``, ``items`` and ``citations`` read a DuckDB store
(attached read-only), a JSONL file (``read_json``) or a Parquet folder (``read_parquet``), always with the same
columns; over them stand the reviewed relations and the store's views (``sinks.duckdb``), and ``item_facts``: one
row per item with the letter fields the figures group by. Nothing is loaded into Python but the answers; the
records of a few letters can be rebuilt with ``records_for``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from ..errors import ImrExtractError
from ..models import Record
from ..sinks.duckdb import REVIEWED_VIEWS, VIEWS
from .load import iter_records, records_path

# DuckDB may use this much memory before it spills to disk, and these threads: a figure over 660,000 letters
# stays within a few hundred MiB on a shared machine.
MEMORY_LIMIT = "128MB"
RECORDS_MEMORY_LIMIT = "256MB"
THREADS = 2
_FLAGS = "STRUCT(field VARCHAR, code VARCHAR, message VARCHAR)[]"
_CITES = "STRUCT(source VARCHAR, guideline VARCHAR)[]"
_LETTER_COLUMNS = ("source_path", "document_id", "case_number", "layout", "decision_date", "reviewer_specialty",
                   "needs_review", "error_type", "backend")
_ITEM_COLUMNS = ("source_path", "item_index", "request", "treatment", "category", "generic_name", "strength",
                 "decision", "needs_review", "drug_class", "compounded", "dwc_category", "flags", "confidence_min")
# JSONL: the fields read from each record, typed (a field a record lacks is null).
_JSON_COLUMNS = {
    "document_id": "VARCHAR", "case_number": "VARCHAR", "layout": "VARCHAR", "decision_date": "DATE",
    "reviewer_specialty": "VARCHAR", "needs_review": "BOOLEAN",
    "error": "STRUCT(type VARCHAR, message VARCHAR)",
    "provenance": "STRUCT(backend VARCHAR, source_path VARCHAR)",
    "items": f"STRUCT(request VARCHAR, treatment VARCHAR, category VARCHAR, generic_name VARCHAR, strength VARCHAR, "
             f"decision VARCHAR, needs_review BOOLEAN, drug_class VARCHAR, compounded BOOLEAN, dwc_category VARCHAR, "
             f"flags {_FLAGS}, confidence MAP(VARCHAR, DOUBLE), reviewer_guidelines {_CITES})[]",
}
# The reviewer's guideline sources of an item, as bits (an aggregate of lists costs four times as much at scale).
_SOURCE_BITS = {"MTUS": 1, "ODG": 2, "ACOEM": 4, "other": 8}
_BITS = " ".join(f"WHEN '{s}' THEN {b}" for s, b in _SOURCE_BITS.items())
_SOURCES_LIST = "list_filter([" + ", ".join(f"CASE WHEN c.bits & {b} > 0 THEN '{s}' END" for s, b in _SOURCE_BITS.items()) + "], lambda s: s IS NOT NULL)"
_ITEM_FACTS = f"""
SELECT i.source_path, i.item_index, l.document_id, l.case_number, l.decision_date,
       CAST(year(l.decision_date) AS VARCHAR) AS year, strftime(l.decision_date, '%Y-%m') AS month,
       l.reviewer_specialty, i.category, lower(i.generic_name) AS generic_name, i.decision,
       i.drug_class, i.compounded, i.dwc_category, coalesce(i.needs_review, false) AS needs_review,
       coalesce(i.flags, []::{_FLAGS}) AS flags, i.confidence_min,
       CASE WHEN c.bits IS NULL THEN []::VARCHAR[] ELSE {_SOURCES_LIST} END AS reviewer_sources
FROM items_reviewed i JOIN letters_reviewed l USING (source_path)
LEFT JOIN (SELECT source_path, item_index, bit_or(CASE source {_BITS} ELSE 8 END) AS bits FROM citations
           WHERE role = 'reviewer' GROUP BY ALL) c USING (source_path, item_index)
"""


@contextmanager
def connect(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB whose relations read the records at ``path`` (``.duckdb``, ``.jsonl``, ``.parquet``).

    Its own tables (``item_facts``) live in a scratch database file, removed on leaving, so DuckDB keeps them
    compressed on disk and within ``MEMORY_LIMIT`` whatever the size of the corpus."""
    p = records_path(path)
    kind = p.suffix.lower()
    with tempfile.TemporaryDirectory(prefix="imr-sql-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "scratch.duckdb"), config={
            "memory_limit": MEMORY_LIMIT, "threads": THREADS, "temp_directory": scratch})
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute("SET preserve_insertion_order = false")  # every answer that needs an order asks for it
            try:
                _SOURCES[kind](con, p)
                for name, sql in {**REVIEWED_VIEWS, **VIEWS}.items():
                    con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
                con.execute(f"CREATE TEMP TABLE item_facts AS {_ITEM_FACTS}")
            except duckdb.Error as e:
                if _SOURCES[kind] is _jsonl:  # the line-by-line reader names the line and what is wrong with it
                    for _ in iter_records(p):
                        pass
                raise ImrExtractError(f"{p}: {_UNREADABLE[kind]} ({' '.join(str(e).split())})") from None
            yield con
        finally:
            con.close()


def _store(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A store's rows; where it keeps reviewers' corrections, its reviewed relations (the rows corrected)."""
    con.execute("ATTACH ? AS store (READ_ONLY)", [str(path)])
    relations = {row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE database_name = 'store'").fetchall()}
    if not {"letters", "items", "citations"} <= relations:
        raise ImrExtractError(f"{path}: not a store written by imr-extract (no letters, items and citations tables)")
    letters = "store.letters_reviewed" if "letters_reviewed" in relations else "store.letters"
    items_from = "store.items_reviewed" if "items_reviewed" in relations else "store.items"
    missing = {"flags": f"NULL::{_FLAGS}", "confidence_min": "NULL::DOUBLE", "drug_class": "NULL::VARCHAR",
               "compounded": "NULL::BOOLEAN", "dwc_category": "NULL::VARCHAR"}
    have = {row[0] for row in con.execute(f"DESCRIBE {items_from}").fetchall()}
    items = ", ".join(c if c in have else f"{missing[c]} AS {c}" for c in _ITEM_COLUMNS)
    con.execute(f"CREATE VIEW letters AS SELECT {', '.join(_LETTER_COLUMNS)} FROM {letters}")
    con.execute(f"CREATE VIEW items AS SELECT {items} FROM {items_from}")
    con.execute("CREATE VIEW citations AS SELECT source_path, item_index, role, source, guideline FROM store.citations")


def _jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _JSON_COLUMNS.items()) + "}"
    con.execute(f"CREATE VIEW raw AS SELECT *, coalesce(provenance.source_path, document_id) AS source_path "
                f"FROM read_json('{_quoted(path)}', format = 'newline_delimited', columns = {columns})")
    con.execute("CREATE VIEW letters AS SELECT source_path, document_id, case_number, layout, decision_date, "
                "reviewer_specialty, coalesce(needs_review, false) AS needs_review, error.type AS error_type, "
                "provenance.backend AS backend FROM raw")
    con.execute("CREATE VIEW raw_items AS SELECT source_path, unnest(generate_series(0, len(items) - 1)) AS item_index, "
                "unnest(items) AS item FROM raw WHERE len(items) > 0")
    con.execute("CREATE VIEW items AS SELECT source_path, item_index, item.request, item.treatment, item.category, "
                "item.generic_name, item.strength, item.decision, item.needs_review, item.drug_class, item.compounded, "
                "item.dwc_category, item.flags, list_min(map_values(item.confidence)) AS confidence_min FROM raw_items")
    con.execute("CREATE VIEW citations AS SELECT source_path, item_index, 'reviewer' AS role, c.source, c.guideline "
                "FROM (SELECT source_path, item_index, unnest(item.reviewer_guidelines) AS c FROM raw_items)")


def _parquet(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    parts = f"{_quoted(path)}/*.parquet" if path.is_dir() else _quoted(path)
    con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet('{parts}', union_by_name = true)")
    have = {row[0] for row in con.execute("DESCRIBE raw").fetchall()}
    optional = {c: c if c in have else f"NULL::{kind} AS {c}" for c, kind in (
        ("drug_class", "VARCHAR"), ("compounded", "BOOLEAN"), ("dwc_category", "VARCHAR"), ("flags", _FLAGS),
        ("confidence_min", "DOUBLE"))}
    con.execute("CREATE VIEW letters AS SELECT DISTINCT ON (source_path) source_path, document_id, case_number, layout, "
                "TRY_CAST(decision_date AS DATE) AS decision_date, reviewer_specialty, needs_review, "
                "split_part(error, ':', 1) AS error_type, backend FROM raw ORDER BY source_path")
    con.execute("CREATE VIEW items AS SELECT source_path, item_index, request, treatment, category, generic_name, "
                f"strength, decision, {'len(flags) > 0' if 'flags' in have else 'NULL::BOOLEAN'} AS needs_review, "
                f"{', '.join(optional.values())} "
                "FROM raw WHERE item_index IS NOT NULL")
    con.execute("CREATE VIEW citations AS SELECT source_path, item_index, 'reviewer' AS role, c.source, c.guideline "
                "FROM (SELECT source_path, item_index, unnest(from_json(reviewer_guidelines, "
                "'[{\"source\": \"VARCHAR\", \"guideline\": \"VARCHAR\"}]')) AS c FROM raw WHERE item_index IS NOT NULL)")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def records_for(con: duckdb.DuckDBPyConnection, path: str | Path, keys: Iterable[str]) -> Iterator[tuple[str, Record]]:
    """The whole records of the letters ``keys`` (their keys, ``source_path``), for their review pages."""
    p = Path(path)
    wanted = sorted(set(keys))
    if not wanted:
        return
    con.register("wanted", _key_table(wanted))
    try:
        if p.suffix.lower() == ".parquet":
            from .load import record_from_rows

            by_letter: dict[str, list[dict[str, Any]]] = {}
            for row in dict_rows(con, "SELECT * FROM raw WHERE source_path IN (SELECT key FROM wanted) "
                                      "ORDER BY source_path, item_index"):
                by_letter.setdefault(row["source_path"], []).append(row)
            yield from ((key, record_from_rows(rows)) for key, rows in by_letter.items())
            return
        if p.suffix.lower() == ".duckdb":
            # A vector of whole records is large: one thread, and room for it, to read them.
            con.execute(f"SET threads = 1; SET memory_limit = '{RECORDS_MEMORY_LIMIT}'")
            sql = "SELECT source_path, record FROM store.letters WHERE source_path IN (SELECT key FROM wanted)"
        else:
            sql = (f"SELECT * FROM (SELECT coalesce(json ->> '$.provenance.source_path', json ->> '$.document_id') AS key, "
                   f"json FROM read_json_objects('{_quoted(p)}', format = 'newline_delimited')) "
                   "WHERE key IN (SELECT key FROM wanted)")
        yield from ((key, _record(data, p)) for key, data in con.execute(sql).fetchall())
    finally:
        con.unregister("wanted")
        con.execute(f"SET threads = {THREADS}; SET memory_limit = '{MEMORY_LIMIT}'")


def dict_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """A query's rows as dicts by column name."""
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _key_table(keys: list[str]) -> Any:
    import pyarrow as pa

    return pa.table({"key": pa.array(keys, pa.string())})


def _record(data: Any, path: Path) -> Record:
    try:
        return Record.model_validate_json(data if isinstance(data, str) else json.dumps(data))
    except ValidationError as e:
        raise ImrExtractError(f"{path}: a stored record is not valid: {e.errors()[0]['msg']}") from e


_SOURCES = {".duckdb": _store, ".jsonl": _jsonl, ".ndjson": _jsonl, ".parquet": _parquet}
# What a DuckDB error while reading each kind of output means, as the sinks and readers say it.
_UNREADABLE = {".duckdb": "the DuckDB store cannot be used", ".parquet": "not a readable Parquet output",
               ".jsonl": "cannot be read as records", ".ndjson": "cannot be read as records"}
