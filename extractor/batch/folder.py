"""A prepared batch folder as ``batch prepare`` leaves it: ``batch.json`` (the settings the requests
were made with, and the request files), ``manifest.jsonl`` (one line per letter) and the request
files. Everything read from it is checked, so a damaged folder is a clear error, not a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..errors import ConfigurationError, first_problem
from ..llm.prompt import PROMPT_VERSION
from ..settings import Settings

log = logging.getLogger(__name__)
MANIFEST = "manifest.jsonl"
BATCH_JSON = "batch.json"
# The settings that shape a request: ``collect`` asks again with exactly these.
REQUEST_SETTINGS = ("model", "mode", "max_tokens", "context_tokens", "temperature", "seed", "max_reasks",
                    "cascade_threshold")



def _required(name: str) -> Any:
    """The setting's type and bounds as ``Settings`` declares them, with no default."""
    declared = Settings.model_fields[name]
    return (Annotated[declared.annotation, *declared.metadata] if declared.metadata else declared.annotation), ...


RequestSettings: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "RequestSettings", __config__=ConfigDict(extra="ignore"), **{name: _required(name) for name in REQUEST_SETTINGS})


class ManifestEntry(BaseModel):
    """One letter of the manifest: its file, its content's SHA-256 when prepare read it, its requests' ids."""

    model_config = ConfigDict(extra="ignore")

    file: str
    sha256: str | None = None
    requests: list[str] = []


class BatchJson(BaseModel):
    """What ``batch.json`` must hold to be used: checked whole when the folder is opened, so an
    edited or damaged file is one line naming the field, never a failure later in ``collect``."""

    model_config = ConfigDict(extra="ignore")

    backend: Literal["llm", "hybrid", "cascade"]
    prompt_version: str
    settings: RequestSettings  # type: ignore[valid-type]
    files: list[Annotated[str, Field(pattern=r"^[^/\\]+\.jsonl$")]]  # request files inside the folder


@dataclass(frozen=True)
class Batch:
    """A prepared batch: its backend, request settings and request files; its letters from the manifest."""

    folder: Path
    backend: str
    settings: dict[str, Any]
    files: list[str]
    _said: set[int] = field(default_factory=set, compare=False, repr=False)  # manifest lines warned about once

    @classmethod
    def open(cls, folder: Path) -> Batch:
        path = folder / BATCH_JSON
        try:
            meta = BatchJson.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise ConfigurationError(f"{folder}: no {BATCH_JSON}: not a prepared batch (or its prepare did not finish)") from None
        except OSError as e:
            raise ConfigurationError(f"{path}: cannot be read: {e.strerror or e}") from e
        except ValidationError as e:
            raise ConfigurationError(f"{path}: not what `batch prepare` writes: {first_problem(e)}") from None
        if meta.prompt_version != PROMPT_VERSION:
            raise ConfigurationError(f"{folder}: prepared with prompt version {meta.prompt_version}, this imr-extract "
                                     f"has {PROMPT_VERSION}: prepare the batch again")
        return cls(folder, meta.backend, cast(BaseModel, meta.settings).model_dump(), meta.files)

    def letters(self) -> Iterator[tuple[str, ManifestEntry]]:
        """Each letter's file (absolute, as prepare found it: the same whatever folder collect runs in)
        and its manifest entry, once: a line repeating a letter already listed is skipped, with a warning."""
        path = self.folder / MANIFEST
        seen: dict[str, int] = {}
        try:
            with path.open("rb") as manifest:
                for number, line in enumerate(manifest, 1):
                    if not line.strip():
                        continue
                    try:
                        entry = ManifestEntry.model_validate_json(line)
                    except ValidationError as e:
                        raise ConfigurationError(f"{path}:{number}: not a manifest line ({first_problem(e)}); "
                                                 "prepare the batch again") from None
                    if entry.file in seen:
                        if number not in self._said:
                            self._said.add(number)
                            log.warning("%s:%d: the letter %s is listed already (line %d): this line is skipped",
                                        path, number, entry.file, seen[entry.file])
                        continue
                    seen[entry.file] = number
                    yield entry.file, entry
        except OSError as e:
            raise ConfigurationError(f"{path}: cannot be read: {e.strerror or e}") from e
