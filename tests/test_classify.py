"""Treatment names and categories by the labelling guide (evals/LABELING.md), from the service vocabulary
(extractor/parse/data/services.csv) and the drug lexicon."""

import csv
import re
from pathlib import Path

import pytest

from extractor import extract
from extractor.models import Category
from extractor.parse import classify, drugs

SERVICES_CSV = Path(__file__).resolve().parent.parent / "extractor" / "parse" / "data" / "services.csv"
ROWS = list(csv.DictReader(SERVICES_CSV.open(encoding="utf-8", newline="")))


def _treatment(request: str) -> tuple[str, str]:
    found = classify.treatment(request, has_drug=bool(drugs.generic_names(request)))
    return found.name, found.category.value


def test_vocabulary_rows_are_well_formed() -> None:
    assert len(ROWS) > 20
    for row in ROWS:
        assert set(row) == {"pattern", "category", "keeps_site", "example"}, row
        re.compile(row["pattern"])
        Category(row["category"])
        assert row["keeps_site"] in ("yes", "no") and row["example"], row


@pytest.mark.parametrize("row", ROWS, ids=[r["example"] for r in ROWS])
def test_every_row_classifies_its_own_example(row: dict[str, str]) -> None:
    """Each row's example reaches that row first: a row shadowed by an earlier one fails here."""
    found = classify.find_service(row["example"])
    assert found is not None and found.pattern.pattern == row["pattern"]
    assert classify.categorise(row["example"], has_drug=False).value == row["category"]


@pytest.mark.parametrize(("request_", "name", "category"), [
    # other services: no body site, frequency or duration; leading counts and words off, modifiers kept
    ("Physical therapy for the cervical spine 2 times a week", "Physical therapy", "physical_therapy"),
    ("Cervical spine physical therapy 2x4", "Physical therapy", "physical_therapy"),
    ("Lumbar spine, physical therapy, 8 sessions", "Physical therapy", "physical_therapy"),
    ("Post-op physical therapy 2 times a week for 4 weeks", "Post-op physical therapy", "physical_therapy"),
    ("Twelve manual acupuncture visits (15 mins), 2 times weekly for 6 weeks", "Manual acupuncture", "acupuncture"),
    ("Chiropractic spinal manipulation times 6", "Chiropractic spinal manipulation", "chiropractic"),
    ("Spinolator therapy (traction) times 6", "Spinolator therapy (traction)", "physical_therapy"),
    ("Three (3) month gym membership", "Gym membership", "exercise_program"),
    ("Home cervical traction for 6 weeks", "Home cervical traction", "physical_therapy"),
    ("Prospective request for 6 sessions of acupuncture", "Acupuncture", "acupuncture"),
    # modalities given in sessions are therapy, not equipment or imaging
    ("Pulsed Ultrasound 2 times a week for 4 weeks", "Pulsed Ultrasound", "physical_therapy"),
    ("Hot/cold pack therapy times 6", "Hot/cold pack therapy", "physical_therapy"),
    # tests keep the test and body part, without contrast, views or panel prefixes
    ("MRI of the lumbar spine without contrast", "MRI of the lumbar spine", "imaging"),
    ("Ultrasound of the right shoulder", "Ultrasound of the right shoulder", "imaging"),
    ("X-ray of the lumbar spine, 3 views", "X-ray of the lumbar spine", "imaging"),
    ("Pre-operative lab testing: CBC", "CBC", "lab_test"),
    ("Preoperative labs including CBC and BMP", "CBC and BMP", "lab_test"),
    ("X-rays of the cervical spine, AP/lateral/flexion/extension views", "X-rays of the cervical spine", "imaging"),
    ("Urine drug screen 4 times a year", "Urine drug screen", "lab_test"),
    ("Comprehensive metabolic panel", "Comprehensive metabolic panel", "lab_test"),
    ("Range of motion testing of the lumbar spine", "Range of motion testing of the lumbar spine", "diagnostic_test"),
    # surgery and injections keep side and site, without image guidance
    ("Ultrasound guided corticosteroid injection to the right shoulder",
     "Corticosteroid injection to the right shoulder", "injection"),
    ("Right L5 transforaminal epidural steroid injection under fluoroscopic guidance",
     "Right L5 transforaminal epidural steroid injection", "injection"),
    ("Kenalog 40mg injection to the right knee", "Kenalog injection to the right knee", "injection"),
    ("Right knee total knee arthroplasty with 3 day inpatient stay", "Right knee total knee arthroplasty", "surgery"),
    # equipment keeps what it is, without side, purchase, rental or duration
    ("Bilateral hearing aids", "Hearing aids", "equipment"),
    ("Home cervical traction unit, 30 day rental", "Home cervical traction unit", "equipment"),
    ("Rental of a TENS unit for 30 days", "TENS unit", "equipment"),
    ("Post-operative DME: cold therapy unit", "Cold therapy unit", "equipment"),
    # visits: evaluations by a specialist are consultations, with their own qualifiers
    ("Neurosurgical consultation", "Neurosurgical consultation", "consultation"),
    ("Orthopedic surgeon evaluation for the right shoulder", "Orthopedic surgeon evaluation", "consultation"),
    ("Pre-op Clearance", "Pre-op Clearance", "consultation"),
    ("TOC to ortho spine surgeon eval and treatment", "TOC to ortho spine surgeon", "consultation"),
    ("Right shoulder orthopedic consultation", "Orthopedic consultation", "consultation"),
    # medications: the drug name as written; directions for use, route and frequency dropped
    ("Lorzone 750mg one by mouth three times a day #45", "Lorzone", "medication"),
    ("Gabapentin 300mg, take 1 capsule orally three times daily, #90", "Gabapentin", "medication"),
    ("Motrin 800mg po tid #90", "Motrin", "medication"),
    ("Oxycodone HCL ER 20mg #60 day supply: 30", "Oxycodone HCL ER", "medication"),
    ("Tramadol extended release 150mg #30", "Tramadol extended release", "medication"),
])
def test_treatment_name_and_category(request_: str, name: str, category: str) -> None:
    assert _treatment(request_) == (name, category)


def test_unrecognised_request_keeps_its_head_noun_phrase_and_is_uncertain() -> None:
    found = classify.treatment("Quadruple widget recalibration procedure bundle for the left knee", has_drug=False)
    assert (found.name, found.category, found.certain) == (
        "Quadruple widget recalibration procedure bundle", Category.other, False)
    assert classify.treatment("Acupuncture 12 sessions", has_drug=False).certain


def test_uncertain_treatment_is_a_warning_on_the_record(tmp_path: Path) -> None:
    letter = tmp_path / "odd.txt"
    letter.write_text("IMR ISSUES, DECISIONS AND RATIONALES\n"
                      "Quadruple widget recalibration procedure bundle for the left knee: Upheld\n"
                      "Decision rationale: Not medically necessary.\n"
                      "Acupuncture 12 sessions: Overturned\n"
                      "Decision rationale: Medically necessary.\n")
    record = extract(letter)
    warned = [w.item for w in record.warnings if w.code == "treatment_uncertain"]
    assert warned == [0]
