"""``batch collect``: records from a batch's answers, made exactly as the online path makes them.

Each letter goes through the online path itself (``extract_letter``: parts, validation, salvage,
checks against the letter and the parser, grounding, the record) with ``ReplayCaller`` as its model:
it rebuilds each request, finds the batch's answer by the request's id, and hands that answer to the
same SDK and instructor as an online answer. What the batch was not asked (a re-ask after an invalid
answer, the halves of a cut-off part) is asked online when ``online`` is given, else it fails as
``not_in_batch`` and the parser's values stay, flagged. Costs are the batch's: half the list price.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from ..errors import ConfigurationError, ModelError
from ..llm.client import ModelCaller, Reply, make_client
from ..llm.prompt import PROMPT_VERSION, Prompt
from ..llm.usage import batch_prices
from ..models import Record, Usage
from ..run.stream import iter_records
from ..settings import Settings
from .prepare import BATCH_JSON, MANIFEST
from .requests import RequestRecorder, custom_id, local_client
from .results import BatchResults

INDEX = ".results-index"


class _ResultsTransport(httpx2.AsyncBaseTransport):
    """Serves each request the response the batch gave it, as the endpoint would have."""

    def __init__(self, results: BatchResults) -> None:
        self.results = results

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        found = self.results.get(custom_id(json.loads(await request.aread())))
        if found is None or found.body is None:  # ReplayCaller asks only for what was answered
            return httpx2.Response(500, json={"error": {"message": "no answer in the batch"}})
        return httpx2.Response(found.status or 200, json=found.body)


@dataclass
class ReplayCaller(ModelCaller):
    """Answers from the batch's results; the rest online (``online``) or not at all."""

    recorder: RequestRecorder | None = None
    results: BatchResults | None = None
    online: ModelCaller | None = None

    async def ask(self, prompt: Prompt, response_model: type[Any], *, max_tokens: int) -> Reply[Any]:
        assert self.recorder is not None and self.results is not None
        found = self.results.get(custom_id(await self.recorder.body(prompt, response_model, max_tokens)))
        if found is not None and found.answered:
            return await super().ask(prompt, response_model, max_tokens=max_tokens)
        if self.online is not None:
            return await self.online.ask(prompt, response_model, max_tokens=max_tokens)
        if found is not None:
            return Reply(None, Usage(requests=1), ModelError(f"the batch gave no answer: {found.error}", kind="transport"))
        return Reply(None, Usage(), ModelError(
            "the batch holds no answer to this question (one asked after seeing an answer, or the letter or a "
            "setting changed since prepare); collect with --online to ask it", kind="not_in_batch"))

    async def aclose(self) -> None:
        for caller in (self.recorder, self.online):
            if caller is not None:
                await caller.aclose()
        await super().aclose()


@dataclass
class Batch:
    """A prepared batch folder: its settings and its letters."""

    folder: Path
    backend: str
    settings: dict[str, Any]
    prompt_version: str

    @classmethod
    def open(cls, folder: Path) -> Batch:
        try:
            meta = json.loads((folder / BATCH_JSON).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"{folder}: no {BATCH_JSON}: not a prepared batch (or its prepare did not finish)") from None
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"{folder / BATCH_JSON}: cannot be read: {e}") from e
        if meta.get("prompt_version") != PROMPT_VERSION:
            raise ConfigurationError(f"{folder}: prepared with prompt version {meta.get('prompt_version')}, this "
                                     f"imr-extract has {PROMPT_VERSION}: prepare the batch again")
        return cls(folder, meta["backend"], meta["settings"], meta["prompt_version"])

    def letters(self) -> Iterator[str]:
        """Each letter's path: as given to prepare if it is still there (from the same folder), else absolute."""
        with (self.folder / MANIFEST).open(encoding="utf-8") as manifest:
            for line in manifest:
                entry = json.loads(line)
                yield entry["path"] if Path(entry["path"]).exists() else entry["file"]

    def request_files(self) -> list[Path]:
        return sorted(self.folder.glob("requests-*.jsonl"))


def collect(batch: Batch, results: Iterable[Path], settings: Settings, *, paths: Iterable[str] | None = None,
            online: bool = False) -> Generator[Record, None, None]:
    """One record per letter of ``batch`` (or of ``paths``, a subset: what a resumed run has left), in order."""
    asked = settings.model_copy(update=batch.settings)
    replayed = asked.model_copy(update={"max_attempts": 1, "requests_per_minute": None,
                                        "prices": batch_prices(asked.model, asked.prices)})
    answers = BatchResults(results, batch.folder / INDEX)
    if online and not settings.endpoint_configured:
        raise ConfigurationError("--online needs a model endpoint: set IMR_BASE_URL or IMR_API_KEY")
    caller = ReplayCaller(local_client(replayed, _ResultsTransport(answers)), replayed,
                          recorder=RequestRecorder.for_settings(asked), results=answers,
                          online=ModelCaller(make_client(asked), asked) if online else None)
    try:
        yield from iter_records(paths if paths is not None else batch.letters(), backend=batch.backend,
                                settings=replayed, caller=caller)
    finally:
        answers.close()

