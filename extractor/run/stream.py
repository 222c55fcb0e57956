"""Many letters through the model at once, in bounded memory: at most ``settings.max_concurrency``
letters in flight and a bounded window of finished letters waiting for an earlier one, one record
per letter whatever happens (an error record when it fails), none lost and none duplicated.

``stream_records`` is the async API (``extract_paths`` collects it, for small batches);
``iter_records`` and ``extract_one`` are the synchronous bridges the pipeline uses. The bridge runs
the event loop only while its caller asks for the next record, so a caller that stops (or is
interrupted) cancels the requests in flight at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from ..errors import ModelError
from ..llm.backends import extract_letter
from ..llm.cache import open_cache
from ..llm.client import ModelCaller, make_client
from ..models import Record
from ..read import LetterSource, LetterText, read_letter
from ..record import error_record
from ..settings import Settings
from . import WINDOW_PER_SLOT

T = TypeVar("T")
R = TypeVar("R")
# Letters are read in one long-lived thread: PDFium runs without the GIL, so reading overlaps the
# other letters' work, and the PDF reader process it starts lives as long as this thread.
_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imr-extract-read")
_paths = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imr-extract-paths")


async def stream_records(
    paths: Iterable[LetterSource],
    *,
    backend: str,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    caller: ModelCaller | None = None,
) -> AsyncGenerator[Record, None]:
    """One record per path, in input order, each as soon as it and those before it are done.

    At most ``settings.max_concurrency`` letters are in flight and ``WINDOW_PER_SLOT`` times that
    are started ahead of the oldest unfinished one; closing the stream cancels them. ``paths`` is
    read lazily and may block (in a thread): it can be a stream fed by another process.
    ``caller``: where answers come from (``batch collect``: a batch's results), instead of the
    settings' endpoint and the answer cache; the stream closes it.
    """
    cache = open_cache(settings) if caller is None else None
    caller = caller or ModelCaller(make_client(settings, transport=transport), settings, sleep)
    gate = asyncio.Semaphore(settings.max_concurrency)
    loop = asyncio.get_running_loop()

    async def one(path: LetterSource) -> Record:
        async with gate:
            try:
                letter = await loop.run_in_executor(_reader, partial(read_letter, path, max_bytes=settings.max_file_bytes))
                record = await extract_letter(letter, backend, caller, cache)
            except Exception as e:  # noqa: BLE001 - one letter's failure, whatever it is, must not end the batch
                record = error_record(path, e, backend)
            return settings.redactor.record(record)  # a server may echo the key: never into a record

    window = settings.max_concurrency * WINDOW_PER_SLOT
    room = asyncio.Semaphore(window)  # letters started and not yet handed on
    started: deque[asyncio.Task[Record]] = deque()
    more = asyncio.Event()
    todo = iter(paths)
    end = object()

    async def start_letters() -> None:
        """Take paths as there is room; in a thread, since a path may be slow to come (a worker
        waits for the parent to deal it) and the letters in flight must go on meanwhile."""
        while True:
            await room.acquire()
            path = await loop.run_in_executor(_paths, next, todo, end)
            if path is end:
                break
            started.append(asyncio.ensure_future(one(path)))  # type: ignore[arg-type]
            more.set()
        more.set()

    starter = asyncio.ensure_future(start_letters())
    try:
        while True:
            while not started and not starter.done():
                more.clear()
                await more.wait()
            if not started:
                starter.result()  # an error taking the next path is the caller's
                break
            record = await started[0]
            started.popleft()
            room.release()
            yield record
    finally:
        for task in (starter, *started):
            task.cancel()
        await asyncio.gather(starter, *started, return_exceptions=True)
        await caller.aclose()
        if cache is not None:
            cache.close()


async def extract_paths(
    paths: Iterable[str | Path],
    *,
    backend: str,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[Record]:
    """Every record of a small batch, in input order (a large one: ``stream_records``)."""
    return [r async for r in stream_records(paths, backend=backend, settings=settings, transport=transport, sleep=sleep)]


def iter_records(
    paths: Iterable[LetterSource],
    *,
    backend: str,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    caller: ModelCaller | None = None,
) -> Iterator[Record]:
    """Records in input order, each yielded as soon as it and those before it are done."""
    return _drive(stream_records(paths, backend=backend, settings=settings, transport=transport, caller=caller))


def _drive(stream: AsyncGenerator[T, None]) -> Iterator[T]:
    """An async stream as a generator, on a private event loop that runs only inside ``next``:
    what the consumer does not ask for is not done, and an interrupt cancels what is in flight.
    (Inside a running event loop, the private loop runs in a helper thread.)"""
    loop = asyncio.new_event_loop()
    helper = ThreadPoolExecutor(max_workers=1) if _loop_running() else None

    def call(fn: Callable[[], R]) -> R:
        return fn() if helper is None else helper.submit(fn).result()

    def step() -> tuple[bool, T | None]:
        task = loop.create_task(_next(stream))
        try:
            return loop.run_until_complete(task)
        except BaseException:  # Ctrl-C (or any error) mid-step: cancel the stream, which cancels its letters
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            raise

    try:
        while True:
            finished, item = call(step)
            if finished:
                return
            yield item  # type: ignore[misc]  # not None when not finished
    finally:
        call(lambda: loop.run_until_complete(stream.aclose()))
        call(loop.close)
        if helper is not None:
            helper.shutdown()


async def _next(stream: AsyncIterator[T]) -> tuple[bool, T | None]:
    try:
        return False, await anext(stream)
    except StopAsyncIteration:
        return True, None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def extract_one(
    letter: LetterText, *, backend: str, settings: Settings, transport: httpx2.AsyncBaseTransport | None = None
) -> Record:
    """The record of one letter already read; raises ``ModelError`` if the model fails for it."""

    async def run() -> Record:
        caller = ModelCaller(make_client(settings, transport=transport), settings)
        cache = open_cache(settings)
        try:
            return await extract_letter(letter, backend, caller, cache)
        finally:
            await caller.aclose()
            if cache is not None:
                cache.close()

    record = settings.redactor.record(_run(run()))
    if record.error is not None:
        raise ModelError(f"{letter.path}: {record.error.message}")
    return record


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, or in a worker thread when the caller is already inside an event loop."""
    if not _loop_running():
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
