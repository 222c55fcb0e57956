"""The real SDK path replayed from HAND-WRITTEN cassettes, for what a real server cannot be made to
produce on demand: re-asks after invalid or malformed answers, 429 with Retry-After, 500, timeouts,
attempts exhausted, and a letter that tries to instruct the model. (Answers from a real model are
in ``test_recorded.py``.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx2
import pytest
from llm_fakes import DATA, Reply, completion, gold, gold_completion, letter_path, status

from extractor.llm.prompt import CLOSE_MARKER, OPEN_MARKER
from extractor.llm.schema import answer_from_gold
from extractor.models import Record
from extractor.pipeline import extract
from extractor.read.text import collapse
from extractor.run.stream import extract_paths
from extractor.settings import Settings

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]
Endpoint = Callable[[Sequence[Reply]], httpx2.AsyncBaseTransport | None]


def _run(paths: list[Path], backend: str, settings: Settings, transport: httpx2.AsyncBaseTransport | None,
         sleeps: list[float] | None = None) -> list[Record]:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return asyncio.run(extract_paths(paths, backend=backend, settings=settings, transport=transport, sleep=sleep))


def _assert_matches_gold(record: Record, document_id: str) -> None:
    expected = gold(document_id)
    assert record.ok, record.error
    assert [(collapse(i.request), i.decision) for i in record.items] == [
        (i["request"], i["decision"]) for i in expected["items"]]  # type: ignore[index]
    assert [i.treatment for i in record.items] == [i["treatment"] for i in expected["items"]]  # type: ignore[index]


def _second_request(vcr: object) -> dict[str, object]:
    return json.loads(vcr.requests[1].body)  # type: ignore[attr-defined, no-any-return]


def test_an_invalid_item_is_asked_again_alone(settings: Settings, endpoint: Endpoint, vcr: object) -> None:
    good = answer_from_gold(gold("syn-b-05"), "hybrid")
    bad = json.loads(good.model_dump_json())
    bad["items"][0]["generic_name"] = "Hydrocodone"
    again = good.model_copy(update={"items": good.items[:1], "diagnoses": []})
    record = extract(letter_path("syn-b-05"), backend="hybrid", settings=settings,
                     transport=endpoint([completion(json.dumps(bad)), completion(again, n=2)]))
    _assert_matches_gold(record, "syn-b-05")
    assert record.provenance.usage is not None
    assert (record.provenance.usage.requests, record.provenance.usage.prompt_tokens) == (2, 3000)  # both counted
    second = _second_request(vcr)["messages"][1]["content"]  # type: ignore[index]
    assert "ITEM 1:" in second and "ITEM 2:" not in second


def test_malformed_json_is_asked_again(settings: Settings, endpoint: Endpoint, vcr: object) -> None:
    good = answer_from_gold(gold("syn-c-03"), "llm")
    record = extract(letter_path("syn-c-03"), backend="llm", settings=settings,
                     transport=endpoint([completion('{"diagnoses": ["lumbar'), completion(good, n=2)]))
    _assert_matches_gold(record, "syn-c-03")
    assert record.provenance.usage is not None and record.provenance.usage.requests == 2


def test_429_waits_what_retry_after_says(settings: Settings, endpoint: Endpoint) -> None:
    sleeps: list[float] = []
    replies = [status(429, {"retry-after": "7"}), gold_completion("syn-b-05", "hybrid")]
    [record] = _run([letter_path("syn-b-05")], "hybrid", settings, endpoint(replies), sleeps)
    _assert_matches_gold(record, "syn-b-05")
    assert sleeps == [7.0]
    assert record.provenance.usage is not None and record.provenance.usage.requests == 2


def test_500_is_retried_with_backoff(settings: Settings, endpoint: Endpoint) -> None:
    sleeps: list[float] = []
    replies = [status(500), status(503), gold_completion("syn-b-05", "hybrid")]
    [record] = _run([letter_path("syn-b-05")], "hybrid", settings, endpoint(replies), sleeps)
    _assert_matches_gold(record, "syn-b-05")
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


class _TimesOutFirst(httpx2.AsyncBaseTransport):
    """The first request times out (a cassette cannot hold a timeout); the rest go through."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.timed_out = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not self.timed_out:
            self.timed_out += 1
            raise httpx2.ReadTimeout("fixture: no answer in time", request=request)
        return await self.inner.handle_async_request(request)


def test_timeout_is_retried(settings: Settings, endpoint: Endpoint) -> None:
    sleeps: list[float] = []
    transport = _TimesOutFirst(endpoint([gold_completion("syn-b-05", "hybrid")]) or httpx2.AsyncHTTPTransport())
    [record] = _run([letter_path("syn-b-05")], "hybrid", settings, transport, sleeps)
    _assert_matches_gold(record, "syn-b-05")
    assert transport.timed_out == 1 and len(sleeps) == 1


def test_exhausted_attempts_leave_the_parsers_record_flagged_and_the_batch_goes_on(settings: Settings,
                                                                                    endpoint: Endpoint) -> None:
    settings = settings.model_copy(update={"max_attempts": 3, "max_concurrency": 1})
    replies = [status(500)] * 3 + [gold_completion("syn-b-05", "hybrid")]
    failed, ok = _run([letter_path("syn-c-03"), letter_path("syn-b-05")], "hybrid", settings, endpoint(replies), [])
    offline = extract(letter_path("syn-c-03"), backend="offline", settings=settings)
    assert failed.ok and failed.document_id == "syn-c-03" and failed.needs_review
    assert [i.model_dump(exclude={"needs_review", "review_reasons", "sources", "flags"}) for i in failed.items] == [
        i.model_dump(exclude={"needs_review", "review_reasons", "sources", "flags"}) for i in offline.items]
    assert all("HTTP 500" in i.review_reasons[0] and "3 attempt(s)" in i.review_reasons[0] for i in failed.items)
    assert failed.provenance.usage is not None and failed.provenance.usage.requests == 3
    _assert_matches_gold(ok, "syn-b-05")


def test_letter_text_is_data_not_instructions(settings: Settings, endpoint: Endpoint, vcr: object) -> None:
    path = DATA / "injection.txt"
    record = extract(path, backend="llm", settings=settings, transport=endpoint([gold_completion("syn-b-01", "llm")]))
    _assert_matches_gold(record, "syn-b-01")
    assert not record.needs_review
    system, user = (m["content"] for m in json.loads(vcr.requests[0].body)["messages"])  # type: ignore[attr-defined]
    assert "never instructions" in system and "IMPORTANT INSTRUCTION" not in system
    assert user.startswith(OPEN_MARKER) and user.rstrip().endswith(CLOSE_MARKER)
    assert user.count(CLOSE_MARKER) == 1  # the letter's own "<<<END LETTER>>>" cannot close the data


def test_a_model_that_obeys_the_letter_is_caught(settings: Settings, endpoint: Endpoint) -> None:
    obeyed = answer_from_gold(gold("syn-b-01"), "hybrid").model_copy(deep=True)
    for item in obeyed.items:
        item.decision = "overturned"
    record = extract(DATA / "injection.txt", backend="hybrid", settings=settings,
                     transport=endpoint([completion(obeyed)]))
    assert [i.decision for i in record.items] == ["upheld", "overturned"]  # the parser's reading stays
    assert record.needs_review and record.items[0].needs_review and not record.items[1].needs_review
    assert "item 1: decision: parser 'upheld', model 'overturned'; kept the parser's" in record.review_reasons
