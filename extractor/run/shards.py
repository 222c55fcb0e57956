"""Batches over several processes, so parsing, validation and JSON work use more than one core.

The parent deals letters to ``settings.workers`` processes as they have room (each runs the
ordinary single-process batch with its share of the concurrency and the rate limit) and gets
records back as they finish. Records come out in input order, and no more than a bounded window
of letters is dealt ahead of the oldest unfinished one, so memory stays flat however long the batch.

A worker that dies (a crash in native code, the kernel's out-of-memory killer) costs only the
letters it had started: each gets an error record naming it, a new worker takes over the rest.
Each worker sends on a pipe of its own, one whole message at a time: a queue shared by the workers
has a lock that a worker killed while sending would hold for ever, and the others would wait on it.
Workers die with the parent, even on ``kill -9``, and leave Ctrl-C to it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from ..errors import LetterError, WorkerError
from ..models import Record
from ..read import LetterSource, portable, source_name
from ..record import error_record
from ..settings import Settings
from . import WINDOW_PER_SLOT

_POLL_SECONDS = 0.5
# What a worker runs on its share: the ordinary single-process batch. It is handed in (and pickled by
# reference into each worker) so that this module does not import the pipeline that composes it.
Batch = Callable[..., Iterator[Record]]


@dataclass
class _Worker:
    """One worker process, its tasks and its results, and the letters dealt to it: not started yet,
    and started."""

    process: Any
    tasks: Any
    results: Any
    dealt: deque[int] = field(default_factory=deque)
    started: set[int] = field(default_factory=set)
    finished: bool = False  # ended with its share done: nothing to wait for, nothing to replace

    @property
    def load(self) -> int:
        return len(self.dealt) + len(self.started)


def extract_sharded(sources: Iterable[LetterSource], *, backend: str, settings: Settings, run: Batch) -> Iterator[Record]:
    """Records in input order from ``settings.workers`` processes, each running ``run`` (called as
    ``run(sources, backend=..., settings=...)``) on the letters dealt to it. Letters given as bytes
    or file objects go to the workers as ``(name, bytes)`` pairs."""
    todo: list[str | tuple[str, bytes]] = []
    waiting: dict[int, Record] = {}  # records done, by input index, until those before them are yielded
    for index, source in enumerate(sources):
        try:
            todo.append(portable(source, max_bytes=settings.max_file_bytes))
        except (LetterError, TypeError) as e:  # a file object that cannot be read, bytes without a name
            waiting[index] = error_record(source, e, backend)
            todo.append(waiting[index].document_id)  # a place holder: never dealt
    count = min(settings.workers, settings.max_concurrency, len(todo))
    if count <= 1:
        rest = run([t for i, t in enumerate(todo) if i not in waiting], backend=backend,
                   settings=settings.model_copy(update={"workers": 1}))
        yield from (waiting.pop(i) if i in waiting else next(rest) for i in range(len(todo)))
        return
    context = multiprocessing.get_context("spawn")  # the parent may run threads: never fork it
    shares = [_share(settings, w, count) for w in range(count)]
    capacity = [max(2, s.max_concurrency * WINDOW_PER_SLOT) for s in shares]

    def launch(slot: int) -> _Worker:
        tasks = context.Queue()
        results, sending = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(run, backend, shares[slot], tasks, sending, os.getpid()),
                                  name=f"imr-extract-worker-{slot}", daemon=True)
        process.start()
        sending.close()  # the worker's end alone: its death is the end of the pipe
        return _Worker(process, tasks, results)

    def ended(slot: int) -> None:
        """A worker ended: done, when it had every letter it will be dealt and finished them; else
        error records for the letters it had started, and a new worker for the rest."""
        worker = workers[slot]
        worker.process.join(timeout=5)
        worker.results.close()
        worker.tasks.cancel_join_thread()  # what no one will read must not hold up this process's exit
        worker.tasks.close()
        if dealt == len(todo) and not worker.load:
            worker.finished = True
            return
        waiting.update(_lost(worker, todo, backend))
        replacement = launch(slot)
        for index in worker.dealt:  # dealt but not started: the new worker takes them
            replacement.tasks.put((index, todo[index]))
        if dealt == len(todo):
            replacement.tasks.put(None)
        replacement.dealt = worker.dealt
        workers[slot] = replacement

    workers = [launch(slot) for slot in range(count)]
    next_index = dealt = 0
    try:
        while next_index < len(todo):
            while dealt < len(todo) and dealt - next_index < sum(capacity):
                if dealt not in waiting:
                    slot = min(range(count), key=lambda s: workers[s].load)
                    if workers[slot].load >= capacity[slot]:
                        break
                    workers[slot].tasks.put((dealt, todo[dealt]))
                    workers[slot].dealt.append(dealt)
                dealt += 1
                if dealt == len(todo):  # all dealt: each worker ends when it has done its share
                    for worker in workers:
                        worker.tasks.put(None)
            ready = wait([w.results for w in workers if not w.finished], timeout=_POLL_SECONDS)
            for slot, worker in enumerate(workers):
                if worker.finished:
                    continue
                if worker.results not in ready:
                    if not worker.process.is_alive():
                        ended(slot)
                    continue
                try:
                    kind, index, payload = worker.results.recv()
                except (EOFError, OSError):  # it ended, perhaps halfway through a message
                    ended(slot)
                    continue
                if kind == "fatal":
                    raise WorkerError(payload)
                if kind == "start" and index in worker.dealt:
                    worker.dealt.remove(index)
                    worker.started.add(index)
                elif kind == "record" and index in worker.started:
                    worker.started.discard(index)
                    waiting[index] = Record.model_validate_json(payload)
                    todo[index] = source_name(todo[index])  # its bytes are no longer needed
            while next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
    finally:
        for worker in workers:
            if not worker.finished:
                worker.tasks.put(None)
        for worker in workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.results.close()


def _lost(worker: _Worker, todo: list[str | tuple[str, bytes]], backend: str) -> dict[int, Record]:
    """Error records for the letters a dead worker had started: one of them stopped it."""
    code = worker.process.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    error = WorkerError(f"the worker process stopped ({how}) while this letter was in progress; "
                        "it may crash or exhaust the reader")
    return {index: error_record(todo[index], error, backend) for index in worker.started}


def _share(settings: Settings, worker: int, workers: int) -> Settings:
    """Worker ``worker``'s settings: its part of the concurrency and of the rate limit, the totals kept."""
    concurrency = settings.max_concurrency // workers + (worker < settings.max_concurrency % workers)
    rate = settings.requests_per_minute
    return settings.model_copy(update={
        "workers": 1,
        "max_concurrency": concurrency,
        "requests_per_minute": rate * concurrency / settings.max_concurrency if rate else None,
    })


def _work(run: Batch, backend: str, settings: Settings, tasks: Any, results: Any, parent_pid: int) -> None:
    """A worker process: the ordinary batch on the letters dealt to it, each record sent back as it
    is done, each letter announced as it is started (so a crash is blamed on the right letters)."""
    from ..lifeline import tie_to_parent  # noqa: PLC0415 - only the worker needs it

    tie_to_parent(parent_pid)
    order: deque[int] = deque()
    sending = threading.Lock()

    def send(kind: str, index: int | None, payload: str | None) -> None:
        """One whole message at a time: a model batch takes its letters (and says so) in a thread of its
        own while this one sends records, and two sends at once interleave their bytes on the pipe."""
        with sending:
            results.send((kind, index, payload))

    def dealt() -> Iterator[str | tuple[str, bytes]]:
        while (task := tasks.get()) is not None:
            index, path = task
            order.append(index)
            send("start", index, None)
            yield path

    try:
        for record in run(dealt(), backend=backend, settings=settings):
            send("record", order.popleft(), record.model_dump_json())
    except Exception as e:  # noqa: BLE001 - a set-up error (no letter's): the parent reports it
        send("fatal", None, f"a worker could not run: {e}")
