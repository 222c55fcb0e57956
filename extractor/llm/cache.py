"""The answer cache: a re-run of the same letters with the same prompt, schema, model and sampling
sends no request.

The key hashes exactly those (never the endpoint's key); the value is the validated answer and
the usage of the call that made it. Only model answers are stored, never settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from pydantic import BaseModel

from ..models import Usage
from ..settings import Settings
from .prompt import Prompt
from .schema import schema_hash

M = TypeVar("M", bound=BaseModel)


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
    """A diskcache directory of answers, shared safely by threads and processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache = diskcache.Cache(str(directory))

    def get(self, key: str, response_model: type[M]) -> tuple[M, Usage] | None:
        """The cached answer, or None (a missing or unreadable entry is a miss, to be asked again)."""
        raw = self._cache.get(key)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            return response_model.model_validate(value["answer"]), Usage.model_validate(value["usage"])
        except (ValueError, KeyError, TypeError):  # ValidationError and JSONDecodeError are ValueErrors
            return None

    def put(self, key: str, answer: BaseModel, usage: Usage) -> None:
        self._cache.set(key, json.dumps({"answer": answer.model_dump(mode="json"), "usage": usage.model_dump(mode="json")}))

    def close(self) -> None:
        self._cache.close()


def open_cache(settings: Settings) -> AnswerCache | None:
    """The cache the settings ask for, or None with ``no_cache``."""
    return None if settings.no_cache else AnswerCache(settings.cache_dir)


def stats(settings: Settings) -> dict[str, object]:
    """For ``imr-extract cache stats``: where the cache is, how many answers, how many bytes."""
    if not settings.cache_dir.exists():
        return {"directory": str(settings.cache_dir), "entries": 0, "size_bytes": 0}
    with diskcache.Cache(str(settings.cache_dir)) as c:
        return {"directory": str(settings.cache_dir), "entries": len(c), "size_bytes": c.volume()}


def clear(settings: Settings) -> int:
    """For ``imr-extract cache clear``: remove every cached answer; returns how many."""
    if not settings.cache_dir.exists():
        return 0
    with diskcache.Cache(str(settings.cache_dir)) as c:
        return int(c.clear())
