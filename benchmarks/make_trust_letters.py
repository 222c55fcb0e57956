"""Synthetic variants of real gold letters whose requests use wordings the parser misreads, for
``bench_trust.py``: each takes a real letter's text, puts a new case number and a new request in
place of the old (everywhere it is printed, in any case, the rationale included), and writes the letter and its
gold (the source's gold with the fields the new request changes, labelled by ``evals/LABELING.md``).

    python benchmarks/make_trust_letters.py /work/shared/data/real-letters/txt

The variants are listed in ``benchmarks/data/trust/variants.json``; the output goes beside it
(``letters/``, ``gold/``), documented in its README as synthetic.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "trust"


def make(texts: Path, gold_dir: Path, out: Path) -> int:
    variants = json.loads((out / "variants.json").read_text(encoding="utf-8"))
    (out / "letters").mkdir(exist_ok=True)
    (out / "gold").mkdir(exist_ok=True)
    for v in variants:
        gold = json.loads((gold_dir / f"{v['source']}.json").read_text(encoding="utf-8"))
        text = (texts / f"{v['source']}.txt").read_text(encoding="utf-8")
        [item] = gold["items"]
        if item["request"] not in text:
            raise SystemExit(f"{v['source']}: the request {item['request']!r} is not printed as one line")
        # wherever it is printed: across line breaks, in any case
        printed = re.compile(r"\s+".join(re.escape(w) for w in item["request"].split()), re.I)
        text = printed.sub(v["request"], text).replace(gold["case_number"], v["case_number"])
        item.update(request=v["request"], rationale=printed.sub(v["request"], item["rationale"]), **v["gold"])
        gold.update(document_id=v["id"], case_number=v["case_number"])
        (out / "letters" / f"{v['id']}.txt").write_text(text, encoding="utf-8")
        (out / "gold" / f"{v['id']}.json").write_text(json.dumps(gold, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(variants)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", type=Path, help="the real letters' text files (<document_id>.txt)")
    parser.add_argument("--gold", type=Path, default=ROOT / "evals" / "gold")
    args = parser.parse_args()
    print(f"{make(args.texts, args.gold, DATA)} synthetic letters -> {DATA}")
