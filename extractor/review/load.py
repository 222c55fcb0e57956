"""Reading records back from what ``imr-extract extract`` wrote: JSONL (full records), Parquet (a
folder of parts, a row per item) or a DuckDB store (full records).

One reader per output type in ``_READERS``.
A line or row that is not a record is an error naming the file and the line, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ImrExtractError, first_problem
from ..models import Record


def load_records(path: str | Path) -> list[Record]:
    """Every record in a ``.jsonl``, ``.parquet`` or ``.duckdb`` output of ``imr-extract extract``."""
    return list(iter_records(path))


def records_path(path: str | Path) -> Path:
    """``path`` if it can hold the records of an output of ``imr-extract extract``, else a one-line error."""
    p = Path(path)
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise ImrExtractError(f"{p}: records must be .jsonl, .parquet or .duckdb")
    if not p.exists():
        raise ImrExtractError(f"{p}: no such file")
    if reader is not _read_parquet and not p.is_file():  # a folder named x.jsonl, a FIFO that would block
        raise ImrExtractError(f"{p}: {'a folder' if p.is_dir() else 'not a regular file'}, not a records file")
    return p


def iter_records(path: str | Path) -> Iterator[Record]:
    """The records of an output of ``imr-extract extract`` one at a time (a corpus is never held whole)."""
    p = records_path(path)
    try:
        return _READERS[p.suffix.lower()](p)
    except OSError as e:
        raise ImrExtractError(f"{p}: cannot be read: {e.strerror or e}") from None


def _read_jsonl(path: Path) -> Iterator[Record]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ImrExtractError(f"{path}, line {number}: not UTF-8 text (byte {e.start + 1}): "
                                      "not a records file written by imr-extract") from None
            if not line.strip():
                continue
            try:
                yield Record.model_validate_json(line)
            except ValidationError as e:
                raise ImrExtractError(f"{path}, line {number}: not a record: {first_problem(e)}") from None


def _read_parquet(path: Path) -> Iterator[Record]:
    """Rows grouped back into letters (a letter's rows are written together, in one part). Parquet keeps no spans,
    so its records highlight nothing."""
    import pyarrow.parquet as pq

    parts = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]
    letter: list[dict[str, Any]] = []
    for part in parts:
        try:
            batches = pq.ParquetFile(part).iter_batches()
            rows = (row for batch in batches for row in batch.to_pylist())
            for row in rows:
                if letter and row.get("source_path") != letter[0].get("source_path"):
                    yield _letter(path, letter)
                    letter = []
                letter.append(row)
        except ImrExtractError:
            raise
        except Exception as e:  # pyarrow raises several unrelated types for a bad file
            raise ImrExtractError(f"{part}: not a readable Parquet file: {e}") from e
    if letter:
        yield _letter(path, letter)


def _letter(path: Path, rows: list[dict[str, Any]]) -> Record:
    try:
        return record_from_rows(rows)
    except (ValidationError, ValueError, KeyError, TypeError, AttributeError) as e:  # a row of other types
        raise ImrExtractError(f"{path}, document {rows[0].get('document_id')}: not a record: {e}") from e


_ITEM_KEYS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
              "generic_name", "strength", "quantity", "decision", "rationale", "reasons", "drug_class", "compounded",
              "dwc_category")
_SINK_ONLY = {"item_index", "claims_administrator_guidelines", "reviewer_guidelines", "warnings", "backend",
              "source_path", "source_sha256", "error", "needs_review", "final", "flags", "confidence", "confidence_min",
              "letter_flags", "letter_confidence", *_ITEM_KEYS}


def record_from_rows(rows: list[dict[str, Any]]) -> Record:
    """One letter's Parquet rows (one per item) back into its record."""
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


def _read_duckdb(path: Path) -> Iterator[Record]:
    from ..sinks.duckdb import read_records

    return read_records(path)


_READERS: dict[str, Callable[[Path], Iterator[Record]]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".parquet": _read_parquet,
    ".duckdb": _read_duckdb,
}
