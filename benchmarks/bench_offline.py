"""The offline backend as users run it, whole processes, beside pypdfium2 alone: prints its figures,
asserts nothing.

    python benchmarks/bench_offline.py [--pdf-dir DIR] [--repeat 3]

In one run, alternating each command with its baseline, the median of ``--repeat``: one PDF letter
and the whole folder, ``imr-extract extract`` (offline, to JSONL) against ``pdfium_text.py`` (the text
of the same PDFs with pypdfium2, nothing else): wall time and peak memory of the process tree (the
command, its PDF reader helper and its workers: ``proc_peak.py``); ``--workers 2`` on the folder;
``imr-extract --help``; and the floor of a one-letter run, a process that only loads typer and
pydantic-settings (``bench_start.py`` says where the rest goes). Each command starts cold (a new interpreter; the drug lexicon's index already
built, as after the first use; the package's bytecode compiled first, as ``pip install`` compiles it,
even where ``PYTHONDONTWRITEBYTECODE`` would leave an editable checkout compiling on every start). The machine's load is printed: timings on a shared machine are noisy,
the ratios from one alternating run less so.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_start import FLOOR  # noqa: E402 - benchmarks/ is not a package
from proc_peak import Run, measure  # noqa: E402

CORPUS = HERE.parent.parent / "shared" / "data" / "real-letters" / "pdf"
CLI = str(Path(sys.executable).with_name("imr-extract"))
BASELINE = [sys.executable, str(HERE / "pdfium_text.py")]
TARGETS = {"one": (4.0, 150), "corpus": (1.5, 150)}


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf-dir", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pdfs = sorted(args.pdf_dir.glob("*.pdf"))
    one = pdfs[0]
    print(f"load before: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs; {len(pdfs)} PDFs in {args.pdf_dir}")
    compileall.compile_dir(HERE.parent / "extractor", quiet=1)
    with tempfile.TemporaryDirectory(prefix="imr-bench-offline-") as tmp:
        out = Path(tmp) / "records.jsonl"
        extract = [CLI, "extract", "--backend", "offline", "--quiet", "-o", str(out)]
        jobs = {
            "one": (extract + [str(one)], BASELINE + [str(one)]),
            "corpus": (extract + [str(args.pdf_dir)], BASELINE + [str(args.pdf_dir)]),
            "workers2": (extract + ["--workers", "2", str(args.pdf_dir)], None),
            "help": ([CLI, "--help"], None),
            "floor": ([sys.executable, "-c", FLOOR], None),
        }
        measure(jobs["one"][0])  # the lexicon's index, if this install has not built it yet
        runs: dict[str, list[Run]] = {f"{job}{side}": [] for job in jobs for side in ("", "-baseline")}
        for _ in range(args.repeat):
            for job, (command, baseline) in jobs.items():
                out.unlink(missing_ok=True)
                runs[job].append(measure(command))
                if baseline is not None:
                    runs[f"{job}-baseline"].append(measure(baseline))
    assert all(r.code == 0 for rs in runs.values() for r in rs), {k: [r.code for r in rs] for k, rs in runs.items()}
    print(f"{'job':34} {'wall s':>7} {'peak MiB (largest / sum)':>25} {'processes':>9}")
    for job, label in (("one", f"one PDF letter ({one.name})"), ("corpus", f"{len(pdfs)} PDFs"),
                       ("workers2", f"{len(pdfs)} PDFs, --workers 2"), ("help", "imr-extract --help")):
        for key, who in ((job, "imr-extract"), (f"{job}-baseline", "pypdfium2 only")):
            if runs[key]:
                r = runs[key]
                print(f"{label + ', ' + who:34.34} {median(r, 'seconds'):7.2f} {median(r, 'peak_max_mib'):12.1f} / "
                      f"{median(r, 'peak_sum_mib'):10.1f} {max(x.processes for x in r):9d}")
        if job in TARGETS:
            ratio = median(runs[job], "seconds") / median(runs[f"{job}-baseline"], "seconds")
            wall_target, memory_target = TARGETS[job]
            print(f"  ratio {ratio:.2f}x (target <= {wall_target}x); peak summed {median(runs[job], 'peak_sum_mib'):.0f} MiB "
                  f"(target <= {memory_target} MiB)")
    print(f"  --workers 2 peak summed over the processes: {median(runs['workers2'], 'peak_sum_mib'):.0f} MiB (target <= 250 MiB)")
    print(f"  imr-extract --help: {median(runs['help'], 'seconds'):.2f} s (target <= 0.3 s)")
    floor = median(runs["floor"], "seconds")
    print(f"  the floor, a process that only imports typer and pydantic-settings: {floor:.2f} s, "
          f"{floor / median(runs['one-baseline'], 'seconds'):.2f}x pypdfium2's one letter")
    print(f"load after: {os.getloadavg()[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
