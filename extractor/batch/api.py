"""``batch submit / status / download``: a prepared folder through OpenAI's Batch API (files and
batches endpoints) with the configured key. What was submitted is kept in ``submitted.json`` in the
folder, one entry per request file, written as each is accepted: a submit that stops part way is run
again and sends only the rest, and a second submit while one runs stops at once; a download fetches each output and error file once, into ``results/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai
from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigurationError, first_problem
from ..llm.client import OPENAI_URL
from ..settings import Settings
from ..sinks import lock_file
from .folder import Batch
from .requests import URL

SUBMITTED = "submitted.json"
RESULTS = "results"
DONE = ("completed", "failed", "expired", "cancelled")  # a batch in one of these states changes no more
RETRY = ("failed", "expired", "cancelled")  # finished without answering everything: submit sends the file again
TRANSFER_TIMEOUT = 3600.0  # seconds for a 200 MB upload or download


@dataclass
class Submitted:
    """One request file as the API knows it (``batch_id`` None: uploaded, batch not yet created)."""

    file: str
    input_file_id: str
    batch_id: str | None = None
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)


def submit(folder: Path, settings: Settings, *, on_file: Callable[[Submitted], None] = lambda _: None) -> list[Submitted]:
    """Upload each request file that has no batch running or completed, and start a batch for it
    (24-hour window). What was accepted is saved at each step, so a run stopped anywhere is run
    again without creating a second batch for a file (a duplicate would be billed twice)."""
    batch = Batch.open(folder)
    busy = f"{folder}: another imr-extract run is submitting this batch; wait for it to end"
    with lock_file(folder.resolve() / ".submit.lock", busy), _client(settings) as client:
        done = load_submitted(folder)  # read under the lock: what the other run accepted is not sent twice
        for name in batch.files:
            current = [s for s in done if s.file == name]
            entry = current[-1] if current else None
            if entry is not None and entry.batch_id is not None and entry.status not in RETRY:
                continue
            pending = entry is not None and entry.batch_id is None  # uploaded by a run that stopped before create
            if not pending:  # never sent, or its batch finished without answering everything: upload it (again)
                try:
                    with (folder / name).open("rb") as f:
                        uploaded = client.with_options(timeout=TRANSFER_TIMEOUT).files.create(file=f, purpose="batch")
                except OSError as e:
                    raise ConfigurationError(f"{folder / name}: cannot be read: {e.strerror or e}") from e
                entry = Submitted(name, uploaded.id)
                done.append(entry)
                _save(folder, done)
            assert entry is not None
            created = (pending and _existing(client, entry.input_file_id)) or client.with_options(max_retries=0).batches.create(
                input_file_id=entry.input_file_id, endpoint=URL, completion_window="24h",
                metadata={"imr_extract_file": name})
            entry.batch_id, entry.status = created.id, created.status
            _save(folder, done)
            on_file(entry)
    return done


def _existing(client: openai.OpenAI, input_file_id: str) -> Any:
    """A batch already made from this upload (a create whose answer was lost), or None."""
    return next((b for b in client.batches.list(limit=100) if b.input_file_id == input_file_id), None)


def refresh(folder: Path, settings: Settings) -> list[Submitted]:
    """Every submitted batch's state as the API reports it now (kept in ``submitted.json``)."""
    done = load_submitted(folder)
    if not any(s.batch_id for s in done):
        raise ConfigurationError(f"{folder}: nothing submitted yet; run `imr-extract batch submit {folder}` first")
    with _client(settings) as client:
        for entry in done:
            if entry.batch_id is None or entry.status in DONE:  # seen finished: its files are known
                continue
            batch = client.batches.retrieve(entry.batch_id)
            counts = batch.request_counts
            entry.status, entry.output_file_id, entry.error_file_id = batch.status, batch.output_file_id, batch.error_file_id
            entry.completed, entry.failed, entry.total = (counts.completed, counts.failed, counts.total) if counts else (0, 0, 0)
            entry.errors = [settings.redactor.message(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else ""))
                            for e in (batch.errors.data or [] if batch.errors else [])]
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
                    partial = path.with_name(f".{path.name}.part")
                    with client.with_options(timeout=TRANSFER_TIMEOUT).files.with_streaming_response.content(file_id) as r:
                        r.stream_to_file(partial)
                    os.replace(partial, path)
                written.append(path)
    return written


def load_submitted(folder: Path) -> list[Submitted]:
    path = folder / SUBMITTED
    if not path.exists():
        return []
    try:
        return TypeAdapter(list[Submitted]).validate_json(path.read_bytes())
    except OSError as e:
        raise ConfigurationError(f"{path}: cannot be read: {e.strerror or e}") from e
    except ValidationError as e:
        raise ConfigurationError(f"{path}: not what `batch submit` writes ({first_problem(e)}); the batch ids are "
                                 "in the API's batch list (metadata imr_extract_file)") from None


def _save(folder: Path, done: list[Submitted]) -> None:
    tmp = folder / f".{SUBMITTED}.tmp"
    tmp.write_text(json.dumps([asdict(s) for s in done], indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SUBMITTED)


@contextmanager
def _client(settings: Settings) -> Iterator[openai.OpenAI]:
    """The API client; a failed call inside comes out as a ``ConfigurationError`` in words, without
    the key (a server may echo it) or anything shaped like one."""
    if settings.api_key is None and settings.base_url is None:
        raise ConfigurationError("the Batch API needs IMR_API_KEY (OpenAI) or IMR_BASE_URL (a compatible server)")
    key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
    client = openai.OpenAI(api_key=key, base_url=settings.base_url or OPENAI_URL, max_retries=3, timeout=settings.timeout)
    try:
        yield client
    except openai.AuthenticationError:
        raise ConfigurationError("the Batch API refused the API key (HTTP 401): check IMR_API_KEY") from None
    except openai.APIStatusError as e:
        raise ConfigurationError(f"the Batch API answered HTTP {e.status_code}: {settings.redactor.message(e.message)}") from None
    except openai.APIConnectionError as e:
        raise ConfigurationError(f"could not reach the Batch API: {settings.redactor.message(str(e))}") from None
    finally:
        client.close()


def summary(done: list[Submitted]) -> dict[str, Any]:
    """Totals over each file's latest batch, whether all have finished, and the files to send again."""
    latest = list({s.file: s for s in done if s.batch_id}.values())
    return {"batches": len(latest), "finished": sum(s.status in DONE for s in latest),
            "completed": sum(s.completed for s in latest), "failed": sum(s.failed for s in latest),
            "total": sum(s.total for s in latest), "all_finished": all(s.status in DONE for s in latest),
            "to_resubmit": [s.file for s in latest if s.status in RETRY]}
