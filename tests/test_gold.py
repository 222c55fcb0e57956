"""The offline backend against the project's hand-labelled gold: per letter, and the headline figures."""

import json
from pathlib import Path

import pytest

from extractor import extract, extract_many
from extractor.evaluation.scoring import evaluate, find_letter, load_gold

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "evals" / "gold"
LETTERS = ROOT / "evals" / "letters"
GOLD_FILES = sorted(GOLD.glob("*.json"))


def test_the_gold_set_is_as_large_and_varied_as_promised() -> None:
    real = [p for p in GOLD_FILES if p.stem.startswith("CM")]
    layouts = {json.loads(p.read_text())["layout"] for p in GOLD_FILES}
    assert len(real) >= 40 and {"imr-000", "imr-002"} <= {p.stem for p in GOLD_FILES}
    assert len([p for p in GOLD_FILES if p.stem.startswith("syn-")]) >= 10
    assert layouts == {"A", "B", "C"}


@pytest.mark.parametrize("gold_path", GOLD_FILES, ids=lambda p: p.stem)
def test_items_and_decisions_in_letter_order(gold_path: Path) -> None:
    gold = json.loads(gold_path.read_text())
    letter = find_letter(LETTERS, gold_path.stem)
    assert letter is not None, f"no letter for {gold_path.name}"
    record = extract(letter)
    assert [i.decision for i in record.items] == [i["decision"] for i in gold["items"]]
    assert record.layout == gold["layout"]


@pytest.mark.parametrize("letter", sorted(p for p in LETTERS.glob("CM*.pdf")), ids=lambda p: p.stem)
def test_one_item_per_decision_rationale(letter: Path) -> None:
    from extractor.read.files import read_letter

    assert len(extract(letter).items) == read_letter(letter).text.count("Decision rationale:")


def test_headline_figures_on_the_gold_set() -> None:
    report = evaluate(load_gold(GOLD), LETTERS, lambda paths: extract_many(paths, backend="offline"))
    s = report.summary
    assert s["item_recall"] >= 0.99 and s["item_precision"] >= 0.99
    assert s["decision_accuracy"] == 1.0
    assert s["field_accuracy"] >= 0.97
    assert s["errors"] == 0
    review = report.calibration["review"]  # the self-checks flag few of the items the rules were tuned on
    assert review["items_flagged_share"] <= 0.05 and review["item_recall"] >= 0.5
    assert report.calibration["ece"] <= 0.05
