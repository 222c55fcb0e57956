"""The answer cache: a re-run of the same letters with the same prompt, schema, model and sampling
sends no request.

The key hashes exactly those (never the endpoint's key); the value is the validated answer and
the usage of the call that made it, the endpoint's key redacted should a server echo it. Only model
answers are stored, never settings.

The cache only saves requests, so it must never stop a run: a cache that cannot be opened, read
or written (corrupt, read-only, disk full) is reported once, as a warning on the ``extractor``
logger, and bypassed; a corrupt one is moved aside and rebuilt empty.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import shutil
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from pydantic import BaseModel

from ..models import Usage
from ..redact import Redactor
from ..settings import Settings
from .prompt import Prompt
from .schema import schema_hash

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("extractor")
# What can go wrong with the cache's files: sqlite's errors (corrupt, read-only, locked) and the OS's.
CACHE_FAILURES = (sqlite3.Error, OSError)
# What diskcache keeps in its folder: the database and its journals, and two-hex-digit folders of large values.
_CACHE_FILE = re.compile(r"cache\.db(-wal|-shm|-journal)?|[0-9a-f]{2}")
NOT_A_FOLDER = "not a folder: set IMR_CACHE_DIR to a folder (this file is left as it is)"


def cache_key(letter_sha256: str, prompt: Prompt, response_model: type[BaseModel], sampling: Mapping[str, Any]) -> str:
    """The letter's content hash, the prompt (version and every message), the schema and the sampling."""
    parts = {
        "letter": letter_sha256,
        "prompt_version": prompt.version,
        "prompt": prompt.digest,
        "schema": f"{response_model.__name__}:{schema_hash(response_model)}",
        "sampling": dict(sampling),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    """A diskcache directory of answers, shared safely by threads and processes; on the first
    failure to read or write it, reported once and bypassed for the rest of the run."""

    def __init__(self, directory: Path, redactor: Redactor | None = None) -> None:
        self.directory = directory
        self._redactor = redactor or Redactor()
        self._cache: diskcache.Cache | None = _open(directory)

    def get(self, key: str, response_model: type[M]) -> tuple[M, Usage] | None:
        """The cached answer, or None (a missing or unreadable entry is a miss, to be asked again)."""
        if self._cache is None:
            return None
        try:
            raw = self._cache.get(key)
        except CACHE_FAILURES as e:
            self._give_up(e)
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            return response_model.model_validate(value["answer"]), Usage.model_validate(value["usage"])
        except (ValueError, KeyError, TypeError):  # ValidationError and JSONDecodeError are ValueErrors
            return None

    def put(self, key: str, answer: BaseModel, usage: Usage) -> None:
        if self._cache is None:
            return
        try:
            self._cache.set(key, self._redactor.text(json.dumps({"answer": answer.model_dump(mode="json"),
                                                                 "usage": usage.model_dump(mode="json")})))
        except CACHE_FAILURES as e:
            self._give_up(e)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def _give_up(self, error: Exception) -> None:
        _report(self.directory, f"cannot be used ({_reason(error)}); going on without it")
        self.close()
        self._cache = None


def _open(directory: Path) -> diskcache.Cache | None:
    """The cache, rebuilt empty if it is corrupt; None (reported) if it cannot be used at all."""
    try:
        return diskcache.Cache(str(directory))
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError):  # read-only, locked, unreadable: leave it be
            _report(directory, f"cannot be used ({_reason(e)}); going on without it")
            return None
        aside = directory.with_name(f"{directory.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            directory.rename(aside)
            cache = diskcache.Cache(str(directory))
        except CACHE_FAILURES as again:
            _report(directory, f"is corrupt ({_reason(e)}) and cannot be rebuilt ({_reason(again)}); going on without it")
            return None
        _report(directory, f"was corrupt ({_reason(e)}): moved to {aside}, started empty")
        return cache
    except OSError as e:
        _report(directory, f"cannot be used ({_reason(e)}); going on without it")
        return None


_reported: set[Path] = set()


def _report(directory: Path, what: str) -> None:
    if directory not in _reported:
        _reported.add(directory)
        log.warning("answer cache %s %s", directory, what)


def _reason(error: Exception) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or str(error) or type(error).__name__


def open_cache(settings: Settings) -> AnswerCache | None:
    """The cache the settings ask for, or None with ``no_cache``."""
    return None if settings.no_cache else AnswerCache(settings.cache_dir, settings.redactor)


def stats(settings: Settings) -> dict[str, object]:
    """For ``imr-extract cache stats``: where the cache is, how many answers, how many bytes; a
    ``problem`` when it cannot be read."""
    found: dict[str, object] = {"directory": str(settings.cache_dir), "entries": 0, "size_bytes": 0}
    if not settings.cache_dir.exists():
        return found
    if not settings.cache_dir.is_dir():
        return found | {"problem": NOT_A_FOLDER}
    try:
        with diskcache.Cache(str(settings.cache_dir)) as c:
            return found | {"entries": len(c), "size_bytes": c.volume()}
    except CACHE_FAILURES as e:
        return found | {"problem": f"cannot be read ({_reason(e)}); `imr-extract cache clear` removes it"}


def clear(settings: Settings) -> int:
    """For ``imr-extract cache clear``: remove every cached answer; returns how many. A cache that
    cannot be opened is removed whole. ``OSError`` if the directory cannot be changed, and for a path
    that is not a folder (a user's file is never deleted)."""
    if not settings.cache_dir.exists():
        return 0
    if not settings.cache_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, NOT_A_FOLDER, str(settings.cache_dir))
    try:
        with diskcache.Cache(str(settings.cache_dir)) as c:
            return int(c.clear())
    except sqlite3.Error:
        others = [p.name for p in settings.cache_dir.iterdir() if not _CACHE_FILE.fullmatch(p.name)]
        if others:  # not only a cache: never remove what someone else put there
            raise OSError(errno.ENOTEMPTY, f"cannot be opened as a cache and holds other files ({others[0]}, ...): "
                          "left as it is", str(settings.cache_dir)) from None
        shutil.rmtree(settings.cache_dir)  # OSError (read-only) goes to the caller
        return 0
