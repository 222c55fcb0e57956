"""The parser's self-checks (flags), the calibrated confidence built on them, and how eval measures both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor import extract
from extractor.evaluation.calibration import FieldOutcome, ItemOutcome, Outcomes, fit_table, reliability, review_recall
from extractor.models import Citation, ExtractionWarning, Flag, Item, Provenance, Record, Span
from extractor.verify import Calibration, LetterView, calibration, item_flags, letter_flags, verify
from extractor.verify.checks import conclusion
from extractor.verify.confidence import ITEM_FIELDS, LETTER_FIELDS

EXAMPLES = Path(__file__).resolve().parent.parent / "extractor" / "examples"
NECESSARY = "The guidelines support it and the documentation shows improvement. The request is medically necessary."
NOT_NECESSARY = "There is no documented functional improvement. Therefore, the request is not medically necessary."


def _item(**fields: Any) -> Item:
    base: dict[str, Any] = {"request": "Physical therapy 8 sessions", "treatment": "Physical therapy",
                            "category": "physical_therapy", "decision": "upheld", "rationale": NOT_NECESSARY}
    return Item(**(base | fields))


def _record(*items: Item, layout: str = "unknown", **fields: Any) -> Record:
    return Record(document_id="doc", layout=layout, items=list(items),  # type: ignore[arg-type]
                  provenance=Provenance(backend="offline", package_version="0"), **fields)


def _codes(item: Item, text: str = "", warnings: list[ExtractionWarning] | None = None) -> set[tuple[str, str]]:
    view = LetterView(_record(item, warnings=warnings or []), text)
    return {(f.field, f.code) for f in item_flags(item, 0, view)}


@pytest.mark.parametrize(("fields", "expected"), [
    ({"request": "Three months coverage of Viagra 50mg", "treatment": "coverage of Viagra", "category": "medication",
      "generic_name": "sildenafil", "strength": "50 mg"}, ("treatment", "words_before_drug")),
    ({"request": "Injection 5cc of lidocaine hcl 1percent", "treatment": "Injection 5cc of lidocaine hcl 1percent",
      "category": "injection"}, ("treatment", "name_has_quantity")),
    ({"request": "Xartemis XR 7.5/325mg #60", "treatment": "Xartemis XR", "category": "medication",
      "generic_name": "oxycodone", "strength": "7.5/325 mg", "quantity": 60}, ("generic_name", "strengths_exceed_ingredients")),
    ({"request": "UA", "treatment": "UA", "category": "other"}, ("category", "category_other")),
    ({"request": "Retrospective Toradol injection", "original_request": "Toradol injection DOS 3/5/2015",
      "retrospective": True, "treatment": "Toradol injection", "category": "injection"},
     ("date_of_service", "date_unread")),
    ({"request": "Physical therapy", "decision": "overturned"}, ("decision", "decision_contradicts_rationale")),
    ({"request": "Lidocaine pad 5cc", "treatment": "Lidocaine pad", "category": "medication",
      "generic_name": "lidocaine"}, ("strength", "dose_unread")),
    ({"request": "Flurflex cream", "treatment": "Flurflex", "category": "medication"}, ("generic_name", "drug_unknown")),
    ({"request": "Physical therapy for the", "treatment": "Physical therapy for the"}, ("treatment", "name_function_word")),
    ({"request": "purchase of a bath/shower chair", "treatment": "Purchase of a bath/shower chair",
      "category": "equipment"}, ("treatment", "words_before_service")),
    ({"request": "Right knee arthroscopy with evaluation of ACL", "treatment": "Right knee arthroscopy with evaluation of ACL",
      "category": "surgery"}, ("treatment", "name_has_subprocedure")),
    ({"request": "Diazepam (Valium) 5mg take 1 tab", "treatment": "Diazepam", "category": "medication",
      "generic_name": "diazepam", "strength": "5 mg"}, ("treatment", "parenthesis_dropped")),
    ({"request": "Norco 7.5-325mg #112", "treatment": "Norco", "category": "medication",
      "generic_name": "hydrocodone/acetaminophen", "strength": "325 mg", "quantity": 112}, ("strength", "strength_partial")),
    ({"request": "Diazepam 5mg 1 hour before exam", "treatment": "Diazepam", "category": "consultation"},
     ("category", "category_not_medication")),
    ({"request": "Physical exam 2 times 8", "treatment": "Physical exam", "category": "consultation"},
     ("category", "category_weak")),
    ({"request": "MRI of the knee", "treatment": "MRI of the knee", "category": "imaging",
      "reviewer_guidelines": [{"source": "ODG", "guideline": "Official Disability Guidelines",
                               "topic": "14th Edition, 2016, Knee Chapter"}]}, ("reviewer_guidelines", "citation_shape")),
])
def test_each_check_flags_what_the_issue_names(fields: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in _codes(_item(**fields))


def test_a_plain_right_item_is_not_flagged() -> None:
    item = _item(request="Norco 10/325mg #60", treatment="Norco", category="medication",
                 generic_name="hydrocodone/acetaminophen", strength="10/325 mg", quantity=60)
    assert _codes(item) == set()
    assert _codes(_item()) == set()


def test_the_parsers_own_uncertainty_becomes_a_flag() -> None:
    warning = ExtractionWarning(code="treatment_uncertain", item=0, message="item 1: could not reduce")
    assert ("treatment", "treatment_uncertain") in _codes(_item(treatment="Range of motion of test"), warnings=[warning])


@pytest.mark.parametrize(("rationale", "verdict"), [
    (NOT_NECESSARY, "upheld"), (NECESSARY, "overturned"),
    ("The request is not medically necessary and appropriate.", "upheld"),
    ("As such, the request for Norco is medically necessary and appropriate.", "overturned"),
    ("The patient has back pain.", None),
])
def test_the_rationales_conclusion(rationale: str, verdict: str | None) -> None:
    assert conclusion(rationale) == verdict


def _lettered(paragraph: str, citations: list[Citation]) -> tuple[Item, str]:
    text = ("Physical therapy: Upheld\nClaims Administrator guideline: Decision based on MTUS Chronic Pain "
            f"Medical Treatment Guidelines 2009.\nMAXIMUS guideline: {paragraph}\nDecision rationale: {NOT_NECESSARY}")
    request = Span(start=0, end=16)
    rationale_at = text.index(NOT_NECESSARY)
    item = _item(request="Physical therapy", spans={"request": request,
                                                    "rationale": Span(start=rationale_at, end=len(text))},
                 reviewer_guidelines=[c.model_copy(update={"span": Span(start=text.index(paragraph) + s, end=text.index(paragraph) + e)})
                                      for c, (s, e) in citations])  # type: ignore[misc]
    return item, text


def test_guideline_text_no_citation_covers_and_two_works_in_one_citation() -> None:
    paragraph = ("Decision based on Non-MTUS Citation http://www.a.org/one and http://www.b.org/two. "
                 "Decision based on Official Disability Guidelines Knee Chapter, Continuous passive motion.")
    first = paragraph.index("Decision based on Official")
    item, text = _lettered(paragraph, [(Citation(source="other", guideline="http://www.a.org/one"), (18, first - 1))])  # type: ignore[list-item]
    codes = _codes(item, text)
    assert ("reviewer_guidelines", "citation_merged") in codes
    assert ("reviewer_guidelines", "guideline_unparsed") in codes
    whole, text = _lettered(paragraph, [(Citation(source="other"), (18, first - 1)),  # type: ignore[list-item]
                                        (Citation(source="ODG"), (first + 18, len(paragraph)))])  # type: ignore[list-item]
    assert ("reviewer_guidelines", "guideline_unparsed") not in _codes(whole, text)


def test_letter_checks_count_items_and_find_header_labels_with_no_value() -> None:
    text = "Case Number: CM16-1\nDate Assigned:\nDecision rationale: a.\nDecision rationale: b.\n"
    record = _record(_item(), layout="A", case_number="CM16-1")
    flags = {(f.field, f.code) for f in letter_flags(LetterView(record, text))}
    assert ("items", "item_count") in flags and ("date_assigned", "header_value_unread") in flags
    assert ("case_number", "header_value_unread") not in flags


def test_verify_keeps_flags_review_reasons_and_confidence_in_step() -> None:
    odd = _item(request="UA", treatment="UA", category="other")
    record = verify(_record(_item(), odd, layout="A"), "Date Assigned:\nDecision rationale: a.\nDecision rationale: b.\n")
    fine, flagged = record.items
    assert not fine.flags and not fine.needs_review and fine.review_reasons == []
    assert flagged.needs_review and [f.message for f in flagged.flags] == flagged.review_reasons
    assert record.needs_review and record.flags
    assert record.review_reasons[: len(record.flags)] == [f.message for f in record.flags]
    assert set(fine.confidence) == set(ITEM_FIELDS) and set(record.confidence) == set(LETTER_FIELDS)
    assert flagged.confidence["category"] < fine.confidence["category"]
    assert record.confidence["date_assigned"] < 1.0


def test_the_confidence_table_lowers_what_a_code_touched() -> None:
    table = Calibration.from_dict({
        "items": {"treatment": {"base": 0.97, "flagged": 0.5, "codes": {"words_before_drug": 0.3}},
                  "category": {"base": 0.99, "flagged": 0.6, "codes": {"words_before_drug": 0.9}}},
        "letters": {}})
    words = Flag(field="treatment", code="words_before_drug", message="m")
    novel = Flag(field="category", code="model_disagrees", message="m")
    assert table.item_confidence([]) == {"treatment": 0.97, "category": 0.99}
    assert table.item_confidence([words]) == {"treatment": 0.3, "category": 0.9}
    assert table.item_confidence([novel]) == {"treatment": 0.97, "category": 0.6}


def test_the_package_table_says_what_it_was_fit_on() -> None:
    table = calibration()
    assert table.fitted_on and set(table.items) == set(ITEM_FIELDS)
    for model in [*table.items.values(), *table.letters.values()]:
        assert 0 <= model.flagged <= 1 and 0 <= model.base <= 1
        assert all(0 <= rate < model.base for rate in model.codes.values())


def test_every_offline_record_carries_flags_and_confidence() -> None:
    record = extract(EXAMPLES / "CM16-0230548.pdf")
    assert set(record.confidence) == set(LETTER_FIELDS)
    for item in record.items:
        assert set(item.confidence) == set(ITEM_FIELDS)
        assert item.needs_review == bool(item.flags)


def _outcome(right: bool, confidence: float, flagged: bool = False, codes: frozenset[str] = frozenset()) -> FieldOutcome:
    return FieldOutcome("d", 0, "treatment", right, confidence, flagged, codes)


def test_reliability_table_and_expected_calibration_error() -> None:
    fields = [_outcome(True, 0.95)] * 9 + [_outcome(False, 0.95)] + [_outcome(True, 0.25), _outcome(False, 0.25)] * 5
    result = reliability(fields)
    assert [(b["bin"], b["count"], b["accuracy"]) for b in result["bins"]] == [("0.2-0.3", 10, 0.5), ("0.9-1.0", 10, 0.9)]
    assert result["ece"] == pytest.approx(0.5 * 0.25 + 0.5 * 0.05)


def test_review_recall_counts_wrong_and_right_items() -> None:
    out = Outcomes(fields=[_outcome(False, 0.3, flagged=True), _outcome(False, 0.9)],
                   items=[ItemOutcome("d", 0, True, True), ItemOutcome("d", 1, True, False),
                          ItemOutcome("d", 2, False, True), ItemOutcome("d", 3, False, False)])
    review = review_recall(out)
    assert (review["field_recall"], review["item_recall"], review["right_items_flagged_share"]) == (0.5, 0.5, 0.5)


def test_fit_table_rates_codes_smoothed_toward_the_base() -> None:
    clean = [_outcome(True, 0.9)] * 48 + [_outcome(False, 0.9)] * 2
    flagged = [_outcome(False, 0.5, True, frozenset({"words_before_drug"}))] * 3 + \
              [_outcome(True, 0.5, True, frozenset({"words_before_drug"}))]
    table = fit_table(clean + flagged, [])["items"]["treatment"]
    assert table["base"] == pytest.approx(49 / 52, abs=1e-3)
    assert table["codes"]["words_before_drug"] == pytest.approx((1 + 2 * table["base"]) / 6, abs=1e-3)


def test_old_records_are_checked_from_their_values_and_text() -> None:
    record = extract(EXAMPLES / "CM16-0230548.pdf")
    from extractor.read.files import read_letter

    bare = record.model_copy(update={"items": [i.model_copy(update={"flags": [], "confidence": {}, "needs_review": False,
                                                                     "review_reasons": []}) for i in record.items],
                                     "flags": [], "confidence": {}, "review_reasons": [], "needs_review": False})
    again = verify(bare, read_letter(EXAMPLES / "CM16-0230548.pdf").text)
    assert again.model_dump(exclude={"provenance"}) == record.model_dump(exclude={"provenance"})


def _flagged_record() -> Record:
    odd = _item(request="UA", treatment="UA", category="other")
    record = verify(_record(_item(), odd, layout="A"), "Date Assigned:\nDecision rationale: a.\nDecision rationale: b.\n")
    return record.model_copy(update={"provenance": Provenance(backend="offline", package_version="0",
                                                              source_path="/letters/doc.txt", source_sha256="ab")})


def test_duckdb_items_and_letters_carry_flags_confidence_and_the_lowest(tmp_path: Path) -> None:
    import duckdb

    from extractor.sinks.duckdb import DuckDbSink

    record = _flagged_record()
    sink = DuckDbSink(tmp_path / "s.duckdb")
    sink.write(record)
    sink.close()
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT item_index, [f.code FOR f IN flags], confidence['category'], confidence_min "
                           "FROM items ORDER BY confidence_min").fetchall()
        letter = con.execute("SELECT [f.field FOR f IN flags], confidence['date_assigned'] FROM letters").fetchone()
    assert rows[0][:2] == (1, ["category_other"]) and rows[1][1] == []
    assert rows[0][2] == record.items[1].confidence["category"] and rows[0][3] == min(record.items[1].confidence.values())
    assert letter == (["date_assigned"], record.confidence["date_assigned"])


def test_parquet_rows_carry_flags_and_confidence(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from extractor.sinks.parquet import ParquetSink

    record = _flagged_record()
    sink = ParquetSink(tmp_path / "items.parquet")
    sink.write(record)
    sink.close()
    rows = pq.read_table(tmp_path / "items.parquet").to_pylist()
    assert [[f["code"] for f in r["flags"]] for r in rows] == [[], ["category_other"]]
    assert dict(rows[1]["confidence"]) == record.items[1].confidence
    assert rows[1]["confidence_min"] == min(record.items[1].confidence.values())
    assert [f["code"] for f in rows[0]["letter_flags"]] == ["header_value_unread"]


def test_review_page_shows_confidence_and_flags_escaped(tmp_path: Path) -> None:
    from extractor.review.site import build_site

    record = _flagged_record()
    hostile = record.items[1].model_copy(update={"flags": [Flag(field="treatment", code="x", message="<script>bad()</script>")]})
    record = record.model_copy(update={"items": [record.items[0], hostile]})
    build_site([record], tmp_path / "site")
    page = (tmp_path / "site" / "letters" / "doc.html").read_text()
    assert "&lt;script&gt;bad()&lt;/script&gt;" in page and "<script>bad()" not in page
    assert f"category {record.items[1].confidence['category']:.2f}" in page
    index = (tmp_path / "site" / "index.html").read_text()
    assert f"{min(record.items[1].confidence.values()):.2f}" in index


def test_a_value_a_model_gave_is_left_to_the_model_checks() -> None:
    words = {"request": "purchase of a bath/shower chair", "treatment": "Purchase of a bath/shower chair",
             "category": "equipment"}
    by_parser = verify(_record(_item(**words)), "").items[0]
    by_model = verify(_record(_item(**words, sources={"treatment": "model"})), "").items[0]
    assert [f.code for f in by_parser.flags] == ["words_before_service"] and not by_model.flags
    assert by_model.confidence["treatment"] > by_parser.confidence["treatment"]
    assert verify(verify(_record(_item(**words)), ""), "").items[0].flags == by_parser.flags  # idempotent
