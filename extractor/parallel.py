"""Batches over several processes, so parsing, validation and JSON work use more than one core.

The letters are dealt round-robin to ``settings.workers`` processes; each runs the ordinary
single-process batch on its share (with its share of the concurrency and the rate limit) and
sends records back as they finish. Records come out in input order; a letter whose worker died
gets an error record, so none is lost and none is duplicated.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import WorkerError
from .models import Record
from .pipeline import error_record
from .settings import Settings

_DONE = "done"
_LOST = WorkerError("the worker process handling this letter stopped before it was done")


def extract_sharded(paths: Iterable[str | Path], *, backend: str, settings: Settings) -> Iterator[Record]:
    """Records in input order from ``settings.workers`` processes."""
    todo = [str(p) for p in paths]
    workers = min(settings.workers, settings.max_concurrency, len(todo))
    if workers <= 1:
        from .pipeline import extract_many  # noqa: PLC0415 - the pipeline imports this module

        yield from extract_many(todo, backend=backend, settings=settings.model_copy(update={"workers": 1}))
        return
    shares = [_share(settings, w, workers) for w in range(workers)]
    context = multiprocessing.get_context("spawn")  # the parent may run threads: never fork it
    results: Any = context.Queue()
    shards = [list(range(w, len(todo), workers)) for w in range(workers)]
    processes = [
        context.Process(target=_work, args=(shard, [todo[i] for i in shard], backend, shares[w], results),
                        name=f"imr-extract-worker-{w}", daemon=True)
        for w, shard in enumerate(shards)
    ]
    for process in processes:
        process.start()
    waiting: dict[int, Record] = {}
    next_index = 0
    running = len(processes)
    try:
        while running:
            try:
                message = results.get(timeout=1.0)
            except queue_module.Empty:
                if not any(p.is_alive() for p in processes):
                    break  # a worker died without saying so; its letters become error records below
                continue
            if message == _DONE:
                running -= 1
                continue
            index, payload = message
            waiting[index] = Record.model_validate_json(payload)
            while next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
        for index in range(next_index, len(todo)):
            yield waiting[index] if index in waiting else error_record(todo[index], _LOST, backend)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def _share(settings: Settings, worker: int, workers: int) -> Settings:
    """Worker ``worker``'s settings: its part of the concurrency and of the rate limit, the totals kept."""
    concurrency = settings.max_concurrency // workers + (worker < settings.max_concurrency % workers)
    rate = settings.requests_per_minute
    return settings.model_copy(update={
        "workers": 1,
        "max_concurrency": concurrency,
        "requests_per_minute": rate * concurrency / settings.max_concurrency if rate else None,
    })


def _work(indexes: list[int], paths: list[str], backend: str, settings: Settings, results: Any) -> None:
    """A worker process: the ordinary batch on its share, each record sent back as it is done."""
    from .pipeline import extract_many  # noqa: PLC0415 - the pipeline imports this module

    try:
        for index, record in zip(indexes, extract_many(paths, backend=backend, settings=settings), strict=True):
            results.put((index, record.model_dump_json()))
    finally:
        results.put(_DONE)
