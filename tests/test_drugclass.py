"""Drug groups, compounding and DWC categories: the labelling guide's rule applied from the data tables."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from extractor import extract
from extractor.models import Category, DrugClass, DwcCategory
from extractor.parse import drugs
from extractor.parse.drugclass import classify, ingredient, ingredients, item_groups, products
from extractor.parse.dwc import dwc_category, mapping

LETTERS = Path(__file__).resolve().parent.parent / "evals" / "letters"


@pytest.mark.parametrize(("request_text", "expected"), [
    # (1) applied to the skin: topical, whatever the ingredient, unless a transdermal opioid
    ("Lidoderm 5% patch #30", ("topical", False)),
    ("Voltaren gel 1% 100gm", ("topical", False)),
    ("Flector 1.3% transdermal patch", ("topical", False)),
    ("Diclofenac sodium 3% 300mg/g #1", ("topical", False)),
    ("Salonpas pad #60", ("topical", False)),
    ("Terocin lotion 120ml", ("topical", True)),
    ("Flurbiprofen 20%/Cyclobenzaprine 10%/Lidocaine 5% cream 180gm", ("topical", True)),
    ("Tramadol 8%/Gabapentin 10% cream", ("topical", True)),
    ("Butrans 10mcg/hr #4", ("opioid", False)),
    ("Fentanyl 25mcg/hr patch #10", ("opioid", False)),
    # (2) anything holding an opioid
    ("Norco 10/325mg #90", ("opioid", False)),
    ("Percocet 5/325mg #60", ("opioid", False)),
    ("Ultracet 37.5/325mg #60", ("opioid", False)),
    ("Nucynta 50mg #60", ("opioid", False)),
    ("Synapryn 10mg/ml oral suspension 500ml", ("opioid", True)),
    # (3) the principal ingredient's group
    ("Flexeril 10mg #60", ("muscle_relaxant", False)),
    ("Zanaflex 4mg #60", ("muscle_relaxant", False)),
    ("Soma 350mg #30", ("muscle_relaxant", False)),
    ("Tabradol 1mg/ml oral suspension, 250ml", ("muscle_relaxant", True)),
    ("Mobic 15mg #30", ("nsaid", False)),
    ("Voltaren 75mg #60", ("nsaid", False)),
    ("Vimovo 500/20mg #60", ("nsaid", False)),
    ("Duexis 800/26.6mg #90", ("nsaid", False)),
    ("Toradol 10mg #20", ("nsaid", False)),
    ("Neurontin 600mg #90", ("anticonvulsant", False)),
    ("Lyrica 75mg #60", ("anticonvulsant", False)),
    ("Topamax 50mg #60", ("anticonvulsant", False)),
    ("Cymbalta 60mg #30", ("antidepressant", False)),
    ("Elavil 25mg #30", ("antidepressant", False)),
    ("Trazodone 50mg #30", ("antidepressant", False)),
    ("Ambien 10mg #30", ("sleep_aid", False)),
    ("Lunesta 3mg #30", ("sleep_aid", False)),
    ("Belsomra 10mg #30", ("sleep_aid", False)),
    ("Silenor 6mg #30", ("sleep_aid", False)),
    ("Xanax 0.5mg #60", ("benzodiazepine", False)),
    ("Klonopin 1mg #30", ("benzodiazepine", False)),
    ("Prilosec 20mg #90", ("gastrointestinal", False)),
    ("Zofran 8mg #10", ("gastrointestinal", False)),
    ("Colace 100mg #60", ("gastrointestinal", False)),
    ("Deprizine 15mg/ml oral suspension, 250ml", ("gastrointestinal", True)),
    ("Theramine #90", ("medical_food", False)),
    ("Glucosamine 500mg #90", ("medical_food", False)),
    ("Fioricet #120", ("other", False)),
])
def test_the_rule_in_order(request_text: str, expected: tuple[str, bool]) -> None:
    generic = "/".join(drugs.generic_names(request_text)) or None
    assert classify(request_text, generic) == expected


def test_every_row_of_the_tables_is_a_drug_class_and_salts_come_off() -> None:
    classes = set(get_args(DrugClass))
    assert {row.drug_class for row in ingredients().values()} <= classes
    assert {p.drug_class for p in products().values()} - {None} <= classes
    assert len(ingredients()) >= 200
    assert ingredient("Diclofenac sodium") == ingredient("diclofenac") is not None
    assert ingredient("tramadol hcl er") == ingredient("tramadol")
    assert ingredient("unobtainium") is None


def test_common_workers_comp_drugs_get_their_group_not_other() -> None:
    """Brands the lexicon resolves land on an ingredient row; those it lacks are in the product table."""
    brands = ["Norco", "Percocet", "Oxycontin", "Dilaudid", "Nucynta", "Hysingla", "Opana", "Kadian", "Suboxone", "Belbuca",
              "Conzip", "Xartemis", "Vicoprofen", "Zohydro", "Embeda", "Flexeril", "Robaxin", "Skelaxin", "Soma", "Amrix",
              "Lorzone", "Zanaflex", "Dantrium", "Celebrex", "Naprosyn", "Relafen", "Lodine", "Daypro", "Feldene",
              "Zorvolex", "Zipsor", "Tivorbex", "Fenortho", "Neurontin", "Gralise", "Horizant", "Lyrica", "Cymbalta",
              "Effexor", "Wellbutrin", "Pamelor", "Savella", "Desyrel", "Remeron", "Ambien", "Lunesta", "Sonata",
              "Restoril", "Valium", "Ativan", "Protonix", "Nexium", "Zantac", "Pepcid", "Zofran", "Phenergan", "Senokot",
              "Miralax", "Relistor", "Movantik", "Amitiza", "Linzess"]
    wrong = {b: group for b in brands
             if (group := classify(f"{b} 10mg #30", "/".join(drugs.generic_names(b)) or None)[0]) == "other"}
    assert not wrong, wrong


def test_non_medications_get_no_drug_class_but_a_dwc_category() -> None:
    assert item_groups("MRI of the lumbar spine", "imaging", None) == {
        "drug_class": None, "compounded": None, "dwc_category": "diagnostic_testing"}
    assert item_groups("Norco 10/325mg #90", "medication", "hydrocodone/acetaminophen") == {
        "drug_class": "opioid", "compounded": False, "dwc_category": "pharmaceuticals"}


def test_every_category_has_a_dwc_category() -> None:
    assert set(mapping()) == {c.value for c in Category}
    assert set(mapping().values()) <= set(get_args(DwcCategory))
    assert dwc_category(Category.equipment) == "dmepos" and dwc_category("functional_restoration") == "programs"


def test_the_parser_fills_them_on_every_item() -> None:
    record = extract(LETTERS / "imr-002.txt")
    medications = [i for i in record.items if i.category == "medication"]
    assert medications and all(i.drug_class and i.compounded is not None for i in medications)
    assert all(i.drug_class is None and i.compounded is None for i in record.items if i.category != "medication")
    assert all(i.dwc_category for i in record.items)
