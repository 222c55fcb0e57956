"""``batch collect``: records from a batch's answers, made exactly as the online path makes them.

Each letter goes through the online path itself (``extract_letter``: parts, validation, salvage,
checks against the letter and the parser, grounding, the record) with ``ReplayCaller`` as its model:
it rebuilds each request, finds the batch's answer by the request's id, and hands that answer to the
same SDK and instructor as an online answer. What the batch was not asked (a re-ask after an invalid
answer, the halves of a cut-off part) or failed is asked online when ``online`` is given; else it
fails as ``not_in_batch``: the parser's values stay, flagged, and the record carries the
``AWAITING_ANSWERS`` warning so that ``--resume`` does the letter again once answers come. Costs
are the batch's: half the list price.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from ..errors import ChangedLetterError, ConfigurationError, ModelError
from ..llm.client import ModelCaller, Reply, make_client
from ..llm.prompt import Prompt
from ..llm.usage import batch_prices
from ..models import AWAITING_ANSWERS, Flag, Record, Usage
from ..read.files import file_sha256
from ..record import error_record
from ..run.stream import iter_records
from ..settings import Settings
from .folder import Batch, ManifestEntry
from .requests import RequestRecorder, custom_id, local_client
from .results import BatchResults

log = logging.getLogger(__name__)


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
            return Reply(None, Usage(requests=1), ModelError(f"the batch gave no answer: {found.error}",
                                                             kind=AWAITING_ANSWERS))
        return Reply(None, Usage(), ModelError(
            "the batch holds no answer to this question (one asked after seeing an answer, or the letter or a "
            "setting changed since prepare); collect with --online to ask it", kind=AWAITING_ANSWERS))

    async def aclose(self) -> None:
        for caller in (self.recorder, self.online):
            if caller is not None:
                await caller.aclose()
        await super().aclose()


def collect(batch: Batch, results: Iterable[Path], settings: Settings, *, paths: Iterable[str] | None = None,
            online: bool = False) -> Generator[Record, None, None]:
    """One record per letter of ``batch`` (or of ``paths``, its files: what a resumed run has left), in order.

    A letter whose content is not the one the manifest names (changed since prepare, or a manifest
    edited to point at another letter) gets an error record naming it, and is never put together with
    answers asked about another text; a letter with a request answered twice, differently, is flagged."""
    if online and not settings.endpoint_configured:
        raise ConfigurationError("--online needs a model endpoint: set IMR_BASE_URL or IMR_API_KEY")
    asked = settings.model_copy(update=batch.settings)
    replayed = asked.model_copy(update={"max_attempts": 1, "requests_per_minute": None,
                                        "prices": batch_prices(asked.model, asked.prices)})
    answers = BatchResults(results, batch.folder)
    try:
        _check_coverage(batch, answers)
        caller = ReplayCaller(local_client(replayed, _ResultsTransport(answers)), replayed,
                              recorder=RequestRecorder.for_settings(asked), results=answers,
                              online=ModelCaller(make_client(asked), asked) if online else None)
        wanted = set(paths) if paths is not None else None
        letters = ((file, entry) for file, entry in batch.letters() if wanted is None or file in wanted)
        checked: deque[tuple[Record | None, ManifestEntry]] = deque()  # per letter: its error record, or None

        def same_letters() -> Iterator[str]:
            for file, entry in letters:
                now = file_sha256(file)
                changed = entry.sha256 is not None and now is not None and now != entry.sha256
                checked.append((error_record(file, ChangedLetterError(file, _CHANGED), batch.backend) if changed
                                else None, entry))
                if not changed:
                    yield file

        for record in iter_records(same_letters(), backend=batch.backend, settings=replayed, caller=caller):
            while (done := checked.popleft())[0] is not None:
                yield done[0]
            yield _flag_conflicts(record, done[1], answers)
        yield from (error for error, _ in checked if error is not None)
    finally:
        answers.close()


_CHANGED = ("its content is not the one the batch's manifest names (SHA-256 differs): changed since prepare, "
            "or the manifest was edited; prepare a batch for it again")


def _flag_conflicts(record: Record, entry: ManifestEntry, answers: BatchResults) -> Record:
    """The record flagged when one of its requests has two different answers in the results."""
    twice = [cid for cid in entry.requests if cid in answers.conflicts]
    if not twice or not record.ok:
        return record
    flag = Flag(field="letter", code="conflicting_answers", values={"custom_id": ", ".join(twice)},
                message=f"the batch results hold two different answers to {len(twice)} of this letter's request(s) "
                        f"({twice[0]}): the first was used")
    return record.model_copy(update={"flags": [*record.flags, flag], "needs_review": True,
                                     "review_reasons": [flag.message, *record.review_reasons]})


def _check_coverage(batch: Batch, answers: BatchResults) -> None:
    """Results that answer none of the batch's requests are refused: all errors (said so), or another
    batch's. Part of them answered (a batch still running, a failed file) is said once; those letters
    are flagged."""
    asked = answered = failed = 0
    for _, entry in batch.letters():
        for cid in entry.requests:
            asked += 1
            answered += answers.has_answer(cid)
            failed += answers.has_line(cid) and not answers.has_answer(cid)
    if asked and not answered and failed:
        raise ConfigurationError(f"the results hold only errors for this batch: {failed} of its {asked} request(s) "
                                 "failed and none was answered; `batch status` shows why, `batch submit` sends them again")
    if asked and not answered:
        raise ConfigurationError(f"none of the batch's {asked} request(s) has an answer in these results: "
                                 "are they this batch's? (`batch download` puts them in its results/ folder)")
    if answered < asked:
        log.warning("%d of the batch's %d request(s) have an answer in these results; the letters of the rest keep "
                    "the parser's values, flagged (collect again with --resume when more answers come)", answered, asked)
