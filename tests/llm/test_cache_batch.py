"""The answer cache, the batch (concurrency, rate limit, failures) and the run summary."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from pathlib import Path

import httpx2
import pytest
from llm_fakes import API_KEY, GOLD, gold_endpoint, letter_path, status

from extractor.llm import cache
from extractor.llm.cache import cache_key
from extractor.llm.client import RateLimiter
from extractor.llm.prompt import letter_prompt
from extractor.llm.schema import FillAnswer, LetterAnswer
from extractor.llm.usage import summarise
from extractor.pipeline import extract_many
from extractor.run.stream import extract_paths, iter_records
from extractor.settings import Settings

PATHS = [letter_path(g.stem) for g in sorted(GOLD.glob("*.json"))][:12]


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> None:
        self.n += 1


def test_a_cached_re_run_sends_no_request(settings: Settings) -> None:
    sent = _Counter()
    first = list(extract_many(PATHS, backend="hybrid", settings=settings, transport=gold_endpoint(count=sent)))
    assert sent.n == len(PATHS)
    again = list(extract_many(PATHS, backend="hybrid", settings=settings, transport=gold_endpoint(count=sent)))
    assert sent.n == len(PATHS)
    assert [r.model_dump(exclude={"provenance"}) for r in again] == [r.model_dump(exclude={"provenance"}) for r in first]
    summary = summarise(again)
    assert (summary.requests, summary.cached, summary.prompt_tokens) == (0, len(PATHS), 0)
    assert cache.stats(settings)["entries"] == len(PATHS)
    list(extract_many(PATHS[:2], backend="hybrid", settings=settings.model_copy(update={"no_cache": True}),
                      transport=gold_endpoint(count=sent)))
    assert sent.n == len(PATHS) + 2
    assert cache.clear(settings) == len(PATHS) and cache.stats(settings)["entries"] == 0


def test_the_key_covers_letter_prompt_schema_model_and_sampling() -> None:
    prompt = letter_prompt("text")
    sampling = {"model": "m", "temperature": 0.0, "seed": 0, "mode": "tools"}
    base = cache_key("sha", prompt, LetterAnswer, sampling)
    assert base == cache_key("sha", letter_prompt("text"), LetterAnswer, dict(sampling))
    assert base != cache_key("sha2", prompt, LetterAnswer, sampling)
    assert base != cache_key("sha", letter_prompt("other text"), LetterAnswer, sampling)
    assert base != cache_key("sha", prompt, FillAnswer, sampling)
    for change in ({"model": "n"}, {"temperature": 0.5}, {"seed": 1}, {"mode": "json"}):
        assert base != cache_key("sha", prompt, LetterAnswer, {**sampling, **change})


def test_the_cache_holds_answers_not_keys(settings: Settings) -> None:
    list(extract_many(PATHS[:3], backend="llm", settings=settings, transport=gold_endpoint()))
    stored = b"".join(p.read_bytes() for p in Path(settings.cache_dir).rglob("*") if p.is_file())
    assert API_KEY.encode() not in stored and b"Bearer" not in stored


def test_failing_endpoint_loses_and_duplicates_no_letter(settings: Settings) -> None:
    """30% of requests fail (429, 500, timeouts): every letter still ends with exactly one record."""
    rng = random.Random(7)
    good = gold_endpoint()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        roll = rng.random()
        if roll < 0.1:
            return status(429, {"retry-after": "1"})
        if roll < 0.2:
            return status(500)
        if roll < 0.3:
            raise httpx2.ReadTimeout("fixture timeout", request=request)
        return await good.handle_async_request(request)

    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    paths = PATHS * 3  # the same letter more than once must still give one record per input
    records = asyncio.run(extract_paths(paths, backend="llm", settings=settings.model_copy(update={"no_cache": True}),
                                        transport=httpx2.MockTransport(handler), sleep=sleep))
    assert [r.document_id for r in records] == [p.stem for p in paths]
    assert all(r.ok or r.error.type == "ModelError" for r in records)  # type: ignore[union-attr]
    assert sum(r.ok for r in records) >= len(paths) - 1 and sleeps


def test_concurrency_is_bounded_and_used(settings: Settings) -> None:
    in_flight = 0
    peak = 0
    good = gold_endpoint()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return await good.handle_async_request(request)

    asyncio.run(extract_paths(PATHS, backend="hybrid", settings=settings.model_copy(update={"max_concurrency": 3}),
                              transport=httpx2.MockTransport(handler)))
    assert peak == 3


def test_rate_limiter_spaces_request_starts() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)

    async def burst() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(4)))

    asyncio.run(burst())
    assert slept == [0.5, 1.0, 1.5]


def test_requests_per_minute_paces_every_request(settings: Settings) -> None:
    starts: list[float] = []
    good = gold_endpoint()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        starts.append(time.monotonic())
        return await good.handle_async_request(request)

    fast = settings.model_copy(update={"requests_per_minute": 600, "max_concurrency": 8})
    list(extract_many(PATHS[:4], backend="hybrid", settings=fast, transport=httpx2.MockTransport(handler)))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.09


def test_records_come_in_input_order_and_early_stop_is_clean(settings: Settings) -> None:
    records = iter_records(PATHS, backend="hybrid", settings=settings, transport=gold_endpoint())
    first = next(records)
    records.close()
    assert first.document_id == PATHS[0].stem
    ordered = list(iter_records(PATHS, backend="hybrid", settings=settings, transport=gold_endpoint()))
    assert [r.document_id for r in ordered] == [p.stem for p in PATHS]


def test_a_bad_file_gives_an_error_record(tmp_path: Path, settings: Settings) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    records = list(extract_many([empty, PATHS[0]], backend="llm", settings=settings, transport=gold_endpoint()))
    assert records[0].error is not None and records[0].error.type == "UnreadableFileError"
    assert records[1].ok


def test_the_summary_line(settings: Settings) -> None:
    records = list(extract_many(PATHS[:2], backend="llm", settings=settings, transport=gold_endpoint()))
    line = summarise(records).line()
    assert line.startswith("2 letters (0 errors") and "2 requests, 0 from cache" in line and "3000 prompt" in line


@pytest.mark.parametrize("body", [json.dumps({"x": 1}), "not json"])
def test_a_corrupt_cache_entry_is_a_miss(tmp_path: Path, body: str) -> None:
    store = cache.AnswerCache(tmp_path)
    store._cache.set("k", body)
    assert store.get("k", LetterAnswer) is None
    store.close()
