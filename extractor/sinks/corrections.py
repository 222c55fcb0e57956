"""Reviewers' corrections in the DuckDB store: an append-only table, the item identity that keys it,
and the views that read the extracted values with the corrections applied.

``corrections`` is an audit trail: one row per decision a person made (accept a flagged value, take
the parser's or the model's, type a correction), never updated and never deleted, by the review
server nor by the sink (a re-extraction replaces a letter's ``items`` rows, not its corrections).

**Item identity.** A correction names its letter by content (``letter_sha256``) and its item by
``item_key``: the item's request text normalised (lower case, every run of characters other than
``a-z0-9`` one space, trimmed), ``#``, and its ordinal among the letter's items with the same
normalised request (``0`` for the first). A new parser version that reorders items, or splits one
letter's items differently, still finds the item by its printed request; the ``item_index`` stored
beside it is only what it was when corrected. Letter-level corrections have no ``item_key``. The
key is computed in SQL only (view ``item_keys``), so the store, the server and the exports agree.

Views, all created by ``create_review_schema`` (the one place they are defined):

- ``item_keys``: source_path, item_index, source_sha256, item_key for every extracted item.
- ``latest_corrections``: the latest correction of each (letter, item, field).
- ``items_reviewed`` / ``letters_reviewed``: ``items`` / ``letters`` with the latest correction of
  each field applied, plus ``corrected_fields`` (names of the fields a person decided).
- ``correction_drift``: where the current extraction no longer shows the value a correction was made
  against (``changed``), or no longer has the item (``item_missing``) or the letter (``letter_missing``),
  for item and letter fields alike: the correction stands, a person looks at the difference.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import duckdb
from pydantic import ValidationError

from ..errors import ImrExtractError
from ..models import Record

Action = Literal["accept", "parser", "model", "correct"]
ACTIONS: tuple[str, ...] = ("accept", "parser", "model", "correct")

# The fields a person may correct: the contract's judgement fields and letter fields (not the
# verbatim ones that identify an item or the review flags themselves).
ITEM_FIELDS = ("treatment", "category", "generic_name", "strength", "quantity", "decision", "retrospective",
               "date_of_service", "original_request", "reasons", "drug_class", "compounded", "dwc_category")
LETTER_FIELDS = ("case_number", "date_assigned", "decision_date", "ur_denial_date", "application_received_date",
                 "priority", "date_of_injury", "patient_sex", "patient_age", "reviewer_specialty",
                 "reviewer_licensure", "layout")

_TABLE = """
CREATE SEQUENCE IF NOT EXISTS correction_ids START 1;
CREATE TABLE IF NOT EXISTS corrections (
    id BIGINT PRIMARY KEY DEFAULT nextval('correction_ids'),
    letter_sha256 VARCHAR NOT NULL,
    item_key VARCHAR,
    item_index INTEGER,
    field VARCHAR NOT NULL,
    old_value JSON,
    new_value JSON NOT NULL,
    action VARCHAR NOT NULL CHECK (action IN ('accept', 'parser', 'model', 'correct')),
    reviewer VARCHAR NOT NULL,
    corrected_at TIMESTAMPTZ NOT NULL,
    note VARCHAR
);
"""

_NORMALISED = "trim(regexp_replace(lower(coalesce(request, '')), '[^a-z0-9]+', ' ', 'g'))"


def _views(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The review views' SQL, with a corrected-value expression for each correctable column the store has."""
    item_columns = _columns(con, "items")
    letter_columns = _columns(con, "letters")

    def applied(columns: dict[str, str], fields: tuple[str, ...], alias: str) -> str:
        parts = [f"CASE WHEN {_applies(f'c.m[{chr(39)}{name}{chr(39)}]', kind)} "
                 f"THEN {_from_json(f'c.m[{chr(39)}{name}{chr(39)}]', kind)} ELSE {alias}.{name} END AS {name}"
                 for name, kind in columns.items() if name in fields]
        return f"{alias}.* REPLACE ({', '.join(parts)})" if parts else f"{alias}.*"

    grouped = ("SELECT letter_sha256, item_key, map_from_entries(list((field, new_value))) AS m, "
               "list(field ORDER BY field) AS fields FROM latest_corrections WHERE {where} GROUP BY ALL")
    correctable = ", ".join(f"'{name}'" for name in ITEM_FIELDS)
    letter_correctable = ", ".join(f"'{name}'" for name in LETTER_FIELDS)

    def extracted(source: str, key: str, columns: dict[str, str], fields: tuple[str, ...]) -> str:
        """(source_sha256, item_key, field, value as JSON) of every correctable field ``source`` has."""
        values = ", ".join(f"to_json({name}) AS {name}" for name in columns if name in fields)
        return (f"UNPIVOT (SELECT source_sha256, {key} AS item_key, {values} FROM {source}) "
                "ON COLUMNS(* EXCLUDE (source_sha256, item_key)) INTO NAME field VALUE value")
    return {
        "item_keys": f"SELECT k.*, l.source_sha256 FROM ({item_keys_sql()}) k JOIN letters l USING (source_path)",
        "latest_corrections": ("SELECT * FROM corrections QUALIFY row_number() OVER "
                               "(PARTITION BY letter_sha256, item_key, field ORDER BY id DESC) = 1"),
        "items_reviewed": (
            f"SELECT {applied(item_columns, ITEM_FIELDS, 'i')}, coalesce(c.fields, []) AS corrected_fields "
            "FROM items i JOIN item_keys k USING (source_path, item_index) "
            f"LEFT JOIN ({grouped.format(where='item_key IS NOT NULL')}) c "
            "ON c.letter_sha256 = k.source_sha256 AND c.item_key = k.item_key"
        ),
        "letters_reviewed": (
            f"SELECT {applied(letter_columns, LETTER_FIELDS, 'l')}, coalesce(c.fields, []) AS corrected_fields "
            f"FROM letters l LEFT JOIN ({grouped.format(where='item_key IS NULL')}) c "
            "ON c.letter_sha256 = l.source_sha256"
        ),
        "correction_drift": (
            f"WITH extracted AS ({extracted('items JOIN item_keys USING (source_path, item_index)', 'item_key', item_columns, ITEM_FIELDS)} "
            f"UNION ALL {extracted('letters WHERE error_type IS NULL', 'NULL::VARCHAR', letter_columns, LETTER_FIELDS)}), "
            "present AS (SELECT DISTINCT source_sha256, item_key FROM item_keys "
            "UNION SELECT source_sha256, NULL FROM letters WHERE error_type IS NULL) "
            "SELECT c.id, c.letter_sha256, c.item_key, c.field, c.old_value, c.new_value AS corrected_value, "
            "e.value AS extracted_value, c.reviewer, c.corrected_at, "
            "CASE WHEN k.source_sha256 IS NOT NULL THEN 'changed' WHEN c.item_key IS NULL THEN 'letter_missing' "
            "ELSE 'item_missing' END AS status "
            "FROM latest_corrections c "
            "LEFT JOIN present k ON k.source_sha256 = c.letter_sha256 AND k.item_key IS NOT DISTINCT FROM c.item_key "
            "LEFT JOIN extracted e ON e.source_sha256 = c.letter_sha256 AND e.item_key IS NOT DISTINCT FROM c.item_key "
            "AND e.field = c.field "
            f"WHERE (c.field IN ({correctable}) AND c.item_key IS NOT NULL OR c.field IN ({letter_correctable}) "
            "AND c.item_key IS NULL) AND (k.source_sha256 IS NULL "
            "OR json(coalesce(e.value, 'null')) IS DISTINCT FROM json(coalesce(c.old_value, 'null')))"
        ),
    }


def item_keys_sql(where: str = "") -> str:
    """source_path, item_index, item_key of the items ``where`` selects: the one definition of an item's identity."""
    return (f"SELECT source_path, item_index, norm || '#' || (row_number() OVER (PARTITION BY source_path, norm "
            f"ORDER BY item_index) - 1) AS item_key FROM (SELECT source_path, item_index, {_NORMALISED} AS norm "
            f"FROM items {where})")


def create_review_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The corrections table (if absent) and the review views, over the store's ``items`` and ``letters``.

    Called by the sink when it opens a store and by the review server; it never touches a correction."""
    con.execute(_TABLE)
    for name, sql in _views(con).items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()}


def _from_json(value: str, kind: str) -> str:
    """A JSON value as the column's SQL type (a JSON string's text, not its quoted form)."""
    return f"json_extract_string({value}, '$')" if kind == "VARCHAR" else f"TRY_CAST({value} AS {kind})"


def _applies(value: str, kind: str) -> str:
    """Whether a field's latest correction is applied: there is one, and it is null or of the column's type
    (a stored correction of another type, as ``apply_corrections`` refuses it, leaves the extracted value)."""
    if kind == "VARCHAR":
        return f"{value} IS NOT NULL"
    return f"{value} IS NOT NULL AND (json_type({value}) = 'NULL' OR TRY_CAST({value} AS {kind}) IS NOT NULL)"


def to_json(value: Any) -> str:
    """A value as the JSON stored in ``old_value`` / ``new_value``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def add_correction(con: duckdb.DuckDBPyConnection, *, letter_sha256: str, item_key: str | None,
                   item_index: int | None, field: str, old_value: Any, new_value: Any, action: str,
                   reviewer: str, note: str | None = None) -> int:
    """Append one correction in its own transaction; its id. Nothing else ever writes the table."""
    row = con.execute(
        "INSERT INTO corrections (letter_sha256, item_key, item_index, field, old_value, new_value, action, reviewer, "
        "corrected_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [letter_sha256, item_key, item_index, field, to_json(old_value), to_json(new_value), action, reviewer,
         dt.datetime.now(dt.UTC), note],
    ).fetchone()
    assert row is not None
    return int(row[0])


def latest_by_record(con: duckdb.DuckDBPyConnection) -> dict[str, dict[int | None, dict[str, Any]]]:
    """source_path -> item_index (None: the letter) -> field -> the latest corrected value."""
    rows = con.execute(
        "SELECT k.source_path, k.item_index, c.field, c.new_value FROM latest_corrections c "
        "JOIN item_keys k ON k.source_sha256 = c.letter_sha256 AND k.item_key = c.item_key "
        "UNION ALL SELECT l.source_path, NULL, c.field, c.new_value FROM latest_corrections c "
        "JOIN letters l ON l.source_sha256 = c.letter_sha256 WHERE c.item_key IS NULL"
    ).fetchall()
    latest: dict[str, dict[int | None, dict[str, Any]]] = {}
    for path, index, field, value in rows:
        latest.setdefault(path, {}).setdefault(index, {})[field] = json.loads(value)
    return latest


class RefusedCorrection(ImrExtractError):
    """A stored correction the record's model refuses: written by another version of the tool, or by hand
    (the server validates every correction it makes). ``refused``: (item index or None, field) of each."""

    def __init__(self, record: Record, refused: set[tuple[int | None, str]], reason: str) -> None:
        self.refused = refused
        where = ", ".join(sorted(field if index is None else f"items[{index}].{field}" for index, field in refused))
        super().__init__(f"{record.provenance.source_path or record.document_id}: the stored correction of {where} "
                         f"is refused by the record model ({reason}); correct it again in the review server")


def apply_corrections(record: Record, corrections: dict[int | None, dict[str, Any]], *,
                      skip_refused: bool = False) -> Record:
    """The record with ``corrections`` (item index, None for the letter -> field -> value) applied; the
    accepted flags stay, as the extraction made them. Only correctable fields are applied. A correction
    the model refuses raises ``RefusedCorrection``, or with ``skip_refused`` is left out (the extracted
    value stands) so that a person can see the letter and decide the field again."""
    if not corrections:
        return record
    data = record.model_dump(mode="json")
    for index, fields in corrections.items():
        target, allowed = (data, LETTER_FIELDS) if index is None else (data["items"][index], ITEM_FIELDS)
        target.update({f: v for f, v in fields.items() if f in allowed})
    try:
        return Record.model_validate(data)
    except ValidationError as e:
        refused: set[tuple[int | None, str]] = {
            (None, str(loc[0])) if loc[0] != "items" else (int(loc[1]), str(loc[2]))
            for loc in (error["loc"] for error in e.errors()) if loc and (loc[0] != "items" or len(loc) > 2)}
        refused &= {(index, field) for index, fields in corrections.items() for field in fields}
        if not refused:
            raise  # not a correction's fault: the stored record itself no longer validates
        if not skip_refused:
            raise RefusedCorrection(record, refused, e.errors()[0]["msg"]) from None
    kept = {index: {f: v for f, v in fields.items() if (index, f) not in refused} for index, fields in corrections.items()}
    return apply_corrections(record, kept, skip_refused=True)

