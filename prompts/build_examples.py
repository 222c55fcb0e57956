"""Rebuild the few-shot examples of a prompt version from a gold letter.

    PYTHONPATH=. python prompts/build_examples.py [--version v1] [--letter syn-c-01]

Each example is the exact excerpt the backend would send for that letter, and the answer its
gold file gives, validated against the answer schema. tests/llm checks the files are current.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from extractor.llm.prompt import PROMPT_VERSION, hybrid_excerpt
from extractor.llm.schema import answer_from_gold
from extractor.parse import parse_letter
from extractor.read import read_letter
from extractor.read.text import normalise

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_LETTER = "syn-c-01"


def build(letter_id: str = EXAMPLE_LETTER) -> dict[str, dict[str, object]]:
    """``{"llm": {...}, "hybrid": {...}}``: input text and gold answer for each backend."""
    gold = json.loads((ROOT / "evals" / "gold" / f"{letter_id}.json").read_text(encoding="utf-8"))
    letter = next(p for p in (ROOT / "evals" / "letters").glob(f"{letter_id}.*") if p.suffix in (".txt", ".pdf"))
    clean = normalise(read_letter(letter).text)
    return {
        "llm": {"document_id": letter_id, "input": clean.text,
                "output": answer_from_gold(gold, "llm").model_dump(mode="json", exclude_defaults=True)},
        "hybrid": {"document_id": letter_id, "input": hybrid_excerpt(clean, parse_letter(clean)),
                   "output": answer_from_gold(gold, "hybrid").model_dump(mode="json", exclude_defaults=True)},
    }


def write(version: str = PROMPT_VERSION, letter_id: str = EXAMPLE_LETTER) -> None:
    out = ROOT / "prompts" / version / "examples"
    out.mkdir(parents=True, exist_ok=True)
    for backend, example in build(letter_id).items():
        (out / f"{backend}.json").write_text(json.dumps(example, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=PROMPT_VERSION)
    parser.add_argument("--letter", default=EXAMPLE_LETTER)
    args = parser.parse_args()
    write(args.version, args.letter)
