"""Batches over worker processes: same records, same order, nothing lost or duplicated."""

import sys
from collections import Counter
from pathlib import Path

from extractor import Settings, extract_many
from extractor.run.shards import _share

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


def test_a_killed_worker_costs_only_the_letter_it_was_on(tmp_path: Path) -> None:
    """A worker killed mid-batch (as by the out-of-memory killer): the letter it was reading gets an
    error record saying so, a new worker takes its other letters, and every letter has one record."""
    import multiprocessing
    import os
    import signal

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_letters import unique_letters

    paths = unique_letters(tmp_path, 400)
    records = []
    for record in extract_many(paths, settings=Settings(workers=2)):
        records.append(record)
        if len(records) == 20:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    assert [r.provenance.source_path for r in records] == [str(p) for p in paths]
    failed = [r for r in records if not r.ok]
    assert len(failed) <= 1
    assert all(r.error.type == "WorkerError" and "killed by signal 9" in r.error.message for r in failed)  # type: ignore[union-attr]
