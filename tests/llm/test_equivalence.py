"""The one equivalence of model and parser readings: the same under the labelling guide's normalisation."""

from __future__ import annotations

import pytest

from extractor.llm.equivalence import same_category, same_treatment


@pytest.mark.parametrize(("a", "b"), [
    ("Norco", "Norco"), ("norco", "NORCO"), (None, None), ("", None),
    ("Physical therapy", "Physical therapy sessions"),  # plural, a count's noun
    ("MRI of the lumbar spine", "MRI lumbar spine without contrast"),  # function words, a qualifier
    ("Cyclobenzaprine", "Cyclobenzaprine tablets"),  # a dosage form
    ("Diazepam", "Diazepam orally as needed"),  # directions for use
    ("Xartemis XR", "Xartemis XR 7.5/325mg"),  # a strength
    ("Norco", "hydrocodone/acetaminophen"), ("Norco", "Hydrocodone/APAP"), ("Ultram", "Tramadol ER"),  # brand, generic
])
def test_the_same_reading(a: str | None, b: str | None) -> None:
    assert same_treatment(a, b) and same_treatment(b, a)


@pytest.mark.parametrize(("a", "b"), [
    ("coverage of Viagra", "Viagra"),  # words left before a drug: the guide keeps no such words
    ("Injection 5cc of lidocaine hcl 1percent", "Lidocaine hcl"),
    ("UA", "Urinalysis"),
    ("Norco", "Percocet"), ("Acupuncture", "Chiropractic treatment"), ("Norco", None),
    ("Physical therapy", "Occupational therapy"),
])
def test_different_readings(a: str, b: str | None) -> None:
    assert not same_treatment(a, b) and not same_treatment(b, a)


def test_a_surgery_or_an_injection_is_its_first_procedure() -> None:
    long, short = "Right knee arthroscopy with partial medial meniscectomy", "Right knee arthroscopy"
    assert same_treatment(long, short, "surgery") and same_treatment(short, long, "injection")
    assert not same_treatment(long, short, "imaging") and not same_treatment(long, short)


def test_categories_differ_only_in_case_and_spacing() -> None:
    assert same_category("imaging", " Imaging") and not same_category("imaging", "diagnostic_test")
    assert not same_category("other", None)
