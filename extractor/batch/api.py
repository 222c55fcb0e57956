"""``batch submit / status / download``: a prepared folder through OpenAI's Batch API (files and
batches endpoints) with the configured key. What was submitted is kept in ``submitted.json`` in the
folder, one entry per request file, written as each is accepted: a submit that stops part way is run
again and sends only the rest; a download fetches each output and error file once, into ``results/``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openai

from ..errors import ConfigurationError
from ..llm.client import OPENAI_URL
from ..settings import Settings
from .prepare import BATCH_JSON
from .requests import URL

SUBMITTED = "submitted.json"
RESULTS = "results"
DONE = ("completed", "failed", "expired", "cancelled")  # a batch in one of these states changes no more


@dataclass
class Submitted:
    """One request file as the API knows it."""

    file: str
    input_file_id: str
    batch_id: str
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    total: int = 0


def submit(folder: Path, settings: Settings, *, on_file: Callable[[Submitted], None] = lambda _: None) -> list[Submitted]:
    """Upload each request file not sent yet and start a batch for it (24-hour window)."""
    files = json.loads(_read(folder / BATCH_JSON))["files"]
    done = load_submitted(folder)
    sent = {s.file for s in done}
    with _client(settings) as client:
        for name in files:
            if name in sent:
                continue
            with (folder / name).open("rb") as f:
                uploaded = client.files.create(file=f, purpose="batch")
            batch = client.batches.create(input_file_id=uploaded.id, endpoint=URL, completion_window="24h",
                                          metadata={"imr_extract_batch": folder.resolve().name, "file": name})
            entry = Submitted(name, uploaded.id, batch.id, batch.status)
            done.append(entry)
            _save(folder, done)
            on_file(entry)
    return done


def refresh(folder: Path, settings: Settings) -> list[Submitted]:
    """Every submitted batch's state as the API reports it now (kept in ``submitted.json``)."""
    done = load_submitted(folder)
    if not done:
        raise ConfigurationError(f"{folder}: nothing submitted yet; run `imr-extract batch submit {folder}` first")
    with _client(settings) as client:
        for entry in done:
            if entry.status in DONE:  # seen finished: its files are known
                continue
            batch = client.batches.retrieve(entry.batch_id)
            counts = batch.request_counts
            entry.status, entry.output_file_id, entry.error_file_id = batch.status, batch.output_file_id, batch.error_file_id
            entry.completed, entry.failed, entry.total = (counts.completed, counts.failed, counts.total) if counts else (0, 0, 0)
    _save(folder, done)
    return done


def download(folder: Path, settings: Settings) -> list[Path]:
    """The output and error files of every finished batch, into ``results/`` (each fetched once)."""
    done = refresh(folder, settings)
    target = folder / RESULTS
    target.mkdir(exist_ok=True)
    written = []
    with _client(settings) as client:
        for entry in done:
            for file_id, suffix in ((entry.output_file_id, ""), (entry.error_file_id, "-errors")):
                if not file_id:
                    continue
                path = target / f"{entry.batch_id}{suffix}.jsonl"
                if not path.exists():
                    content = client.files.content(file_id)
                    partial = path.with_name(f".{path.name}.part")
                    content.write_to_file(partial)
                    os.replace(partial, path)
                written.append(path)
    return written


def load_submitted(folder: Path) -> list[Submitted]:
    path = folder / SUBMITTED
    if not path.exists():
        return []
    return [Submitted(**entry) for entry in json.loads(_read(path))]


def _save(folder: Path, done: list[Submitted]) -> None:
    tmp = folder / f".{SUBMITTED}.tmp"
    tmp.write_text(json.dumps([asdict(s) for s in done], indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SUBMITTED)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot be read ({e.strerror or e}); is this a prepared batch folder?") from e


_KEYISH = re.compile(r"\b(sk|key)-[\w*-]{4,}")


@contextmanager
def _client(settings: Settings) -> Iterator[openai.OpenAI]:
    """The API client; a failed call inside comes out as a ``ConfigurationError`` in words, with
    nothing key-like in them."""
    if settings.api_key is None and settings.base_url is None:
        raise ConfigurationError("the Batch API needs IMR_API_KEY (OpenAI) or IMR_BASE_URL (a compatible server)")
    key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
    client = openai.OpenAI(api_key=key, base_url=settings.base_url or OPENAI_URL, max_retries=3, timeout=settings.timeout)
    try:
        yield client
    except openai.AuthenticationError:
        raise ConfigurationError("the Batch API refused the API key (HTTP 401): check IMR_API_KEY") from None
    except openai.APIStatusError as e:
        raise ConfigurationError(f"the Batch API answered HTTP {e.status_code}: {_KEYISH.sub('[key]', e.message)}") from None
    except openai.APIConnectionError as e:
        raise ConfigurationError(f"could not reach the Batch API: {_KEYISH.sub('[key]', str(e))}") from None
    finally:
        client.close()


def summary(done: list[Submitted]) -> dict[str, Any]:
    """Totals over every submitted file, and whether every batch has finished."""
    return {"batches": len(done), "finished": sum(s.status in DONE for s in done),
            "completed": sum(s.completed for s in done), "failed": sum(s.failed for s in done),
            "total": sum(s.total for s in done), "all_finished": all(s.status in DONE for s in done)}
