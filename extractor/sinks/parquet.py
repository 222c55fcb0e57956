"""``.parquet``: a directory of part files, one row per item with the letter's fields beside it (an
error record or a letter with no items is one row with empty item columns). Each part is written
under a temporary name and renamed, so the directory is always readable (``pyarrow.parquet.read_table``,
DuckDB's ``read_parquet('dir/*.parquet')``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..models import ErrorInfo, Record
from .base import record_key, trust_columns, trust_values

_LETTER_COLUMNS = ("document_id", "layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
                   "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age",
                   "reviewer_specialty")
_ITEM_COLUMNS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
                 "generic_name", "strength", "quantity", "decision", "rationale", "drug_class", "compounded", "dwc_category")
_BOOL_COLUMNS = ("retrospective", "compounded")


class ParquetSink:
    """A directory of part files, one row per item; buffered rows become a part every ``batch`` rows."""

    def __init__(self, path: Path, *, resume: bool = False, batch: int = 2000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq = pa, pq
        self._path = path
        self._batch = batch
        self._rows = 0
        self._pending: list[Any] = []
        if path.exists() and not path.is_dir():
            if resume:
                raise ConfigurationError(f"{path}: a single Parquet file cannot be resumed; start a new output")
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
        for stale in [*path.glob(".*.tmp"), *([] if resume else self._parts())]:
            stale.unlink()  # only files this sink writes: anything else in the folder stays
        self._stored = self._compact()
        self._superseded = False
        self._next_part = max((int(p.stem.split("-")[1]) for p in self._parts()), default=-1) + 1
        self._schema = pa.schema(
            [(c, pa.string()) for c in _LETTER_COLUMNS if c not in ("patient_age",)]
            + [("patient_age", pa.int32()), ("reviewer_licensure", pa.list_(pa.string())),
               ("diagnoses", pa.list_(pa.string())), ("item_index", pa.int32())]
            + [(c, pa.bool_() if c in _BOOL_COLUMNS else pa.int64() if c == "quantity" else pa.string())
               for c in _ITEM_COLUMNS]
            + [("claims_administrator_guidelines", pa.string()), ("reviewer_guidelines", pa.string()),
               ("reasons", pa.list_(pa.string())), ("needs_review", pa.bool_()), ("warnings", pa.list_(pa.string())),
               ("backend", pa.string()), ("source_path", pa.string()), ("source_sha256", pa.string()),
               ("error", pa.string()), ("final", pa.bool_())]
            + trust_columns(pa) + [(f"letter_{name}", kind) for name, kind in trust_columns(pa)[:2]]
        )

    def completed(self) -> dict[str, str]:
        return {path: sha for path, sha in self._stored.items() if sha is not None}

    def write(self, record: Record) -> None:
        self._superseded |= record_key(record) in self._stored
        try:
            rows = self._pa.RecordBatch.from_pylist(_rows(record), schema=self._schema)
        except (self._pa.ArrowException, OverflowError) as e:
            error = ErrorInfo(type="OutputError", message=f"a value does not fit its Parquet column: {e}")
            rows = self._pa.RecordBatch.from_pylist(_rows(Record(document_id=record.document_id, provenance=record.provenance, error=error)), schema=self._schema)
        self._pending.append(rows)
        self._rows += rows.num_rows
        if self._rows >= self._batch:
            self._flush()

    def close(self) -> None:
        self._flush()
        if self._superseded:
            self._compact()

    def _parts(self) -> list[Path]:
        return sorted(self._path.glob("part-*.parquet"))

    def _flush(self) -> None:
        if not self._pending:
            return
        part = self._path / f"part-{self._next_part:06d}.parquet"
        self._write_part(part, self._pa.Table.from_batches(self._pending, schema=self._schema))
        self._next_part += 1
        self._pending, self._rows = [], 0

    def _write_part(self, part: Path, table: Any) -> None:
        tmp = part.with_name(f".{part.name}.tmp")
        with tmp.open("wb") as f:
            self._pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, part)

    def _read(self, part: Path, columns: list[str] | None = None) -> Any:
        """A part of the output, or one line naming it: a part cut short or not written by this sink."""
        try:
            return self._pq.read_table(part, columns=columns)
        except (self._pa.ArrowException, KeyError) as e:
            raise ConfigurationError(f"{part}: not a readable part of this output ({' '.join(str(e).split())}); "
                                     "move it out of the folder and run again") from None

    def _compact(self) -> dict[str, str | None]:
        """Drop rows of a path that a later part wrote again; path -> SHA-256 (None if not stored for good)."""
        parts = self._parts()
        latest: dict[str, tuple[int, str | None]] = {}
        for index, part in enumerate(parts):
            columns = self._read(part, columns=["source_path", "source_sha256", "final"]).to_pydict()
            for path, sha, done in zip(columns["source_path"], columns["source_sha256"], columns["final"], strict=True):
                latest[path] = (index, sha if done else None)
        for index, part in enumerate(parts):
            table = self._read(part)
            keep = [latest[path][0] == index for path in table.column("source_path").to_pylist()]
            if all(keep):
                continue
            if any(keep):
                self._write_part(part, table.filter(self._pa.array(keep)))
            else:
                part.unlink()
        return {path: sha for path, (_, sha) in latest.items()}


def _rows(record: Record) -> list[dict[str, Any]]:
    """The record as Parquet rows: one per item, the letter's fields repeated beside each."""
    data = record.model_dump(mode="json")
    letter = {c: data[c] for c in _LETTER_COLUMNS}
    letter |= {
        "reviewer_licensure": data["reviewer_licensure"], "diagnoses": data["diagnoses"],
        "needs_review": data["needs_review"], "warnings": [w["message"] for w in data["warnings"]],
        "backend": data["provenance"]["backend"], "source_path": record_key(record),
        "source_sha256": data["provenance"]["source_sha256"],
        "error": f"{record.error.type}: {record.error.message}" if record.error else None,
        "final": record.final,
    } | {f"letter_{name}": value for name, value in trust_values(record.flags, record.confidence).items()
         if name != "confidence_min"}
    rows = []
    for index, item in enumerate(data["items"] or [None]):
        row = dict(letter, item_index=index if item else None)
        for c in _ITEM_COLUMNS:
            row[c] = item[c] if item else None
        for c in ("claims_administrator_guidelines", "reviewer_guidelines"):
            row[c] = json.dumps([{k: v for k, v in cit.items() if k != "span"} for cit in item[c]]) if item else None
        row["reasons"] = item["reasons"] if item else []
        row |= trust_values(record.items[index].flags, record.items[index].confidence) if item else trust_values([], {})
        rows.append(row)
    return rows
