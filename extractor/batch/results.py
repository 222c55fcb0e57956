"""A batch's answers, as OpenAI's Batch API (output and error files) and ``vllm run-batch`` write
them: one JSON line per request, ``{"custom_id", "response": {"status_code", "body"}, "error"}``.

They are indexed on disk by ``custom_id`` (a diskcache next to the manifest), so a batch of a
million answers is looked up without holding it in memory; the index is rebuilt when the files change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache

from ..errors import ConfigurationError

_SIGNATURE = "__files__"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """One request's outcome: the response's status and body, or why the batch gave none."""

    status: int | None
    body: dict[str, Any] | None
    error: str | None

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.body is not None


def parse_result(line: dict[str, Any]) -> Result:
    """One output or error line, whichever engine wrote it."""
    response = line.get("response") or {}
    status = response.get("status_code")
    body = response.get("body")
    if status == 200 and isinstance(body, dict):
        return Result(200, body, None)
    return Result(status, None, _reason(line.get("error"), body, status))


def _reason(error: Any, body: Any, status: int | None) -> str:
    """The batch's own words for a failed request (OpenAI: ``{"code", "message"}``; vLLM: a string
    or ``{"error": {...}}``; a non-200 response's body)."""
    for source in (error, body):
        if isinstance(source, dict) and isinstance(source.get("error"), dict):
            source = source["error"]
        if isinstance(source, dict) and source.get("message"):
            code = source.get("code")
            return f"{code}: {source['message']}" if code else str(source["message"])
        if isinstance(source, str) and source:
            return source
    return f"HTTP {status}" if status else "no response"


class BatchResults:
    """The answers in ``files``, by ``custom_id``; an answer for an id is kept over an error for it
    (a request that failed in one batch and was answered in another)."""

    def __init__(self, files: Iterable[Path], index_dir: Path) -> None:
        self.files = sorted(Path(f) for f in files)
        self._index = diskcache.Cache(str(index_dir))
        signature = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in self.files]
        if self._index.get(_SIGNATURE) != signature:
            self._index.clear()
            self._build()
            self._index[_SIGNATURE] = signature
        self.problems: list[str] = self._index.get("__problems__", [])  # unreadable lines: file and line number
        if self.problems:
            log.warning("%d line(s) of the batch results are not batch output lines and were skipped (first: %s)",
                        len(self.problems), self.problems[0])

    def _build(self) -> None:
        problems: list[str] = []
        for f in self.files:
            try:
                handle = f.open(encoding="utf-8")
            except OSError as e:
                raise ConfigurationError(f"{f}: cannot read the batch results: {e.strerror or e}") from e
            with handle, self._index.transact():
                for number, text in enumerate(handle, 1):
                    if not text.strip():
                        continue
                    try:
                        line = json.loads(text)
                        cid = line["custom_id"]
                    except (ValueError, KeyError, TypeError):
                        problems.append(f"{f}:{number}: not a batch output line")
                        continue
                    result = parse_result(line)
                    previous = self._index.get(cid)
                    if previous is None or previous[0] != 200:
                        self._index[cid] = (result.status, result.body, result.error)
        self._index["__problems__"] = problems

    def get(self, cid: str) -> Result | None:
        found = self._index.get(cid)
        return None if found is None else Result(*found)

    def close(self) -> None:
        self._index.close()
