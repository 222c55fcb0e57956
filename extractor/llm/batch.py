"""Many letters through the model at once: bounded concurrency on one event loop, one record per
letter whatever happens (an error record when it fails), none lost and none duplicated.

``extract_paths`` is the async API; ``iter_records`` and ``extract_one`` are the synchronous
bridges the pipeline uses (a worker thread runs the loop, so they work inside a running loop too).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from ..errors import ModelError
from ..models import Record
from ..pipeline import error_record
from ..read import LetterText, read_letter
from ..settings import Settings
from .backends import extract_letter
from .cache import open_cache
from .client import ModelCaller, make_client

T = TypeVar("T")
OnRecord = Callable[[int, Record], None]


async def extract_paths(
    paths: Sequence[str | Path],
    *,
    backend: str,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    on_record: OnRecord | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    stop: threading.Event | None = None,
) -> list[Record]:
    """One record per path, in input order; ``on_record(index, record)`` as each one is done.

    At most ``settings.max_concurrency`` letters are in flight; ``stop`` lets waiting letters go
    unstarted (their records are then missing from the result).
    """
    client = make_client(settings, transport=transport)
    caller = ModelCaller(client, settings, sleep)
    cache = open_cache(settings)
    gate = asyncio.Semaphore(settings.max_concurrency)
    records: list[Record | None] = [None] * len(paths)
    loop = asyncio.get_running_loop()
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imr-extract-read")

    async def one(index: int, path: str | Path) -> None:
        async with gate:
            if stop is not None and stop.is_set():
                return
            try:
                # PDFium runs without the GIL, so reading in a thread overlaps the other letters' work.
                letter = await loop.run_in_executor(reader, partial(read_letter, path, max_bytes=settings.max_file_bytes))
                record = await extract_letter(letter, backend, caller, cache)
            except Exception as e:  # noqa: BLE001 - one letter's failure, whatever it is, must not end the batch
                record = error_record(path, e, backend)
            records[index] = record
            if on_record is not None:
                on_record(index, record)

    try:
        await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
    finally:
        reader.shutdown(wait=True)
        await client.client.close()  # type: ignore[union-attr]
        if cache is not None:
            cache.close()
    return [r for r in records if r is not None]


def iter_records(
    paths: Iterable[str | Path],
    *,
    backend: str,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Iterator[Record]:
    """Records in input order, each yielded as soon as it and those before it are done."""
    todo = list(paths)
    done: queue.Queue[tuple[int, Record] | BaseException | None] = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        try:
            asyncio.run(extract_paths(todo, backend=backend, settings=settings, transport=transport,
                                      on_record=lambda i, r: done.put((i, r)), stop=stop))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, who re-raises it
            done.put(e)
        else:
            done.put(None)

    worker = threading.Thread(target=work, name="imr-extract-batch", daemon=True)
    worker.start()
    waiting: dict[int, Record] = {}
    next_index = 0
    try:
        while next_index < len(todo):
            got = done.get()
            if got is None:
                break
            if isinstance(got, BaseException):
                raise got
            waiting[got[0]] = got[1]
            while next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
    finally:
        stop.set()
        worker.join()


def extract_one(
    letter: LetterText, *, backend: str, settings: Settings, transport: httpx2.AsyncBaseTransport | None = None
) -> Record:
    """The record of one letter already read; raises ``ModelError`` if the model fails for it."""

    async def run() -> Record:
        client = make_client(settings, transport=transport)
        cache = open_cache(settings)
        try:
            return await extract_letter(letter, backend, ModelCaller(client, settings), cache)
        finally:
            await client.client.close()  # type: ignore[union-attr]
            if cache is not None:
                cache.close()

    record = _run(run())
    if record.error is not None:
        raise ModelError(f"{letter.path}: {record.error.message}")
    return record


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, or in a worker thread when the caller is already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
