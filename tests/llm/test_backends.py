"""Grounding and cross-checking: every verbatim value found in the letter or flagged, and parser/model
disagreements turned into review reasons. Model answers come from an in-process fake endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from llm_fakes import completion, gold, letter_path, scripted

from extractor.llm.backends import compare_items
from extractor.llm.batch import iter_records
from extractor.llm.ground import Grounder, locate
from extractor.llm.schema import AnswerCitation, answer_from_gold
from extractor.models import Item
from extractor.pipeline import extract
from extractor.segment import Region
from extractor.settings import Settings
from extractor.text import normalise

LETTER = "Header\nThe request for Norco\n10/325mg #120 is not\nmedically necessary. Diagnoses include lumbar radiculopathy.\n"


def test_locate_across_line_breaks_and_case() -> None:
    clean = normalise(LETTER)
    found = locate(clean, "Norco 10/325mg #120")
    assert found is not None and found.exact and clean.text[found.start:found.end] == "Norco\n10/325mg #120"
    lower = locate(clean, "norco 10/325MG #120")
    assert lower is not None and not lower.exact and lower.text == "Norco 10/325mg #120"
    assert locate(clean, "Oxycodone 10mg") is None
    assert locate(clean, "Norco", Region(0, 5)) is None


def test_locate_long_values_approximately() -> None:
    clean = normalise(LETTER)
    found = locate(clean, "The request for Norco 10/325 mg #120 is not medically necessary.")
    assert found is not None and found.text == "The request for Norco 10/325mg #120 is not medically necessary."
    assert locate(clean, "A long sentence that the letter does not contain anywhere at all.") is None


def test_grounder_keeps_the_letters_text_and_flags_what_is_missing() -> None:
    clean = normalise(LETTER)
    g = Grounder(clean)
    value, span, _ = g.text("rationale", "The request for Norco 10/325 mg #120 is not medically necessary.", item=0)
    assert value == "The request for Norco 10/325mg #120 is not medically necessary." and span is not None
    assert LETTER[span.start:span.end].split() == value.split()
    assert [w.code for w in g.warnings] == ["approximate_span"] and g.review_reasons == []
    value, span, _ = g.text("diagnosis", "chronic pain syndrome")
    assert value == "chronic pain syndrome" and span is None
    assert g.warnings[-1].code == "ungrounded" and g.review_reasons == ["diagnosis 'chronic pain syndrome' is not in the letter"]
    cited = g.citation("reviewer citation", AnswerCitation(source="MTUS", guideline="Opioids Guideline"), item=0, region=None)
    assert cited.span is None and len(g.review_reasons) == 2


def _extract(document_id: str | Path, backend: str, answer: object, settings: Settings):  # type: ignore[no-untyped-def]
    path = document_id if isinstance(document_id, Path) else letter_path(document_id)
    return extract(path, backend=backend, settings=settings, transport=scripted([completion(answer)]))  # type: ignore[arg-type]


def test_llm_record_is_the_gold_record_when_the_model_is_right(settings: Settings) -> None:
    record = _extract("syn-b-03", "llm", answer_from_gold(gold("syn-b-03"), "llm"), settings)
    expected = gold("syn-b-03")
    got = record.model_dump(mode="json")
    for key in ("case_number", "decision_date", "patient_age", "reviewer_licensure", "diagnoses"):
        assert got[key] == expected[key]
    assert not record.needs_review, record.review_reasons
    assert all(set(i.spans) >= {"request", "rationale"} for i in record.items)
    assert {f"diagnoses[{n}]" for n in range(len(record.diagnoses))} <= set(record.spans)


def test_llm_invented_rationale_is_flagged_not_kept_silently(settings: Settings) -> None:
    answer = answer_from_gold(gold("syn-b-05"), "llm")
    answer.items[0].rationale = "The treatment is clearly necessary according to all guidelines ever written."
    record = _extract("syn-b-05", "llm", answer, settings)
    assert record.items[0].rationale == answer.items[0].rationale and "rationale" not in record.items[0].spans
    assert record.needs_review
    assert any(w.code == "ungrounded" and w.item == 0 for w in record.warnings)


def test_llm_and_parser_disagreeing_on_items_needs_review(settings: Settings) -> None:
    answer = answer_from_gold(gold("syn-b-05"), "llm")
    answer.items = answer.items[:1]
    answer.items[0].decision = "overturned" if answer.items[0].decision == "upheld" else "upheld"
    record = _extract("syn-b-05", "llm", answer, settings)
    assert record.needs_review
    assert "the parser found 2 item(s), the model 1" in record.review_reasons
    assert any("the parser read" in r for r in record.review_reasons)


def test_hybrid_keeps_the_parsers_verbatim_fields_and_takes_the_models_semantics(settings: Settings) -> None:
    offline = extract(letter_path("syn-b-03"), backend="offline", settings=settings)
    answer = answer_from_gold(gold("syn-b-03"), "hybrid")
    answer.items[0].treatment = "Model's treatment"
    record = _extract("syn-b-03", "hybrid", answer, settings)
    assert [i.request for i in record.items] == [i.request for i in offline.items]
    assert [i.rationale for i in record.items] == [i.rationale for i in offline.items]
    assert record.items[0].treatment == "Model's treatment"
    assert record.case_number == offline.case_number


def test_hybrid_missing_and_extra_items_need_review(settings: Settings) -> None:
    answer = answer_from_gold(gold("syn-b-03"), "hybrid")
    answer.items[0].item = 9
    record = _extract("syn-b-03", "hybrid", answer, settings)
    assert record.needs_review
    assert any(r.startswith("item 1: the model gave no answer") for r in record.review_reasons)
    assert "the model answered for items the parser did not find: [9]" in record.review_reasons


def test_unknown_layout_falls_back_to_llm(tmp_path: Path, settings: Settings) -> None:
    letter = tmp_path / "odd.txt"
    letter.write_text("Independent Medical Review\nSome new format with no known headings.\n"
                      "The reviewer found the request for Norco 10/325mg #120 not medically necessary.\n")
    answer = {"diagnoses": [], "items": [{
        "request": "Norco 10/325mg #120", "treatment": "Norco", "category": "medication",
        "generic_name": "hydrocodone/acetaminophen", "strength": "10/325 mg", "quantity": 120,
        "decision": "upheld", "reasons": ["other"], "rationale": "not medically necessary"}]}
    record = _extract(letter, "hybrid", json.dumps(answer), settings)
    assert record.layout == "unknown" and record.provenance.backend == "llm"
    assert any(w.code == "fallback" for w in record.warnings)
    assert record.items[0].request == "Norco 10/325mg #120" and "request" in record.items[0].spans


def test_an_error_record_when_the_model_never_answers_validly(settings: Settings) -> None:
    settings = settings.model_copy(update={"max_reasks": 1})
    replies = [completion('{"items": "nope"}'), completion('{"items": "still nope"}', n=2)]
    [record] = list(iter_records([letter_path("syn-b-05")], backend="hybrid", settings=settings,
                                 transport=scripted(replies)))
    assert record.error is not None and "failed validation 2 times" in record.error.message
    assert record.provenance.usage is not None and record.provenance.usage.requests == 2


def test_compare_items_is_silent_without_parser_items() -> None:
    item = Item(request="X", treatment="X", decision="upheld")
    assert compare_items([], [item]) == []
    assert compare_items([item], [item.model_copy()]) == []
