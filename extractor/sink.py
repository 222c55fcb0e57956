"""Writing records as they complete, so a crash or Ctrl-C never loses finished letters.

``.jsonl``: one record per line (error records included). ``.parquet``: one row per item with
the letter's fields beside it (an error record or a letter with no items is one row with empty
item columns), written in row groups through pyarrow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from .errors import ConfigurationError
from .models import Record

_LETTER_COLUMNS = ("document_id", "layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
                   "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age",
                   "reviewer_specialty")
_ITEM_COLUMNS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
                 "generic_name", "strength", "quantity", "decision", "rationale")


class Sink(Protocol):
    def write(self, record: Record) -> None: ...
    def close(self) -> None: ...


class JsonlSink:
    """Appends one JSON record per line and flushes it at once."""

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self._file = path.open("a" if append else "w", encoding="utf-8")

    def write(self, record: Record) -> None:
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ParquetSink:
    """One row per item; buffered rows go out as a row group every ``batch`` rows."""

    def __init__(self, path: Path, *, batch: int = 2000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq = pa, pq
        self._path = path
        self._batch = batch
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = None
        self._schema = pa.schema(
            [(c, pa.string()) for c in _LETTER_COLUMNS if c not in ("patient_age",)]
            + [("patient_age", pa.int32()), ("reviewer_licensure", pa.list_(pa.string())),
               ("diagnoses", pa.list_(pa.string())), ("item_index", pa.int32())]
            + [(c, pa.bool_() if c == "retrospective" else pa.int32() if c == "quantity" else pa.string())
               for c in _ITEM_COLUMNS]
            + [("claims_administrator_guidelines", pa.string()), ("reviewer_guidelines", pa.string()),
               ("reasons", pa.list_(pa.string())), ("needs_review", pa.bool_()), ("warnings", pa.list_(pa.string())),
               ("backend", pa.string()), ("source_path", pa.string()), ("error", pa.string())]
        )

    def write(self, record: Record) -> None:
        data = record.model_dump(mode="json")
        letter = {c: data[c] for c in _LETTER_COLUMNS}
        letter |= {
            "reviewer_licensure": data["reviewer_licensure"], "diagnoses": data["diagnoses"],
            "needs_review": data["needs_review"], "warnings": [w["message"] for w in data["warnings"]],
            "backend": data["provenance"]["backend"], "source_path": data["provenance"]["source_path"],
            "error": f"{record.error.type}: {record.error.message}" if record.error else None,
        }
        items = data["items"] or [None]
        for index, item in enumerate(items):
            row = dict(letter, item_index=index if item else None)
            for c in _ITEM_COLUMNS:
                row[c] = item[c] if item else None
            for c in ("claims_administrator_guidelines", "reviewer_guidelines"):
                row[c] = json.dumps([{k: v for k, v in cit.items() if k != "span"} for cit in item[c]]) if item else None
            row["reasons"] = item["reasons"] if item else []
            self._rows.append(row)
        if len(self._rows) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
        if self._writer is None:
            self._writer = self._pq.ParquetWriter(self._path, self._schema)
        self._writer.write_table(table)
        self._rows = []

    def close(self) -> None:
        self._flush()
        if self._writer is None:
            self._pq.write_table(self._pa.Table.from_pylist([], schema=self._schema), self._path)
        else:
            self._writer.close()


def open_sink(path: str | Path, *, append: bool = False) -> Sink:
    """A sink for the output file's type: ``.jsonl``, ``.parquet`` or ``.duckdb``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return JsonlSink(p, append=append)
    if suffix == ".parquet":
        if append:
            raise ConfigurationError("--resume works with .jsonl output only")
        return ParquetSink(p)
    if suffix == ".duckdb":
        from .store import DuckDbSink

        return DuckDbSink(p, resume=append)
    raise ConfigurationError(f"{p}: output must end in .jsonl, .parquet or .duckdb")


def done_documents(path: str | Path) -> set[str]:
    """Document ids already written (not as errors) to a JSONL output, for --resume."""
    p = Path(path)
    if not p.exists():
        return set()
    done = set()
    with p.open(encoding="utf-8") as f:
        for line in f:
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: that letter is done again
            if isinstance(data, dict) and not data.get("error") and data.get("document_id"):
                done.add(data["document_id"])
    return done
