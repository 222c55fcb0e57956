"""A batch's answers, as OpenAI's Batch API (output and error files) and ``vllm run-batch`` write
them: one JSON line per request, ``{"custom_id", "response": {"status_code", "body"}, "error"}``.

The lines are indexed on disk by ``custom_id`` (where each line is: file and byte offset), so a batch
of a million answers is looked up without holding it in memory or copying it; the index is built
once per set of result files, next to the manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import diskcache

from ..errors import ConfigurationError

log = logging.getLogger(__name__)
_BUILT = "__built__"  # the key saying the index is whole: the lines it could not read, the ids answered twice
_INDEX_VERSION = "v2"  # an index of another layout is never read: it is rebuilt


@dataclass(frozen=True)
class Result:
    """One request's outcome: the response's status and body, or why the batch gave none."""

    status: int | None
    body: dict[str, Any] | None
    error: str | None

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.body is not None


def parse_result(line: Any) -> Result:
    """One output or error line, whichever engine wrote it; ``ValueError`` if it is not one."""
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        raise ValueError("no custom_id")
    response = line.get("response") or {}
    if not isinstance(response, dict):
        raise ValueError("response is not an object")
    status, body = response.get("status_code"), response.get("body")
    if status == 200 and isinstance(body, dict):
        return Result(200, body, None)
    return Result(status if isinstance(status, int) else None, None, _reason(line.get("error"), body, status))


def _reason(error: Any, body: Any, status: Any) -> str:
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


def _answer_digest(result: Result) -> str | None:
    """What an answer says (its choices: the engine's own ids and timings aside), to tell two answers apart."""
    if result.body is None:
        return None
    said = json.dumps(result.body.get("choices"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(said.encode()).hexdigest()


class BatchResults:
    """The answers in ``files``, by ``custom_id``; an answer for an id is kept over an error for it
    (a request that failed in one batch and was answered in another)."""

    def __init__(self, files: Iterable[Path], folder: Path) -> None:
        self.files = sorted(Path(f).resolve() for f in files)
        try:
            signature = json.dumps([(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in self.files])
        except OSError as e:
            raise ConfigurationError(f"{e.filename}: cannot read the batch results: {e.strerror or e}") from e
        index_dir = folder / f".results-index-{_INDEX_VERSION}-{hashlib.sha256(signature.encode()).hexdigest()[:16]}"
        try:
            built = self._open(index_dir)
        except (sqlite3.Error, OSError):  # a corrupt index (a kill mid-build, a disk error): it is rebuilt
            shutil.rmtree(index_dir, ignore_errors=True)
            try:
                built = self._open(index_dir)
            except (sqlite3.Error, OSError) as e:
                raise ConfigurationError(f"{index_dir}: cannot keep the batch results' index there ({e})") from e
        self.problems: list[str] = built["problems"]  # unreadable lines: file and line number
        self.conflicts: set[str] = set(built["conflicts"])  # ids answered twice with different content
        self._handles: dict[int, IO[bytes]] = {}
        if self.problems:
            log.warning("%d line(s) of the batch results are not batch output lines and were skipped (first: %s)",
                        len(self.problems), self.problems[0])
        if self.conflicts:
            log.warning("%d request(s) have two different answers in the batch results (first: %s): the first "
                        "answer is used and each letter concerned is flagged", len(self.conflicts), min(self.conflicts))

    def _open(self, index_dir: Path) -> dict[str, Any]:
        """The index of these files, built unless a whole one is there; what the build found."""
        # Never evicted: diskcache's default would drop entries past 1 GB, i.e. lose answers.
        self._index = diskcache.Cache(str(index_dir), size_limit=2**62, eviction_policy="none")
        try:
            if self._index.get(_BUILT) is None:
                for stale in index_dir.parent.glob(".results-index-*"):
                    if stale != index_dir:
                        shutil.rmtree(stale, ignore_errors=True)
                self._index.clear()
                self._index[_BUILT] = self._build()
            return self._index[_BUILT]  # type: ignore[no-any-return]
        except BaseException:
            self._index.close()
            raise

    def _build(self) -> dict[str, Any]:
        problems: list[str] = []
        conflicts: set[str] = set()
        for number, f in enumerate(self.files):
            with f.open("rb") as handle, self._index.transact():
                offset = 0
                for count, raw in enumerate(handle, 1):
                    here, offset = offset, offset + len(raw)
                    if not raw.strip():
                        continue
                    try:
                        line = json.loads(raw)
                        result = parse_result(line)
                    except ValueError as e:  # JSON, UTF-8 or shape
                        problems.append(f"{f}:{count}: not a batch output line ({e})")
                        continue
                    cid = line["custom_id"]
                    digest = _answer_digest(result)
                    previous = self._index.get(cid)
                    if previous is None or not previous[2]:
                        self._index[cid] = (number, here, result.answered, digest)
                    elif result.answered and previous[3] != digest:
                        conflicts.add(cid)
        return {"problems": problems, "conflicts": sorted(conflicts)}

    def has_answer(self, cid: str) -> bool:
        """Whether the results answer ``cid`` (from the index alone)."""
        found = self._index.get(cid) if cid != _BUILT else None
        return found is not None and bool(found[2])

    def has_line(self, cid: str) -> bool:
        """Whether the results hold a line for ``cid``, an answer or an error."""
        return cid != _BUILT and self._index.get(cid) is not None

    def get(self, cid: str) -> Result | None:
        found = self._index.get(cid) if cid != _BUILT else None
        if found is None:
            return None
        number, offset = found[0], found[1]
        handle = self._handles.get(number) or self._handles.setdefault(number, self.files[number].open("rb"))
        handle.seek(offset)
        return parse_result(json.loads(handle.readline()))

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._index.close()
