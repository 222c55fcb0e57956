"""A prepared batch folder as ``batch prepare`` leaves it: ``batch.json`` (the settings the requests
were made with, and the request files), ``manifest.jsonl`` (one line per letter) and the request
files. Everything read from it is checked, so a damaged folder is a clear error, not a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..llm.prompt import PROMPT_VERSION

MANIFEST = "manifest.jsonl"
BATCH_JSON = "batch.json"
# The settings that shape a request: ``collect`` asks again with exactly these.
REQUEST_SETTINGS = ("model", "mode", "max_tokens", "context_tokens", "temperature", "seed", "max_reasks",
                    "cascade_threshold")


@dataclass(frozen=True)
class Batch:
    """A prepared batch: its backend, request settings and request files; its letters from the manifest."""

    folder: Path
    backend: str
    settings: dict[str, Any]
    files: list[str]

    @classmethod
    def open(cls, folder: Path) -> Batch:
        path = folder / BATCH_JSON
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            batch = cls(folder, meta["backend"], {k: meta["settings"][k] for k in REQUEST_SETTINGS}, list(meta["files"]))
            version = meta["prompt_version"]
        except FileNotFoundError:
            raise ConfigurationError(f"{folder}: no {BATCH_JSON}: not a prepared batch (or its prepare did not finish)") from None
        except OSError as e:
            raise ConfigurationError(f"{path}: cannot be read: {e.strerror or e}") from e
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigurationError(f"{path}: not what `batch prepare` writes ({type(e).__name__}: {e})") from e
        if version != PROMPT_VERSION:
            raise ConfigurationError(f"{folder}: prepared with prompt version {version}, this imr-extract has "
                                     f"{PROMPT_VERSION}: prepare the batch again")
        return batch

    def letters(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each letter's file (absolute, as prepare found it: the same whatever folder collect runs in)
        and its manifest entry."""
        path = self.folder / MANIFEST
        try:
            with path.open(encoding="utf-8") as manifest:
                for number, line in enumerate(manifest, 1):
                    try:
                        entry = json.loads(line)
                        yield str(entry["file"]), entry
                    except (ValueError, KeyError, TypeError) as e:
                        raise ConfigurationError(f"{path}:{number}: not a manifest line ({e}); prepare the batch again") from e
        except OSError as e:
            raise ConfigurationError(f"{path}: cannot be read: {e.strerror or e}") from e
