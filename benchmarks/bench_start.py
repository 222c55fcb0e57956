"""Where a one-letter run's time goes: ``imr-extract extract --backend offline`` on one PDF, in a new
interpreter each time, with a timestamp at each stage; prints the median of each stage. Asserts nothing.

    python benchmarks/bench_start.py [--pdf FILE] [--repeat 15]

Stages: the interpreter and the command line's modules (typer); typer reading the options (it loads
pydantic); the settings (pydantic-settings); the record models, parser and sink; the wait for the PDF's
text from the reader's helper; the letter parsed, checked and written (the first use of each regular
expression compiles it); the exit. Beside them, the floor no code of ours can go under: an interpreter
that only imports typer and pydantic-settings and declares one setting.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PDF = HERE.parent / "extractor" / "examples" / "CM16-0230548.pdf"
# Run in the child: marks taken by wrapping the functions that begin each stage.
CHILD = r"""
import sys, time, json, atexit
marks = [("start", time.perf_counter())]
mark = lambda what: marks.append((what, time.perf_counter()))
import extractor.cli as cli
mark("interpreter, typer and the command line's modules")
from extractor.read import pdf
def wrap(owner, name, before, after=""):
    original = getattr(owner, name)
    def wrapped(*args, **kwargs):
        mark(before)
        result = original(*args, **kwargs)
        mark(after)
        return result
    setattr(owner, name, wrapped)
wrap(cli, "_settings", "typer reads the options (and loads pydantic)", "settings (pydantic-settings)")
wrap(cli, "_announce_backend", "record models and parser loaded")
wrap(pdf.PdfReader, "_ask", "", "wait for the PDF's text")
atexit.register(lambda: (mark("letter parsed, checked and written"), print(json.dumps(marks), file=sys.stderr)))
sys.argv = ["imr-extract", *sys.argv[1:]]
cli.main()
"""
# What no code of ours can go under: the command line's and the settings' libraries loaded, one setting declared.
FLOOR = "import typer, pydantic_settings\nclass S(pydantic_settings.BaseSettings):\n    x: int = 1\nS()"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=PDF)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    compileall.compile_dir(HERE.parent / "extractor", quiet=1)
    stages: dict[str, list[float]] = {}
    walls: list[float] = []
    floors: list[float] = []
    with tempfile.TemporaryDirectory(prefix="imr-bench-start-") as tmp:
        out = Path(tmp) / "records.jsonl"
        for _ in range(args.repeat):
            out.unlink(missing_ok=True)
            began = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, "extract", "--backend", "offline", "--quiet", "-o", str(out),
                                   str(args.pdf)], capture_output=True, text=True, check=True)
            walls.append(time.perf_counter() - began)
            marks = json.loads(done.stderr.strip().splitlines()[-1])
            for (_, before), (label, at) in zip(marks, marks[1:], strict=False):
                if label:
                    stages.setdefault(label, []).append(at - before)
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", FLOOR], check=True)
            floors.append(time.perf_counter() - began)
    print(f"{args.pdf.name}, median of {args.repeat} runs, each in a new interpreter")
    for label, seconds in stages.items():
        print(f"  {statistics.median(seconds) * 1000:6.1f} ms  {label}")
    print(f"  {statistics.median(walls) * 1000:6.1f} ms  whole process (with the interpreter's start and exit)")
    print(f"  {statistics.median(floors) * 1000:6.1f} ms  the floor: a process that imports typer and pydantic-settings only")


if __name__ == "__main__":
    main()
