"""check_item: each model value is checked against the letter and the parser before it is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor import extract
from extractor.evaluation.scoring import find_letter, load_gold, score
from extractor.llm.check import JUDGEMENT_FIELDS, ItemEvidence, check_item, item_evidence
from extractor.models import Citation, Item, Span
from extractor.parse import clean_letter
from extractor.parse.letter import parse_letter
from extractor.read.files import read_letter

EVALS = Path(__file__).resolve().parents[2] / "evals"
CA = "Decision based on MTUS Chronic Pain Medical Treatment Guidelines, Page(s): 78-80."
REVIEWER = "Decision based on MTUS Chronic Pain Medical Treatment Guidelines, Section(s): Opioids, Page(s): 78-80."


def _citation(pages: list[int], source: str = "MTUS", topic: str | None = None) -> Citation:
    return Citation(source=source, guideline="Chronic Pain Medical Treatment Guidelines", topic=topic,  # type: ignore[arg-type]
                    pages=pages)


def _norco(**changes: Any) -> Item:
    values: dict[str, Any] = {
        "request": "Norco 10/325mg #60", "treatment": "Norco", "category": "medication",
        "generic_name": "hydrocodone/acetaminophen", "strength": "10/325 mg", "quantity": 60, "decision": "upheld",
        "claims_administrator_guidelines": [_citation([78, 79, 80])],
        "reviewer_guidelines": [_citation([78, 79, 80], topic="Opioids")],
        "reasons": ["no_functional_improvement"], "rationale": "No functional improvement is documented.",
    }
    return Item(**{**values, **changes})


EVIDENCE = ItemEvidence(request="Norco 10/325mg #60", claims_administrator=CA, reviewer=REVIEWER,
                        rationale="No functional improvement is documented.")


def _answer(item: Item, **changes: Any) -> dict[str, Any]:
    return {**{name: getattr(item, name) for name in JUDGEMENT_FIELDS}, **changes}


def test_agreement_keeps_the_values_marks_them_agreed_and_flags_nothing() -> None:
    parsed = _norco()
    kept = check_item(parsed, _answer(parsed, strength="10/325MG", treatment="norco", reasons=["no_functional_improvement"],
                                      generic_name="acetaminophen/hydrocodone"), EVIDENCE, index=0)
    assert not kept.needs_review and kept.review_reasons == []
    assert kept.sources == dict.fromkeys(JUDGEMENT_FIELDS, "agreed")
    assert kept.strength == "10/325 mg" and kept.generic_name == "hydrocodone/acetaminophen"


def test_a_field_the_model_left_out_is_the_parsers() -> None:
    parsed = _norco()
    answer = _answer(parsed)
    del answer["category"]
    kept = check_item(parsed, answer, EVIDENCE, index=0)
    assert kept.sources["category"] == "parser" and not kept.needs_review


def test_a_strength_not_printed_is_refused_and_both_values_named() -> None:
    kept = check_item(_norco(), _answer(_norco(), strength="20/325 mg"), EVIDENCE, index=1)
    assert kept.strength == "10/325 mg" and kept.sources["strength"] == "parser"
    assert kept.needs_review
    assert kept.review_reasons == [
        "item 2: strength: parser '10/325 mg', model '20/325 mg' (not printed in the request); kept the parser's"]


@pytest.mark.parametrize("quantity", [90, None])
def test_a_different_quantity_keeps_the_parsers(quantity: int | None) -> None:
    kept = check_item(_norco(), _answer(_norco(), quantity=quantity), EVIDENCE, index=0)
    assert kept.quantity == 60 and kept.needs_review
    assert kept.review_reasons[0].startswith(f"item 1: quantity: parser 60, model {quantity if quantity else 'none'}")


def test_the_decision_is_the_parsers() -> None:
    kept = check_item(_norco(), _answer(_norco(), decision="overturned"), EVIDENCE, index=0)
    assert kept.decision == "upheld" and kept.sources["decision"] == "parser"
    assert [r.split(": ")[1] for r in kept.review_reasons] == ["decision"]


def test_a_generic_name_must_agree_with_the_drug_lexicon() -> None:
    kept = check_item(_norco(), _answer(_norco(), generic_name="oxycodone/acetaminophen"), EVIDENCE, index=0)
    assert kept.generic_name == "hydrocodone/acetaminophen" and kept.needs_review
    assert "'oxycodone/acetaminophen'" in kept.review_reasons[0] and "lexicon" in kept.review_reasons[0]


def test_a_generic_name_left_out_for_a_known_drug_is_refused() -> None:
    kept = check_item(_norco(), _answer(_norco(), generic_name=None), EVIDENCE, index=0)
    assert kept.generic_name == "hydrocodone/acetaminophen" and kept.needs_review


def test_a_generic_name_the_lexicon_does_not_know_is_the_models() -> None:
    parsed = _norco(request="Sentra PM #60", treatment="Sentra PM", generic_name=None, strength=None)
    evidence = ItemEvidence(request="Sentra PM #60", claims_administrator=CA, reviewer=REVIEWER, rationale=None)
    kept = check_item(parsed, _answer(parsed, generic_name="amino acid blend"), evidence, index=0)
    assert kept.generic_name == "amino acid blend" and kept.sources["generic_name"] == "model"
    assert not kept.needs_review


def test_a_generic_name_on_an_item_that_is_not_a_medication_is_refused() -> None:
    parsed = _norco(request="Physical therapy x 6", treatment="Physical therapy", category="physical_therapy",
                    generic_name=None, strength=None, quantity=None)
    evidence = ItemEvidence(request="Physical therapy x 6", claims_administrator=CA, reviewer=REVIEWER, rationale=None)
    kept = check_item(parsed, _answer(parsed, generic_name="ibuprofen"), evidence, index=0)
    assert kept.generic_name is None and kept.needs_review
    assert "not a medication" in kept.review_reasons[0]


def test_a_category_the_request_does_not_allow_is_refused() -> None:
    kept = check_item(_norco(), _answer(_norco(), category="equipment"), EVIDENCE, index=0)
    assert kept.category == "medication" and kept.needs_review
    assert "parser 'medication', model 'equipment'" in kept.review_reasons[0]


def test_a_category_that_differs_is_flagged_and_the_parsers_kept_even_if_allowed() -> None:
    parsed = _norco(request="Home exercise kit", treatment="Home exercise kit", category="exercise_program",
                    generic_name=None, strength=None, quantity=None)
    evidence = ItemEvidence(request="Home exercise kit", claims_administrator=CA, reviewer=REVIEWER, rationale=None)
    kept = check_item(parsed, _answer(parsed, category="equipment"), evidence, index=0)
    assert kept.category == "exercise_program" and kept.sources["category"] == "parser"
    assert kept.review_reasons == ["item 1: category: parser 'exercise_program', model 'equipment'; kept the parser's"]


def test_a_treatment_not_in_the_request_is_refused() -> None:
    kept = check_item(_norco(), _answer(_norco(), treatment="Percocet"), EVIDENCE, index=0)
    assert kept.treatment == "Norco" and kept.needs_review
    assert "parser 'Norco', model 'Percocet' (not in the request)" in kept.review_reasons[0]


@pytest.mark.parametrize("uncertain", [True, False])
def test_a_printed_treatment_replaces_the_parsers_only_where_the_parser_was_unsure(uncertain: bool) -> None:
    parsed = _norco(request="Twelve acupuncture visits with Capsaicin patch", treatment="Twelve acupuncture visits",
                    category="acupuncture", generic_name=None, strength=None, quantity=None)
    evidence = ItemEvidence(request=parsed.request, claims_administrator=CA, reviewer=REVIEWER, rationale=None,
                            treatment_uncertain=uncertain)
    kept = check_item(parsed, _answer(parsed, treatment="Acupuncture with Capsaicin patch"), evidence, index=0)
    expected = "Acupuncture with Capsaicin patch" if uncertain else "Twelve acupuncture visits"
    assert kept.treatment == expected and kept.sources["treatment"] == ("model" if uncertain else "parser")
    # either way the two readings differ, so a person decides: both values are on the flag
    assert [(f.field, f.code, f.values) for f in kept.flags] == [
        ("treatment", "model_disagrees", {"parser": "Twelve acupuncture visits", "model": "Acupuncture with Capsaicin patch"})]
    assert kept.review_reasons == [f.message for f in kept.flags]
    assert kept.review_reasons[0].endswith("kept the model's" if uncertain else "kept the parser's")


def test_a_right_model_against_a_wrong_parser_is_flagged_though_the_parsers_name_is_kept() -> None:
    request = "Three months coverage of Viagra 50mg"
    parsed = _norco(request=request, treatment="coverage of Viagra", generic_name="sildenafil", strength="50 mg",
                    quantity=None)
    evidence = ItemEvidence(request=request, claims_administrator=CA, reviewer=REVIEWER, rationale=None)
    kept = check_item(parsed, _answer(parsed, treatment="Viagra"), evidence, index=0)
    assert kept.treatment == "coverage of Viagra" and kept.needs_review
    assert [(f.field, f.code, f.values) for f in kept.flags] == [
        ("treatment", "model_disagrees", {"parser": "coverage of Viagra", "model": "Viagra"})]
    assert kept.review_reasons == ["item 1: treatment: parser 'coverage of Viagra', model 'Viagra'; kept the parser's"]


@pytest.mark.parametrize(("parser", "model"), [
    ("Norco", "hydrocodone/acetaminophen"),  # a brand and its generic
    ("MRI of the lumbar spine", "MRI lumbar spine without contrast"),  # a qualifier the guide drops
    ("Cyclobenzaprine", "cyclobenzaprine tablets"),  # a dosage form
])
def test_names_the_labelling_guide_reads_as_one_are_not_flagged(parser: str, model: str) -> None:
    parsed = _norco(treatment=parser)
    evidence = ItemEvidence(request=f"{parser} {model} 10/325mg #60", claims_administrator=CA, reviewer=REVIEWER,
                            rationale=None)
    kept = check_item(parsed, _answer(parsed, treatment=model), evidence, index=0)
    assert kept.treatment == parser and kept.sources["treatment"] == "agreed" and not kept.flags


def test_the_same_reading_in_fewer_words_keeps_the_models_wording() -> None:
    request = "Injection 5cc of lidocaine hcl 1percent"
    parsed = _norco(request=request, treatment=request, category="injection", generic_name=None, strength="1 %",
                    quantity=None)
    evidence = ItemEvidence(request=request, claims_administrator=CA, reviewer=REVIEWER, rationale=None)
    kept = check_item(parsed, _answer(parsed, treatment="Injection of lidocaine hcl"), evidence, index=0)
    assert kept.treatment == "Injection of lidocaine hcl" and kept.sources["treatment"] == "agreed" and not kept.flags
    longer = check_item(_norco(), _answer(_norco(), treatment="Norco tablets"), EVIDENCE, index=0)
    assert longer.treatment == "Norco" and longer.sources["treatment"] == "agreed"


def test_every_flag_of_the_checks_is_structured_with_both_values() -> None:
    kept = check_item(_norco(), _answer(_norco(), treatment="Percocet", category="equipment", quantity=90), EVIDENCE,
                      index=0)
    assert [(f.field, f.code) for f in kept.flags] == [
        ("quantity", "model_value_not_in_letter"), ("category", "model_value_not_allowed"),
        ("treatment", "model_value_not_in_letter")]
    assert kept.flags[2].values == {"parser": "Norco", "model": "Percocet"}
    assert kept.review_reasons == [f.message for f in kept.flags]


@pytest.mark.parametrize(("citations", "why"), [
    ([_citation([78, 79, 81])], "not in the guideline paragraph: 81"),
    ([_citation([78, 79, 80], source="ODG")], "not in the guideline paragraph: ODG"),
    ([_citation([78, 80])], "kept the parser's"),  # printed, but not the parser's reading
])
def test_citations_that_differ_from_the_parsers_keep_the_parsers(citations: list[Citation], why: str) -> None:
    kept = check_item(_norco(), _answer(_norco(), claims_administrator_guidelines=citations), EVIDENCE, index=0)
    assert kept.claims_administrator_guidelines == _norco().claims_administrator_guidelines
    assert kept.sources["claims_administrator_guidelines"] == "parser" and kept.needs_review
    assert kept.review_reasons[0].startswith("item 1: claims_administrator_guidelines: parser MTUS p. 78,79,80, model")
    assert why in kept.review_reasons[0]


def test_citations_with_the_same_sources_and_pages_agree() -> None:
    other_words = [Citation(source="MTUS", guideline="Chronic Pain", topic="Opioids, long-term", pages=[80, 79, 78])]
    kept = check_item(_norco(), _answer(_norco(), reviewer_guidelines=other_words), EVIDENCE, index=0)
    assert kept.sources["reviewer_guidelines"] == "agreed" and not kept.needs_review
    assert kept.reviewer_guidelines == _norco().reviewer_guidelines


def test_agreeing_grounded_citations_keep_the_models_wording() -> None:
    worded = [Citation(source="MTUS", guideline="Chronic Pain Medical Treatment Guidelines", topic="Opioids",
                       pages=[78, 79, 80], span=Span(start=0, end=10))]
    kept = check_item(_norco(), _answer(_norco(), claims_administrator_guidelines=worded), EVIDENCE, index=0)
    assert kept.sources["claims_administrator_guidelines"] == "agreed" and not kept.needs_review
    assert kept.claims_administrator_guidelines == worded


@pytest.mark.parametrize("uncertain", [True, False])
def test_an_agreeing_treatment_keeps_the_models_wording_only_where_the_parser_was_unsure(uncertain: bool) -> None:
    evidence = ItemEvidence(request=EVIDENCE.request, claims_administrator=CA, reviewer=REVIEWER, rationale=None,
                            treatment_uncertain=uncertain)
    kept = check_item(_norco(), _answer(_norco(), treatment="norco"), evidence, index=0)
    assert kept.treatment == ("norco" if uncertain else "Norco") and kept.sources["treatment"] == "agreed"


def test_reasons_consistent_with_the_decision_are_the_models() -> None:
    kept = check_item(_norco(), _answer(_norco(), reasons=["not_recommended", "long_term_use_not_recommended"]),
                      EVIDENCE, index=0)
    assert kept.reasons == ["not_recommended", "long_term_use_not_recommended"] and not kept.needs_review
    assert kept.sources["reasons"] == "model"


def test_reasons_that_contradict_the_decision_are_refused() -> None:
    kept = check_item(_norco(), _answer(_norco(), reasons=["guideline_criteria_met"]), EVIDENCE, index=0)
    assert kept.reasons == ["no_functional_improvement"] and kept.needs_review
    assert "inconsistent with the decision (upheld)" in kept.review_reasons[0]


def test_earlier_review_reasons_are_kept() -> None:
    parsed = _norco(needs_review=True, review_reasons=["item 1: rationale is empty"])
    kept = check_item(parsed, _answer(parsed, quantity=90), EVIDENCE, index=0)
    assert kept.review_reasons[0] == "item 1: rationale is empty" and len(kept.review_reasons) == 2


def test_evidence_holds_each_items_paragraphs() -> None:
    clean = clean_letter(read_letter(EVALS / "letters" / "CM16-0230548.pdf"))
    parsed = parse_letter(clean)
    evidence = item_evidence(clean, parsed)
    assert [e.request for e in evidence] == [i.request for i in parsed.items]
    assert all(e.reviewer and "Decision based on" in e.reviewer for e in evidence)


def test_a_correct_model_never_makes_the_gold_records_worse() -> None:
    """With the gold values as the model's answer, no field scores below the parser alone."""
    gold = load_gold(EVALS / "gold")
    offline, checked = {}, {}
    for doc_id, g in gold.items():
        path = find_letter(EVALS / "letters", doc_id)
        assert path is not None
        clean = clean_letter(read_letter(path))
        record = extract(path, backend="offline")
        evidence = item_evidence(clean, parse_letter(clean))
        items = [check_item(item, _gold_answer(g["items"][i]), evidence[i], index=i)
                 for i, item in enumerate(record.items)]
        offline[doc_id], checked[doc_id] = record, record.model_copy(update={"items": items})
    before, after = score(offline, gold), score(checked, gold)  # type: ignore[arg-type]
    assert all(after.fields[n]["correct"] >= t["correct"] for n, t in before.fields.items())
    # the false alarms a correct model costs: items the checks flag beyond the parser's own self-checks
    flagged = sum(len(c.flags) > len(o.flags) for d in gold for c, o in zip(checked[d].items, offline[d].items, strict=True))
    assert flagged <= 0.02 * before.summary["items"]


def _gold_answer(gold_item: dict[str, Any]) -> dict[str, Any]:
    answer = {name: gold_item[name] for name in JUDGEMENT_FIELDS}
    for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
        answer[name] = [Citation(**c) for c in answer[name]]
    return answer
