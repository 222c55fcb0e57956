"""The harness itself: alignment, scoring and the report, on records and gold made here."""

import copy
import json
from pathlib import Path

from extractor import Record, extract, score
from extractor.evaluation.scoring import align, load_gold

ROOT = Path(__file__).resolve().parent.parent
LETTER = ROOT / "evals" / "letters" / "CM16-0230548.pdf"


def _gold_of(record: Record) -> dict:
    """A gold object in the contract's format, built from a record (contract fields only)."""
    data = record.model_dump(mode="json", exclude={"spans", "warnings", "needs_review", "review_reasons",
                                                   "provenance", "error"})
    for item in data["items"]:
        item.pop("spans")
        for key in ("claims_administrator_guidelines", "reviewer_guidelines"):
            for citation in item[key]:
                citation.pop("span")
    return data


def test_a_perfect_prediction_scores_one() -> None:
    record = extract(LETTER)
    report = score({record.document_id: record}, {record.document_id: _gold_of(record)})
    s = report.summary
    assert (s["item_recall"], s["item_precision"], s["decision_accuracy"], s["field_accuracy"]) == (1.0, 1.0, 1.0, 1.0)
    assert set(s) >= {"item_recall", "item_precision", "decision_accuracy", "field_accuracy", "documents", "items"}
    assert report.layouts["A"]["documents"] == 1


def test_a_missed_item_a_wrong_decision_and_a_wrong_field_are_counted() -> None:
    record = extract(LETTER)
    gold = _gold_of(record)
    gold["items"].append(dict(copy.deepcopy(gold["items"][0]), request="Gym membership for 3 months", treatment="Gym"))
    gold["items"][1]["decision"] = "upheld"
    gold["case_number"] = "CM99-9999999"
    report = score({record.document_id: record}, {record.document_id: gold})
    assert report.summary["item_recall"] == 2 / 3
    assert report.summary["item_precision"] == 1.0
    assert report.summary["decision_accuracy"] == 0.5
    assert report.fields["case_number"]["missed_documents"] == [record.document_id]
    assert report.summary["field_accuracy"] < 1.0


def test_gold_in_any_printed_form_scores_unchanged(tmp_path: Path) -> None:
    """Dates as printed, licensure as names, strength without a space, extra keys: still a perfect score."""
    record = extract(LETTER)
    gold = _gold_of(record)
    gold["decision_date"] = "01/04/2017"
    gold["date_of_injury"] = "11-01-16"
    gold["reviewer_licensure"] = ["Texas"]
    gold["case_number"] = "cm16-0230548"
    gold["labeller"] = "someone else"
    (tmp_path / "CM16-0230548.json").write_text(json.dumps(gold))
    loaded = load_gold(tmp_path)
    report = score({record.document_id: record}, loaded)
    assert report.summary["field_accuracy"] == 1.0


def test_an_error_record_misses_everything() -> None:
    record = extract(LETTER)
    gold = _gold_of(record)
    report = score({record.document_id: None}, {record.document_id: gold})
    assert report.summary["item_recall"] == 0.0
    assert report.summary["errors"] == 1
    assert report.documents[record.document_id]["error"]


def test_alignment_is_one_to_one_and_order_free() -> None:
    pred = [{"request": "Norco 10/325mg #60"}, {"request": "MRI of the lumbar spine"}]
    gold = [{"request": "MRI of the lumbar spine without contrast"}, {"request": "Norco 10/325 mg #60"},
            {"request": "Norco 10/325mg #30"}]
    assert align(pred, gold) == [(0, 1), (1, 0)]
