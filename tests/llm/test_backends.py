"""Grounding, cross-checking and fallback: every verbatim value found in the letter or flagged,
parser/model disagreements flagged on their items, and every model failure leaving the parser's
values, flagged, never an error record. Model answers come from an in-process fake endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_fakes import completion, gold, letter_path, scripted

from extractor.llm.backends import match_requests
from extractor.llm.ground import Grounder, locate
from extractor.llm.schema import AnswerCitation, answer_from_gold
from extractor.parse.segment import Region
from extractor.pipeline import extract
from extractor.read.text import normalise
from extractor.run.stream import iter_records
from extractor.settings import Settings

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
    assert [w.code for w in g.warnings] == ["approximate_span"] and g.review == {}
    value, span, _ = g.text("diagnosis", "chronic pain syndrome")
    assert value == "chronic pain syndrome" and span is None
    assert g.warnings[-1].code == "ungrounded" and [f.message for f in g.review[None]] == ["diagnosis 'chronic pain syndrome' is not in the letter"]
    assert (g.review[None][0].field, g.review[None][0].code) == ("diagnosis", "ungrounded")
    cited = g.citation("reviewer citation", AnswerCitation(source="MTUS", guideline="Opioids Guideline"), item=0, region=None)
    assert cited.span is None and [f.message for f in g.review[0]] == ["item 1: reviewer citation 'Opioids Guideline' is not in the letter"]


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


def test_llm_keeps_the_parsers_verbatim_fields_where_it_can_segment_the_letter(settings: Settings) -> None:
    offline = extract(letter_path("syn-b-05"), backend="offline", settings=settings)
    answer = answer_from_gold(gold("syn-b-05"), "llm")
    answer.items[0].rationale = "The treatment is clearly necessary according to all guidelines ever written."
    record = _extract("syn-b-05", "llm", answer, settings)
    assert [i.rationale for i in record.items] == [i.rationale for i in offline.items]
    assert not record.needs_review, record.review_reasons


def test_llm_and_parser_disagreeing_on_a_decision_flags_the_item(settings: Settings) -> None:
    answer = answer_from_gold(gold("syn-b-05"), "llm")
    answer.items = answer.items[:1]
    answer.items[0].decision = "overturned" if answer.items[0].decision == "upheld" else "upheld"
    record = _extract("syn-b-05", "llm", answer, settings.model_copy(update={"max_reasks": 0}))
    first, second = record.items
    assert first.decision == gold("syn-b-05")["items"][0]["decision"]  # type: ignore[index]
    assert first.needs_review and any("decision: parser" in r for r in first.review_reasons)
    assert second.needs_review and "left it out" in second.review_reasons[0]
    assert second.sources["treatment"] == "parser" and record.needs_review


def test_hybrid_keeps_the_parsers_verbatim_fields_and_checks_the_models_semantics(settings: Settings) -> None:
    offline = extract(letter_path("syn-b-03"), backend="offline", settings=settings)
    answer = answer_from_gold(gold("syn-b-03"), "hybrid")
    # printed in the request, and the guide's name once its sub-procedure drops: the parser's reading, agreed
    answer.items[0].treatment = "Right knee arthroscopy with partial medial meniscectomy"
    answer.items[1].treatment = "A second opinion"  # not in the request: refused
    answer.items[2].strength = "500 mg"  # nothing printed: refused
    record = _extract("syn-b-03", "hybrid", answer, settings)
    assert [i.request for i in record.items] == [i.request for i in offline.items]
    assert [i.rationale for i in record.items] == [i.rationale for i in offline.items]
    assert record.items[0].treatment == offline.items[0].treatment == "Right knee arthroscopy"
    assert record.items[0].sources["treatment"] == "agreed" and not record.items[0].needs_review
    assert record.items[1].treatment == offline.items[1].treatment and record.items[1].needs_review
    assert any("'A second opinion'" in r for r in record.items[1].review_reasons)
    assert record.items[2].strength is None and record.items[2].needs_review
    assert not record.items[3].needs_review and record.case_number == offline.case_number


def test_hybrid_item_left_out_is_the_parsers_flagged_the_rest_kept(settings: Settings) -> None:
    answer = answer_from_gold(gold("syn-b-03"), "hybrid")
    answer.items[0].item = 9
    record = _extract("syn-b-03", "hybrid", answer, settings.model_copy(update={"max_reasks": 0}))
    assert record.ok and record.needs_review
    assert record.items[0].needs_review and "left it out" in record.items[0].review_reasons[0]
    assert not any(i.needs_review for i in record.items[1:])


def test_unknown_layout_falls_back_to_llm_and_flags_what_nothing_checked(tmp_path: Path, settings: Settings) -> None:
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
    assert record.items[0].needs_review and record.items[0].sources["treatment"] == "model"


def test_a_model_that_never_answers_validly_leaves_the_parsers_record_flagged(settings: Settings) -> None:
    settings = settings.model_copy(update={"max_reasks": 1})
    offline = extract(letter_path("syn-b-05"), backend="offline", settings=settings)
    replies = [completion('{"items": "nope"}'), completion('{"items": "still nope"}', n=2)]
    [record] = list(iter_records([letter_path("syn-b-05")], backend="hybrid", settings=settings,
                                 transport=scripted(replies)))
    assert record.ok and [i.treatment for i in record.items] == [i.treatment for i in offline.items]
    assert all(i.needs_review and "failed validation" in i.review_reasons[0] for i in record.items)
    assert record.provenance.usage is not None and record.provenance.usage.requests == 2


def test_one_invalid_item_costs_only_itself_and_only_it_is_asked_again(settings: Settings) -> None:
    good = answer_from_gold(gold("syn-b-03"), "hybrid")
    broken = good.model_dump(mode="json")
    del broken["items"][1]["treatment"]  # a required property missing on one item
    second = good.model_copy(update={"items": [good.items[1]], "diagnoses": []})
    record = _extract_replies("syn-b-03", [completion(json.dumps(broken)), completion(second, n=2)], settings)
    assert not record.needs_review, record.review_reasons
    assert [i.treatment for i in record.items] == [i["treatment"] for i in gold("syn-b-03")["items"]]  # type: ignore[index]
    assert record.provenance.usage is not None and record.provenance.usage.requests == 2


def _extract_replies(document_id: str, replies: list[object], settings: Settings):  # type: ignore[no-untyped-def]
    return extract(letter_path(document_id), backend="hybrid", settings=settings, transport=scripted(replies))  # type: ignore[arg-type]


def test_match_requests_pairs_the_same_item_and_leaves_the_rest() -> None:
    pairs, unmatched = match_requests(["Norco 10/325mg #120", "Physical therapy x6"],
                                      ["physical therapy x 6", "Norco 10/325 mg #120", "Gym membership"])
    assert pairs == {0: 1, 1: 0} and unmatched == [2]
    assert match_requests([], ["X"]) == ({}, [0])


def test_a_fault_in_the_model_path_leaves_the_parsers_record_flagged(settings: Settings,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr("extractor.llm.backends.check_item", broken)
    offline = extract(letter_path("syn-b-03"), backend="offline", settings=settings)
    record = _extract("syn-b-03", "hybrid", answer_from_gold(gold("syn-b-03"), "hybrid"), settings)
    assert record.ok and record.needs_review and record.provenance.backend == "hybrid"
    assert record.review_reasons == ["the model path failed (RuntimeError: a bug in a check); the parser's reading was kept"]
    assert [i.model_dump() for i in record.items] == [i.model_dump() for i in offline.items]


def test_a_header_value_only_the_model_read_is_flagged(tmp_path: Path, settings: Settings) -> None:
    letter = tmp_path / "odd.txt"
    letter.write_text("Independent Medical Review\nSome new format with no known headings.\n"
                      "The reviewer found the request for Norco 10/325mg #120 not medically necessary.\n")
    answer = {"case_number": "CM99-0000001", "diagnoses": [], "items": [{
        "request": "Norco 10/325mg #120", "treatment": "Norco", "category": "medication", "decision": "upheld",
        "reasons": ["other"], "rationale": "not medically necessary"}]}
    record = _extract(letter, "llm", json.dumps(answer), settings)
    assert record.case_number == "CM99-0000001" and record.sources["case_number"] == "model"
    assert "case_number: the parser read nothing, the model 'CM99-0000001'; kept the model's, unchecked" in \
        record.review_reasons
