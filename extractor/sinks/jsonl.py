"""``.jsonl``: one record per line (error records included); a line torn by a kill or a full disk is
dropped, and a letter written again replaces its earlier line when the file is compacted."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..models import NOT_FINAL, Record
from .base import record_key


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
        self._superseded |= record_key(record) in self._stored
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
                again = any(isinstance(w, dict) and w.get("code") in NOT_FINAL for w in data.get("warnings") or [])
                latest[key] = (number, None if data.get("error") or again else provenance.get("source_sha256"))
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

