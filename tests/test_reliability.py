"""A batch of 100,000 letters survives anything: poison letters, kills, resumes, a second writer,
interrupts, a broken cache, set-up mistakes. The command runs in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from poison import SEED, poison_letters

from extractor.errors import display_path
from extractor.models import ErrorInfo, Item, Provenance, Record
from extractor.sinks import ParquetSink, output_lock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from llm_stub_server import StubServer  # noqa: E402 - benchmarks/ is not a package
from make_letters import SEED_CASE, unique_letters  # noqa: E402

GOOD = [ROOT / "evals" / "letters" / name for name in ("imr-000.txt", "imr-002.txt", "CM16-0230548.pdf")]
CLI = [sys.executable, "-c", "from extractor.cli import main; main()"]
MEMORY_LIMIT = 3 * 1024**3


def _cli(*args: str | Path, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, **kwargs)  # type: ignore[call-overload,no-any-return]


def _start(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(output: Path) -> list[dict[str, object]]:
    """Each letter's stored record, as dicts with ``source_path`` and ``error`` (Parquet: one per letter)."""
    if output.suffix == ".jsonl":
        return [{"source_path": r["provenance"]["source_path"], "error": r["error"]}
                for r in map(json.loads, output.read_text().splitlines())]
    table = pq.read_table(output, columns=["source_path", "item_index", "error"]).to_pylist()
    return [{"source_path": r["source_path"], "error": r["error"]} for r in table if not r["item_index"]]


def test_poison_letters_cost_only_themselves(tmp_path: Path) -> None:
    poison = poison_letters(tmp_path / "poison")
    paths = [GOOD[0], *poison.values(), *GOOD[1:]]

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    out = tmp_path / "out.jsonl"
    result = _cli("extract", *paths, "-o", out, preexec_fn=limit_memory)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    records = {r["source_path"]: r for r in _records(out)}
    assert set(records) == {display_path(p) for p in paths}
    assert all(records[str(p)]["error"] is None for p in GOOD)
    failed = {name: records[display_path(p)]["error"] for name, p in poison.items()}
    assert failed.pop("bad_name") is None  # a name that is not UTF-8 is still a good letter
    assert all(error is not None for error in failed.values()), failed
    for name, path in poison.items():
        if name != "bad_name":
            assert display_path(path) in result.stderr
    assert "PdfReaderError" in result.stderr and "EncryptedPdfError" in result.stderr
    again = _cli("extract", *paths, "-o", out, "--resume", preexec_fn=limit_memory)
    assert again.returncode == 1 and "4 already done" in again.stderr
    assert Counter(r["source_path"] for r in _records(out)) == Counter(display_path(p) for p in paths)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_kill_9_at_random_moments_then_resume_gives_each_letter_exactly_once(tmp_path: Path, suffix: str) -> None:
    letters = unique_letters(tmp_path / "letters", 1000)  # a run that lasts past the kills (300 end in under 2 s now)
    expected = Counter(str(p) for p in letters)
    rng = random.Random(8)
    cut_short = 0
    for trial in range(10):
        out = tmp_path / f"trial-{trial}{suffix}"
        run = _start("extract", tmp_path / "letters", "-o", out)
        deadline = time.monotonic() + 60
        while not out.exists() and run.poll() is None and time.monotonic() < deadline:  # started: the output is open
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 2.0))
        run.kill()
        run.communicate()
        cut_short += run.returncode == -signal.SIGKILL and out.exists()
        resumed = _cli("extract", tmp_path / "letters", "-o", out, "--resume")
        assert resumed.returncode == 0, resumed.stderr
        records = _records(out)
        assert Counter(r["source_path"] for r in records) == expected, f"trial {trial}"
        assert all(r["error"] is None for r in records)
    assert cut_short >= 5  # most kills came while letters were being written


WRITER = """
import sys
from extractor.models import ErrorInfo, Provenance, Record
from extractor.sinks import JsonlSink, ParquetSink

out, count, failing = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "failing"
sink = (ParquetSink if out.endswith(".parquet") else JsonlSink)(__import__("pathlib").Path(out), resume=True,
                                                                **({"batch": 40} if out.endswith(".parquet") else {}))
done = sink.completed()
for n in range(count):
    path = f"letters/{n:05d}.txt"
    if path not in done:
        error = ErrorInfo(type="ModelError", message="503") if failing and n % 7 == 0 else None
        sink.write(Record(document_id=path, error=error, provenance=Provenance(
            backend="hybrid", package_version="0", source_path=path, source_sha256="ab" * 32)))
sink.close()
"""


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_sink_killed_while_writing_resumes_to_exactly_once(tmp_path: Path, suffix: str) -> None:
    """The sinks alone, killed at random moments while writing, compacting or renaming parts, with
    transient failures on the way: the run that finishes leaves each letter exactly once, without error."""
    out, count = tmp_path / f"out{suffix}", 3000
    rng = random.Random(suffix)
    for _ in range(10):
        run = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(count), "failing"])
        time.sleep(rng.uniform(0.3, 1.5))
        run.kill()
        run.wait()
    subprocess.run([sys.executable, "-c", WRITER, str(out), str(count), "steady"], check=True, timeout=120)
    records = _records(out)
    assert Counter(r["source_path"] for r in records) == Counter(f"letters/{n:05d}.txt" for n in range(count))
    assert not any(r["error"] for r in records)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_retried_failure_replaces_its_error_record_and_resume_keys_by_path_and_content(tmp_path: Path,
                                                                                          suffix: str) -> None:
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    first, twin, late = tmp_path / "A" / "letter.txt", tmp_path / "B" / "letter.txt", tmp_path / "A" / "late.txt"
    first.write_bytes(SEED.read_bytes())
    late.write_bytes(b"")  # not there yet: an error record
    out = tmp_path / f"out{suffix}"
    assert _cli("extract", first, late, "-o", out).returncode == 1
    twin.write_bytes(SEED.read_bytes())
    late.write_bytes(SEED.read_bytes())
    again = _cli("extract", first, twin, late, "-o", out, "--resume")
    assert again.returncode == 0, again.stderr
    assert "1 already done" in again.stderr  # A/letter.txt only: B/letter.txt has the same name, not the same path
    records = _records(out)
    assert Counter(r["source_path"] for r in records) == Counter(map(str, (first, twin, late)))
    assert all(r["error"] is None for r in records)
    first.write_text(SEED.read_text().replace(SEED_CASE, "CM14-9999999"))  # changed: done again, replaced
    changed = _cli("extract", first, twin, late, "-o", out, "--resume")
    assert "2 already done" in changed.stderr
    assert Counter(r["source_path"] for r in _records(out)) == Counter(map(str, (first, twin, late)))


def test_a_torn_last_line_is_dropped_and_the_next_record_kept(tmp_path: Path) -> None:
    letters = unique_letters(tmp_path / "letters", 3)
    out = tmp_path / "out.jsonl"
    assert _cli("extract", letters[0], "-o", out).returncode == 0
    with out.open("a") as f:
        f.write('{"document_id": "letter-000001", "provenance": {"sour')  # the disk filled up here
    resumed = _cli("extract", *letters, "-o", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    lines = out.read_text().splitlines()
    assert [json.loads(line)["provenance"]["source_path"] for line in lines] == list(map(str, letters))


def test_a_value_out_of_range_is_an_error_for_that_letter_only(tmp_path: Path) -> None:
    def record(name: str, quantity: int) -> Record:
        return Record(document_id=name, items=[Item(request="x", treatment="x", decision="upheld", quantity=quantity)],
                      provenance=Provenance(backend="offline", package_version="0", source_path=name,
                                            source_sha256="0" * 64))

    sink = ParquetSink(tmp_path / "out.parquet")
    for name, quantity in (("a", 3), ("b", 2**31 + 5), ("c", 2**70)):
        sink.write(record(name, quantity))
    sink.close()
    rows = {r["source_path"]: r for r in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    assert rows["a"]["quantity"] == 3 and rows["b"]["quantity"] == 2**31 + 5
    assert rows["c"]["error"].startswith("OutputError") and rows["c"]["quantity"] is None
    assert ParquetSink(tmp_path / "out.parquet", resume=True).completed() == {"a": "0" * 64, "b": "0" * 64}


def test_a_second_writer_stops_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with output_lock(out):
        result = _cli("extract", GOOD[0], "-o", out)
    assert result.returncode == 2 and "another imr-extract run is writing this output" in result.stderr
    assert not out.exists() or out.read_text() == ""
    assert _cli("extract", GOOD[0], "-o", out).returncode == 0


def _children(pid: int) -> set[int]:
    """``pid``'s descendants, from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found |= {int(child)} | _children(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_the_parent(tmp_path: Path, how: signal.Signals) -> None:
    unique_letters(tmp_path / "letters", 400)
    out = tmp_path / "out.jsonl"
    run = _start("extract", tmp_path / "letters", *GOOD[2:], "-o", out, "--workers", "2")
    helpers: set[int] = set()
    deadline = time.monotonic() + 60
    while len(helpers) < 3 and time.monotonic() < deadline:  # two workers and a PDF reader
        time.sleep(0.2)
        helpers = _children(run.pid)
    assert len(helpers) >= 3, helpers
    run.send_signal(how)
    _, stderr = run.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(map(_alive, helpers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, helpers))
    if how == signal.SIGTERM:
        assert run.returncode == 130 and "--resume" in stderr and "Traceback" not in stderr
        resumed = _cli("extract", tmp_path / "letters", *GOOD[2:], "-o", out, "--resume", "--workers", "2")
        assert resumed.returncode == 0, resumed.stderr
        assert len(_records(out)) == 401


def test_ctrl_c_on_the_model_path_stops_at_once(tmp_path: Path) -> None:
    letters = unique_letters(tmp_path / "letters", 30)
    out = tmp_path / "out.jsonl"
    env = {"IMR_API_KEY": "sk-test-dummy", "IMR_CACHE_DIR": str(tmp_path / "cache")}
    with StubServer(latency=2.0) as stub:
        run = subprocess.Popen([*CLI, "extract", str(tmp_path / "letters"), "-o", str(out), "--base-url", stub.url,
                                "--concurrency", "4"], stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        deadline = time.monotonic() + 30
        while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # requests in flight now
        run.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = run.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    assert run.returncode == 130 and "--resume" in stderr and "Traceback" not in stderr, stderr
    assert stopped_in < 2.0
    done = _records(out)
    assert 0 < len(done) < len(letters) and all(r["error"] is None for r in done)


def test_a_corrupt_or_read_only_cache_is_reported_once_and_bypassed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cache.db").write_bytes(b"this is not a database" * 100)
    env = {"IMR_API_KEY": "sk-test-dummy", "IMR_CACHE_DIR": str(cache)}
    letters = unique_letters(tmp_path / "letters", 3)
    with StubServer(latency=0) as stub:
        run = _cli("extract", *letters, "-o", tmp_path / "out.jsonl", "--base-url", stub.url, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("was corrupt") == 1 and "Traceback" not in run.stderr
    (cache / "cache.db").write_bytes(b"corrupt again" * 100)
    stats = _cli("cache", "stats", env=env)
    assert stats.returncode == 0 and "cannot be read" in stats.stdout
    cleared = _cli("cache", "clear", env=env)
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert _cli("cache", "stats", env=env).stdout.strip().endswith("0 answer(s), 0 bytes")


@pytest.mark.parametrize(("args", "env", "words"), [
    (["--backend", "llm"], {}, "needs a model endpoint"),
    ([], {"IMR_PRICES": "notjson", "IMR_BASE_URL": "http://localhost:1/v1"}, "invalid setting"),
    (["--base-url", "http://localhost:99999/v1"], {}, "is not valid"),
    (["-o", "/nonexistent/folder/out.jsonl"], {}, "does not exist"),
    (["-o", "out.csv"], {}, "must end in .jsonl, .parquet or .duckdb"),
])
def test_set_up_errors_are_one_clear_line_and_exit_2(tmp_path: Path, args: list[str], env: dict[str, str],
                                                      words: str) -> None:
    result = _cli("extract", GOOD[0], *args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


def test_utf16_without_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes(SEED.read_text().encode("utf-16-le"))
    out = tmp_path / "out.jsonl"
    assert _cli("extract", path, "-o", out).returncode == 0
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["items"] and any("UTF-16-LE" in w["message"] for w in record["warnings"])


def test_error_info_is_the_contract() -> None:
    assert set(ErrorInfo.model_fields) >= {"type", "message"}
