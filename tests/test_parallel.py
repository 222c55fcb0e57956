"""Batches over worker processes: same records, same order, nothing lost or duplicated."""

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from extractor import Settings, extract_many
from extractor.models import Provenance, Record
from extractor.run.shards import _share, extract_sharded

ROOT = Path(__file__).resolve().parent.parent
LETTERS = sorted(p for p in (ROOT / "evals" / "letters").iterdir() if p.suffix in (".pdf", ".txt"))


def test_offline_records_are_the_same_and_in_order_with_a_bad_letter_among_them(tmp_path: Path) -> None:
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    paths = [*LETTERS[:5], bad, *LETTERS[5:9]]
    one = list(extract_many(paths, settings=Settings(workers=1)))
    two = list(extract_many(paths, settings=Settings(workers=2)))
    assert [r.model_dump() for r in two] == [r.model_dump() for r in one]
    assert two[5].error is not None and two[5].error.type == "UnreadableFileError"


def slow_last(sources: Iterable[str], *, backend: str, settings: Settings) -> Iterator[Record]:
    """A worker's batch (taken by reference into each worker) whose letter ``slow`` takes a second."""
    for source in sources:
        if source == "slow":
            time.sleep(1.0)
        yield Record(document_id=source, provenance=Provenance(backend=backend, package_version="0", source_path=source))


def taken_in_a_thread(sources: Iterable[str], *, backend: str, settings: Settings) -> Iterator[Record]:
    """A worker's batch that takes its letters in a thread of its own, as the model stream does (a letter
    may be slow to come), while its records, large ones, go out from the calling thread."""
    import queue
    import threading

    taken: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=lambda: [*map(taken.put, sources), taken.put(None)], daemon=True).start()
    while (source := taken.get()) is not None:
        yield Record(document_id=source, provenance=Provenance(backend=backend, package_version="0", source_path=source),
                     warnings=[{"code": "encoding", "message": source * 20_000}])


def test_a_worker_sends_whole_messages_when_two_of_its_threads_send() -> None:
    """Seen in CI: a record half-written to the pipe when the thread taking letters said it started one;
    the parent read a corrupt message and the batch stopped."""
    names = [f"letter-{n}" for n in range(300)]
    records = list(extract_sharded(names, backend="hybrid", settings=Settings(workers=2), run=taken_in_a_thread))
    assert [r.document_id for r in records] == names and all(r.error is None for r in records)


def test_a_worker_that_finished_its_share_is_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker is still on the last letter when the other has ended, its share done."""
    from multiprocessing.context import SpawnProcess

    started = []
    start = SpawnProcess.start
    monkeypatch.setattr(SpawnProcess, "start", lambda self: (started.append(self.name), start(self))[1])
    names = [f"letter-{n}" for n in range(9)] + ["slow"]
    records = list(extract_sharded(names, backend="offline", settings=Settings(workers=2), run=slow_last))
    assert [r.document_id for r in records] == names
    assert started == ["imr-extract-worker-0", "imr-extract-worker-1"]  # and no third, for nothing


def test_shares_keep_the_totals() -> None:
    settings = Settings(max_concurrency=5, requests_per_minute=100, workers=2)
    shares = [_share(settings, w, 2) for w in range(2)]
    assert [s.max_concurrency for s in shares] == [3, 2]
    assert sum(s.requests_per_minute or 0 for s in shares) == 100
    assert {s.workers for s in shares} == {1}


def test_model_batch_over_processes_against_a_failing_local_endpoint(tmp_path: Path) -> None:
    """The loopback stub fails 30% of requests (429, 500, timeouts): every letter still ends with
    exactly one record or error record, in input order."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from llm_stub_server import StubServer

    paths = (LETTERS * 2)[:60]
    with StubServer(latency=0.02, error_rate=0.3, timeout_sleep=1.0, seed=3) as stub:
        settings = Settings(base_url=stub.url, api_key="sk-test-dummy", cache_dir=tmp_path, no_cache=True,
                            max_concurrency=8, workers=2, timeout=0.5, max_attempts=6)
        records = list(extract_many(paths, backend="hybrid", settings=settings))
        assert stub.requests > len(paths)  # failures were retried
    assert [r.provenance.source_path for r in records] == [str(p) for p in paths]
    assert Counter(r.provenance.source_path for r in records) == Counter(str(p) for p in paths)


KILLER = """
import multiprocessing, os, signal, sys
from pathlib import Path
import pytest

from extractor import Settings, extract_many

paths = sorted(map(str, Path(sys.argv[1]).rglob("*.txt")))
kills = 0
for n, record in enumerate(extract_many(paths, settings=Settings(workers=2)), 1):
    workers = multiprocessing.active_children()
    if n % 25 == 0 and kills < 6 and workers:  # the out-of-memory killer, again and again, at whatever they do
        os.kill(workers[kills % len(workers)].pid, signal.SIGKILL)
        kills += 1
    print(record.provenance.source_path, record.error.type if record.error else "", record.error.message if
          record.error else "", sep="\t", flush=True)
"""


def test_killed_workers_cost_only_the_letters_they_were_on(tmp_path: Path) -> None:
    """Workers killed mid-batch, six times (as by the out-of-memory killer), at whatever they were
    doing, sending a record included: each letter a dead worker was reading gets an error record
    saying so, a new worker takes its other letters, every letter has one record, and the batch
    ends (a queue shared by the workers once hung it for ever: run apart, under a time limit)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_letters import unique_letters

    paths = unique_letters(tmp_path / "letters", 400)
    done = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path / "letters")], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [row[0] for row in rows] == sorted(str(p) for p in paths)
    failed = [row for row in rows if row[1]]
    assert len(failed) <= 6
    assert all(kind == "WorkerError" and "killed by signal 9" in message for _, kind, message in failed)
