"""Writing records as they complete: a kill at any moment loses at most the letters in flight, and
after any number of ``--resume`` runs each letter has exactly one record.

Every sink keys a letter by its source path and knows, through ``completed()``, which letters it
already holds without error (path -> content SHA-256), so a resumed run skips exactly those. A
letter written again (a retried failure, a changed file) replaces its earlier record: the latest
record of a path wins, and the superseded one is dropped when the sink opens and when it closes.

``.jsonl``: one record per line (error records included); a line torn by a kill or a full disk
is dropped. ``.parquet``: a directory of part files, one row per item with the letter's fields
beside it (an error record or a letter with no items is one row with empty item columns); each
part is written under a temporary name and renamed, so the directory is always readable
(``pyarrow.parquet.read_table``, DuckDB's ``read_parquet('dir/*.parquet')``).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from .errors import ConfigurationError, OutputInUseError
from .models import ErrorInfo, Record

_LETTER_COLUMNS = ("document_id", "layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
                   "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age",
                   "reviewer_specialty")
_ITEM_COLUMNS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
                 "generic_name", "strength", "quantity", "decision", "rationale")


class Sink(Protocol):
    def completed(self) -> dict[str, str]:
        """source_path -> source_sha256 of the letters already stored without error."""
        ...

    def write(self, record: Record) -> None: ...
    def close(self) -> None: ...


def _key(record: Record) -> str:
    return record.provenance.source_path or record.document_id


class JsonlSink:
    """Appends one JSON record per line and flushes it at once."""

    def __init__(self, path: Path, *, resume: bool = False) -> None:
        self._path = path
        self._stored: dict[str, str | None] = _compact_jsonl(path) if resume and path.exists() else {}
        self._superseded = False
        self._file = path.open("a" if resume else "w", encoding="utf-8")
        self._good_size = self._file.tell()

    def completed(self) -> dict[str, str]:
        return {path: sha for path, sha in self._stored.items() if sha is not None}

    def write(self, record: Record) -> None:
        self._superseded |= _key(record) in self._stored
        try:
            self._file.write(record.model_dump_json() + "\n")
            self._file.flush()
        except OSError:
            self._file.truncate(self._good_size)  # never leave a torn line for the next record to join
            raise
        self._good_size = self._file.tell()

    def close(self) -> None:
        self._file.close()
        if self._superseded:
            _compact_jsonl(self._path)


def _compact_jsonl(path: Path) -> dict[str, str | None]:
    """Keep each path's latest record and no torn line (rewritten atomically if anything goes);
    returns path -> SHA-256 of what is kept (None for an error record)."""
    latest: dict[str, tuple[int, str | None]] = {}
    lines = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f):
            lines += 1
            data = _parse_line(line)
            if data is not None:
                provenance = data.get("provenance") or {}
                key = str(provenance.get("source_path") or data.get("document_id"))
                latest[key] = (number, None if data.get("error") else provenance.get("source_sha256"))
    if len(latest) < lines:
        keep = {number for number, _ in latest.values()}
        with path.open(encoding="utf-8", errors="replace") as f:
            _replace(path, (line for number, line in enumerate(f) if number in keep))
    return {key: sha for key, (_, sha) in latest.items()}


def _parse_line(line: str) -> dict[str, Any] | None:
    if not line.endswith("\n"):
        return None  # torn by a kill or a full disk
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _replace(path: Path, lines: Iterator[str]) -> None:
    """Write ``lines`` to ``path`` through a temporary file and a rename: never half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.writelines(lines)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


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
            + [(c, pa.bool_() if c == "retrospective" else pa.int64() if c == "quantity" else pa.string())
               for c in _ITEM_COLUMNS]
            + [("claims_administrator_guidelines", pa.string()), ("reviewer_guidelines", pa.string()),
               ("reasons", pa.list_(pa.string())), ("needs_review", pa.bool_()), ("warnings", pa.list_(pa.string())),
               ("backend", pa.string()), ("source_path", pa.string()), ("source_sha256", pa.string()),
               ("error", pa.string())]
        )

    def completed(self) -> dict[str, str]:
        return {path: sha for path, sha in self._stored.items() if sha is not None}

    def write(self, record: Record) -> None:
        self._superseded |= _key(record) in self._stored
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

    def _compact(self) -> dict[str, str | None]:
        """Drop rows of a path that a later part wrote again; path -> SHA-256 (None for an error)."""
        parts = self._parts()
        latest: dict[str, tuple[int, str | None]] = {}
        for index, part in enumerate(parts):
            columns = self._pq.read_table(part, columns=["source_path", "source_sha256", "error"]).to_pydict()
            for path, sha, error in zip(columns["source_path"], columns["source_sha256"], columns["error"], strict=True):
                latest[path] = (index, None if error else sha)
        for index, part in enumerate(parts):
            table = self._pq.read_table(part)
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
        "backend": data["provenance"]["backend"], "source_path": _key(record),
        "source_sha256": data["provenance"]["source_sha256"],
        "error": f"{record.error.type}: {record.error.message}" if record.error else None,
    }
    rows = []
    for index, item in enumerate(data["items"] or [None]):
        row = dict(letter, item_index=index if item else None)
        for c in _ITEM_COLUMNS:
            row[c] = item[c] if item else None
        for c in ("claims_administrator_guidelines", "reviewer_guidelines"):
            row[c] = json.dumps([{k: v for k, v in cit.items() if k != "span"} for cit in item[c]]) if item else None
        row["reasons"] = item["reasons"] if item else []
        rows.append(row)
    return rows


def _duckdb(path: Path, *, resume: bool = False) -> Sink:
    from .store import DuckDbSink  # duckdb loads only for a store

    return DuckDbSink(path, resume=resume)


SINKS: dict[str, Callable[..., Sink]] = {".jsonl": JsonlSink, ".ndjson": JsonlSink, ".parquet": ParquetSink,
                                         ".duckdb": _duckdb}


def open_sink(path: str | Path, *, resume: bool = False) -> Sink:
    """A sink for the output's type: ``.jsonl``, ``.parquet`` (a directory of parts) or ``.duckdb`` (a store)."""
    p = _usable(path)
    return SINKS[p.suffix.lower()](p, resume=resume)


def _usable(path: str | Path) -> Path:
    """The output path, if a sink can be made there; else a ``ConfigurationError`` saying why."""
    p = Path(path)
    if p.suffix.lower() not in SINKS:
        raise ConfigurationError(f"{p}: output must end in .jsonl, .parquet or .duckdb")
    if not p.parent.is_dir():
        raise ConfigurationError(f"{p}: the folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise ConfigurationError(f"{p}: the folder {p.parent} cannot be written")
    return p


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold ``<output>.lock`` for the run: a second run on the same output stops at once."""
    p = _usable(path)
    lock = p.with_name(p.name + ".lock")
    try:
        handle = lock.open("a")
    except OSError as e:
        raise ConfigurationError(f"{p}: cannot create the lock file {lock}: {e.strerror or e}") from e
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputInUseError(f"{p}: another imr-extract run is writing this output; wait for it to end "
                                   f"or choose another --output") from None
        yield
