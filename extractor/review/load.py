"""Reading records back from what ``imr-extract extract`` wrote: JSONL (full records), Parquet (a
folder of parts, a row per item) or a DuckDB store (full records).

One reader per output type in ``_READERS``.
A line or row that is not a record is an error naming the file and the line, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ImrExtractError
from ..models import Record


def load_records(path: str | Path) -> list[Record]:
    """Every record in a ``.jsonl``, ``.parquet`` or ``.duckdb`` output of ``imr-extract extract``."""
    p = Path(path)
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise ImrExtractError(f"{p}: records must be .jsonl, .parquet or .duckdb")
    if not p.exists():
        raise ImrExtractError(f"{p}: no such file")
    return reader(p)


def _read_jsonl(path: Path) -> list[Record]:
    records = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(Record.model_validate_json(line))
            except ValidationError as e:
                raise ImrExtractError(f"{path}, line {number}: not a record: {_first_error(e)}") from e
    return records


def _read_parquet(path: Path) -> list[Record]:
    """Rows grouped back into letters. Parquet keeps no spans, so its records highlight nothing."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise ImrExtractError(f"{path}: not a readable Parquet file: {e}") from e
    letters: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        letters.setdefault(str(row.get("document_id")), []).append(row)
    records = []
    for doc_id, doc_rows in letters.items():
        try:
            records.append(_record_from_rows(doc_rows))
        except (ValidationError, ValueError, KeyError) as e:
            raise ImrExtractError(f"{path}, document {doc_id}: not a record: {e}") from e
    return records


_ITEM_KEYS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
              "generic_name", "strength", "quantity", "decision", "rationale", "reasons")
_SINK_ONLY = {"item_index", "claims_administrator_guidelines", "reviewer_guidelines", "warnings", "backend",
              "source_path", "source_sha256", "error", "needs_review", "final", "flags", "confidence", "confidence_min",
              "letter_flags", "letter_confidence", *_ITEM_KEYS}


def _record_from_rows(rows: list[dict[str, Any]]) -> Record:
    first = rows[0]
    letter = {k: v for k, v in first.items() if k not in _SINK_ONLY}
    items = []
    for row in rows:
        if row.get("item_index") is None:
            continue
        item = {k: row[k] for k in _ITEM_KEYS if row.get(k) is not None}
        for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
            item[name] = json.loads(row[name] or "[]")
        items.append(item | _trust(row.get("flags"), row.get("confidence")))
    error = first.get("error")
    return Record.model_validate(letter | _trust(first.get("letter_flags"), first.get("letter_confidence")) | {
        "items": items,
        "needs_review": any(r.get("needs_review") for r in rows),
        "warnings": [{"code": "warning", "message": m} for m in first.get("warnings") or []],
        "provenance": {"backend": first.get("backend") or "unknown", "package_version": "unknown",
                       "source_path": first.get("source_path"), "source_sha256": first.get("source_sha256")},
        "error": {"type": error.split(":", 1)[0], "message": error.split(": ", 1)[-1]} if error else None,
    })


def _trust(flags: list[dict[str, Any]] | None, confidence: list[tuple[str, float]] | None) -> dict[str, Any]:
    """Flags and confidence as the Parquet columns hold them (a map reads back as key-value pairs)."""
    return {"flags": flags or [], "confidence": dict(confidence or [])}


def _first_error(e: ValidationError) -> str:
    first = e.errors()[0]
    return f"{'.'.join(map(str, first['loc'])) or '(record)'}: {first['msg']}"


def _read_duckdb(path: Path) -> list[Record]:
    from ..sinks.duckdb import read_records

    return list(read_records(path))


_READERS: dict[str, Callable[[Path], list[Record]]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".parquet": _read_parquet,
    ".duckdb": _read_duckdb,
}
