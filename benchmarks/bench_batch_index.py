"""The batch results index at scale: ``--answers`` answer lines of a realistic size (a 1,500-character
tool call each) are written, indexed, and every id looked up; prints the time, ids lost (must be 0),
lookup speed, peak memory and the index's size.

    python benchmarks/bench_batch_index.py [--answers 700000] [--folder /tmp/bench-batch-index]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

from extractor.batch.results import BatchResults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=700_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/bench-batch-index"))
    args = parser.parse_args()
    shutil.rmtree(args.folder, ignore_errors=True)
    args.folder.mkdir(parents=True)
    call = {"id": "call", "type": "function", "function": {"name": "FillAnswer", "arguments": "x" * 1500}}
    body = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3000, "completion_tokens": 400, "total_tokens": 3400}}
    results = args.folder / "results.jsonl"
    ids = [f"imr-{i:032d}" for i in range(args.answers)]
    with results.open("w") as out:
        for i, cid in enumerate(ids):
            out.write(json.dumps({"id": f"batch_req_{i}", "custom_id": cid, "error": None,
                                  "response": {"status_code": 200, "request_id": f"req_{i}", "body": body}}) + "\n")
    started = time.perf_counter()
    index = BatchResults([results], args.folder)
    built = time.perf_counter() - started
    lost = sum(not index.has_answer(cid) for cid in ids)
    started = time.perf_counter()
    sample = ids[:: max(1, len(ids) // 100_000)]
    answered = sum(index.get(cid).answered for cid in sample)  # type: ignore[union-attr]
    per_get = (time.perf_counter() - started) / len(sample)
    index.close()
    size = sum(f.stat().st_size for f in args.folder.glob(".results-index-*/**/*") if f.is_file())
    print(f"{args.answers} answers, {results.stat().st_size / 1e6:.0f} MB of results: index built in {built:.1f} s, "
          f"{lost} ids lost, {answered}/{len(sample)} sampled answers read back at {per_get * 1e6:.0f} us each; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; index {size / 1e6:.0f} MB")
    shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
