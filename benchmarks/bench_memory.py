"""Peak memory of a whole ``imr-extract extract`` run by batch size: prints its figures, asserts nothing.

    python benchmarks/bench_memory.py [--sizes 1000 10000 100000] [--backends offline hybrid] [--workers 1]

Each run is the command as a user runs it, in a fresh process, over distinct text letters (a seed
letter with its case number varied, written once to a temporary folder); ``hybrid`` runs against
the loopback stub endpoint (``llm_stub_server.py``, latency 0, no cache). The figures are the
peak resident set of the largest process and the sum of the peaks of the command and every process
it started (PDF reader helpers, workers: ``proc_peak.py``), and the growth from one size to the next:
flat memory means it does not grow with the batch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from llm_stub_server import StubServer  # noqa: E402 - benchmarks/ is not a package
from make_letters import unique_letters  # noqa: E402
from proc_peak import measure  # noqa: E402


def peak_rss(args: list[str], env: dict[str, str]) -> tuple[int, float, float, float]:
    """(exit status, peak RSS of the largest process and summed over all of them in MiB, seconds) of
    ``imr-extract`` with ``args``."""
    run = measure([sys.executable, "-c", "from extractor.cli import main; main()", *args], env=env)
    return run.code, run.peak_max_mib, run.peak_sum_mib, run.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="multiples of 1,000")
    parser.add_argument("--backends", nargs="+", default=["offline", "hybrid"])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imr-bench-memory-") as tmp:
        root = Path(tmp)
        unique_letters(root / "all", max(args.sizes))  # in folders of 1,000: a run takes the first size/1000
        print(f"{'backend':8} {'letters':>8} {'exit':>4} {'peak RSS MiB (largest / sum)':>28} {'letters/s':>10}  growth",
              flush=True)
        for backend in args.backends:
            previous: float | None = None
            for size in sorted(args.sizes):
                folders = [str(root / "all" / f"{k:03d}") for k in range(max(1, size // 1000))]
                env = {"IMR_CACHE_DIR": str(root / "cache"), "IMR_NO_CACHE": "true"}
                command = ["extract", *folders, "-o", str(root / f"{backend}-{size}.jsonl"), "--backend", backend,
                           "--workers", str(args.workers)]
                if backend == "offline":
                    code, peak, summed, seconds = peak_rss(command, env)
                else:
                    with StubServer(latency=0) as stub:
                        code, peak, summed, seconds = peak_rss([*command, "--base-url", stub.url],
                                                       env | {"IMR_API_KEY": "sk-bench-dummy"})
                growth = f"{(peak / previous - 1) * 100:+.1f}%" if previous else ""
                print(f"{backend:8} {size:8d} {code:4d} {peak:13.1f} / {summed:12.1f} {size / seconds:10.1f}  {growth}", flush=True)
                previous = peak


if __name__ == "__main__":
    main()
