"""The gold set's batches and the parser as it was before each joined: its records on that batch are
genuine unseen errors (the rules had not met those letters), scored against today's gold.

Each batch is named by the commit that added its gold files (``git log -- evals/gold``; the README's
batch table) and the commit whose parser had not seen it. The old parser runs from ``git archive`` of
that commit under a temporary folder, as a subprocess with ``PYTHONPATH`` pointing at it, and its
records (with the letter text it read, which its spans index) are kept under ``--cache``.
Used by ``calibrate.py`` and ``bench_confidence.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "imr-history"


@dataclass(frozen=True)
class Batch:
    """Gold files added by ``joined``, read by the parser of ``parser`` (a commit before any rule saw them)."""

    name: str
    joined: str
    parser: str
    note: str


# Batches 3 and 4 joined in one commit, as did 5 and 6: each pair is one unit here. Batch 5 was tuned on
# by the extended treatment rules (f8f2e24 and the rules2 branch) before it joined, so its parser is the
# one before those rules (39618b4), as the README's "before" figures for batch 6 are.
BATCHES = (
    Batch("1", "64e0ca0", "3658ea4", "first held-out batch"),
    Batch("2", "c572c2a", "dee5e2d", "second held-out batch"),
    Batch("3-4", "7d45576", "25df905", "batches 3 and 4, joined together"),
    Batch("5-6", "d52a0f9", "39618b4", "batches 5 and 6, parser before the extended treatment rules"),
    Batch("7", "c409a0a", "d52a0f9", "batch 7"),
)

_RUNNER = r"""
import json, sys
import extractor
from extractor import extract
from extractor.read import read_letter
assert extractor.__file__.startswith(sys.argv[1]), extractor.__file__
for path in sys.argv[2:]:
    try:
        rec = extract(path, backend="offline")
        text = read_letter(path).text
        print(json.dumps({"path": path, "record": rec.model_dump(mode="json"), "text": text}))
    except Exception as exc:  # an old parser's failure is an error record for the benchmark
        print(json.dumps({"path": path, "error": f"{type(exc).__name__}: {exc}"}))
"""


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout


def batch_documents(batch: Batch) -> list[str]:
    """The document ids whose gold files ``batch.joined`` added."""
    names = git("show", "--name-only", "--format=", "--diff-filter=A", batch.joined, "--", "evals/gold").split()
    return sorted(Path(n).stem for n in names if n.endswith(".json"))


def letter_path(letters: Path, doc: str) -> Path:
    for suffix in (".pdf", ".txt"):
        if (letters / f"{doc}{suffix}").exists():
            return letters / f"{doc}{suffix}"
    raise FileNotFoundError(f"{letters}: no letter for {doc}")


def old_parser_tree(commit: str, cache: Path) -> Path:
    """The package as it was at ``commit``, unpacked once under ``cache``."""
    tree = cache / f"tree-{commit}"
    if not (tree / "extractor").is_dir():
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "extractor"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    return tree


def old_records(batch: Batch, letters: Path = ROOT / "evals/letters", cache: Path = DEFAULT_CACHE) -> list[dict[str, Any]]:
    """``{"path", "record", "text"}`` (or ``"error"``) per letter of ``batch``, as its old parser read them."""
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"batch-{batch.name}-{batch.parser}.jsonl"
    if not out.exists():
        tree = old_parser_tree(batch.parser, cache)
        paths = [str(letter_path(letters, d).resolve()) for d in batch_documents(batch)]
        env = {**os.environ, "PYTHONPATH": str(tree), "IMR_BACKEND": "offline"}
        env.pop("IMR_BASE_URL", None)
        done = subprocess.run([sys.executable, "-c", _RUNNER, str(tree), *paths], env=env, cwd=cache,
                              capture_output=True, text=True, check=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(done.stdout, encoding="utf-8")
        tmp.replace(out)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]


# Item labels the gold set gained after these parsers (the drug groups): an old parser cannot have read them, and
# the self-checks and confidence do not speak for them, so they are left out of what the old records are scored on.
LATER_LABELS = ("drug_class", "compounded")


def gold_for(docs: list[str], gold_dir: Path = ROOT / "evals/gold") -> dict[str, dict[str, Any]]:
    """Today's gold for ``docs``, without the item labels added after the old parsers (``LATER_LABELS``)."""
    gold = {d: json.loads((gold_dir / f"{d}.json").read_text(encoding="utf-8")) for d in docs}
    for letter in gold.values():
        for item in letter.get("items") or []:
            for label in LATER_LABELS:
                item.pop(label, None)
    return gold


def checked_records(rows: list[dict[str, Any]], table: Any = None) -> dict[str, Any]:
    """document id -> the old record with today's self-checks and confidence applied (``verify``); None where
    the old parser failed. Old flags and confidences, if any, are dropped first."""
    from extractor.models import Record
    from extractor.verify import verify

    records: dict[str, Any] = {}
    for row in rows:
        doc = Path(row["path"]).stem
        if "record" not in row:
            records[doc] = None
            continue
        data = {k: v for k, v in row["record"].items() if k in Record.model_fields}
        data |= {"flags": [], "confidence": {}, "needs_review": False, "review_reasons": []}
        data["items"] = [{k: v for k, v in item.items() if k not in ("flags", "confidence")} | {
            "needs_review": False, "review_reasons": []} for item in data.get("items", [])]
        records[doc] = verify(Record.model_validate(data), row["text"], table)
    return records
