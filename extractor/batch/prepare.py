"""``batch prepare``: every letter's first-round requests as OpenAI Batch input files, and a manifest.

The requests are the ones the online path sends first for each letter (split letters give one per
part), recorded by ``RequestRecorder``; what the online path would only ask after seeing an answer
(a re-ask with a note, the halves of a cut-off part) is asked by ``batch collect``, online or not at
all. Files hold at most 50,000 requests and 200 MB each (OpenAI's limits); a request that two
letters share (the same text twice) is written once.

The folder: ``batch.json`` (the settings the requests were made with, which ``collect`` must use
again), ``manifest.jsonl`` (one line per letter: path, SHA-256, its requests' ids, or why it has
none) and ``requests-00001.jsonl`` ... With ``cascade`` only the questions in doubt are written; a
letter with none has no request, and its manifest line says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigurationError, LetterError, display_path
from ..llm.backends import extract_letter
from ..llm.prompt import PROMPT_VERSION
from ..read import read_letter
from ..settings import Settings
from .folder import BATCH_JSON, MANIFEST, REQUEST_SETTINGS
from .requests import RequestRecorder, batch_line, batch_settings

MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200_000_000


@dataclass
class Prepared:
    """One letter's outcome: how many requests it gave (new ones: a shared request counts once)."""

    path: str
    requests: int
    error: str | None = None
    doubtless: bool = False  # ``cascade``: nothing in doubt, so no question


class _RequestFiles:
    """Numbered request files, each within OpenAI's limits, each request once."""

    def __init__(self, folder: Path, max_requests: int, max_bytes: int) -> None:
        self.folder, self.max_requests, self.max_bytes = folder, max_requests, max_bytes
        self.files: list[str] = []
        self.written: set[str] = set()
        self._file: Any = None
        self._lines = self._bytes = 0

    def write(self, cid: str, body: dict[str, Any]) -> bool:
        if cid in self.written:
            return False
        line = batch_line(cid, body).encode()
        if len(line) > self.max_bytes:
            raise ConfigurationError(f"one request is {len(line)} bytes, over the {self.max_bytes}-byte file limit")
        if self._file is None or self._lines >= self.max_requests or self._bytes + len(line) > self.max_bytes:
            self._next_file()
        self._file.write(line)
        self._lines += 1
        self._bytes += len(line)
        self.written.add(cid)
        return True

    def _next_file(self) -> None:
        self.close()
        name = f"requests-{len(self.files) + 1:05d}.jsonl"
        self.files.append(name)
        self._file = (self.folder / name).open("wb")
        self._lines = self._bytes = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def prepare(paths: Iterable[str | Path], folder: Path, *, backend: str, settings: Settings,
            max_requests: int = MAX_REQUESTS_PER_FILE, max_bytes: int = MAX_BYTES_PER_FILE) -> Iterator[Prepared]:
    """Write the batch for ``paths`` into ``folder`` (new or empty), yielding each letter as it is done;
    ``batch.json`` is written last, so a folder without it is an unfinished prepare."""
    if backend not in ("llm", "hybrid", "cascade"):
        raise ConfigurationError(f"a batch is for the model backends (llm, hybrid, cascade), not {backend!r}")
    if folder.exists() and any(folder.iterdir()):
        raise ConfigurationError(f"{folder}: not empty; prepare a batch into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    settings = loop.run_until_complete(batch_settings(settings))
    recorder = RequestRecorder.for_settings(settings)
    files = _RequestFiles(folder, max_requests, max_bytes)
    letters = 0
    try:
        with (folder / MANIFEST).open("w", encoding="utf-8") as manifest:
            for path in paths:
                entry, prepared = loop.run_until_complete(_letter(path, backend, settings, recorder, files))
                manifest.write(json.dumps(entry) + "\n")
                letters += 1
                yield prepared
    finally:
        files.close()
        loop.run_until_complete(recorder.aclose())
        loop.close()
    (folder / BATCH_JSON).write_text(json.dumps({
        "backend": backend, "prompt_version": PROMPT_VERSION, "package_version": __version__,
        "prepared_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {name: getattr(settings, name) for name in REQUEST_SETTINGS},
        "files": files.files, "letters": letters, "requests": len(files.written),
    }, indent=2) + "\n", encoding="utf-8")


async def _letter(path: str | Path, backend: str, settings: Settings, recorder: RequestRecorder,
                  files: _RequestFiles) -> tuple[dict[str, Any], Prepared]:
    name = display_path(path)
    entry: dict[str, Any] = {"path": name, "file": os.path.abspath(path), "sha256": None, "requests": [], "error": None}
    try:
        letter = read_letter(path, max_bytes=settings.max_file_bytes)
        entry["sha256"], entry["document_id"] = letter.sha256, letter.document_id
        recorder.requests.clear()
        await extract_letter(letter, backend, recorder, None)
    except Exception as e:  # noqa: BLE001 - one letter's failure is noted in the manifest, the batch goes on
        reason = e.reason if isinstance(e, LetterError) else str(e) or type(e).__name__
        entry["error"] = {"type": type(e).__name__, "message": reason}
        return entry, Prepared(name, 0, reason)
    entry["requests"] = list(recorder.requests)
    doubtless = not recorder.requests and backend == "cascade"
    if doubtless:
        entry["none_because"] = "nothing in doubt: collect gives it the parser's record"
    new = sum(files.write(cid, body) for cid, body in recorder.requests.items())
    return entry, Prepared(name, new, doubtless=doubtless)
