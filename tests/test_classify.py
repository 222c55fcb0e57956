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
    # a name printed in parentheses right after a drug or test stays; a quantity or qualifier there does not
    ("Meloxicam (Mobic) 7.5mg #30", "Meloxicam (Mobic)", "medication"),
    ("Hydrocodone/APAP (Norco) 10/325mg #60", "Hydrocodone/APAP (Norco)", "medication"),
    ("Deprizine (unknown quantity)", "Deprizine", "medication"),
    ("Synapryn (10mg/1ml oral suspension) 500ml", "Synapryn", "medication"),
    ("Functional capacity evaluation (FCE)", "Functional capacity evaluation (FCE)", "diagnostic_test"),
    ("MRI (magnetic resonance imaging) of the lumbar spine", "MRI (magnetic resonance imaging) of the lumbar spine", "imaging"),
    ("MRI of the right shoulder (1.5 Tesla Closed)", "MRI of the right shoulder", "imaging"),
    # directions for use drop, and a word in them names no service ("exam", "RN")
    ("Diazepam (Valium) 5mg take 1 tab orally 1 hour before exam, may repeat dose 1/2 hour after first dose for anxiety",
     "Diazepam (Valium)", "medication"),
    ("Percocet 10/325 RN #60", "Percocet", "medication"),
    ("Lidoderm 5% patch apply topically 12 hours on 12 hours off #30", "Lidoderm", "medication"),
    ("Suboxone 8mg/2mg SL film twice daily", "Suboxone", "medication"),
    ("Twelve acupuncture visits with Capsaicin patch, 2 times weekly", "Acupuncture with Capsaicin patch", "acupuncture"),
    # "with" + a drug is part of the product's name
    ("Acetaminophen with codeine #3", "Acetaminophen with codeine", "medication"),
    # leading frequency words, labels and "sessions of" are not the name
    ("Daily Naproxen 550mg #60", "Naproxen", "medication"),
    ("Daily RN for 4 weeks for wound care", "RN", "home_care"),
    ("Monthly follow-up visits", "Follow-up visits", "consultation"),
    ("Compound cream: Flurbiprofen 20%/Lidocaine 5%", "Flurbiprofen/Lidocaine", "medication"),
    ("Series of 3 Euflexxa injections for the left knee", "Euflexxa injections for the left knee", "injection"),
    ("Sessions of physical therapy, 6, for the neck", "Physical therapy", "physical_therapy"),
    ("Labs: CBC, CMP, PT/PTT", "CBC, CMP, PT/PTT", "lab_test"),
    ("Pre-operative labs (CBC, BMP, PT/PTT)", "CBC, BMP, PT/PTT", "lab_test"),
    ("Labs - CBC, CMP", "CBC, CMP", "lab_test"),
    ("Qty 90 Norco 10/325", "Norco", "medication"),
    ("60 tablets of Norco 10/325mg", "Norco", "medication"),
    ("Continued use of Norco 10/325mg", "Norco", "medication"),
    ("Norco (hydrocodone/APAP) 10/325mg #90", "Norco (hydrocodone/APAP)", "medication"),
    # a number that qualifies the next noun is no count
    ("Three phase bone scan to the left foot", "Three phase bone scan to the left foot", "imaging"),
    # tests keep test and body part; contrast, field strength, views, counts and purposes drop wherever they stand
    ("MRI without contrast of the right elbow", "MRI of the right elbow", "imaging"),
    ("MRI w/o contrast lumbar spine", "MRI lumbar spine", "imaging"),
    ("MRI of the lumbosacral spine without contrast, 1.5 Tesla or higher only", "MRI of the lumbosacral spine", "imaging"),
    ("Thoracic spine x-ray AP and lateral", "Thoracic spine x-ray", "imaging"),
    ("NCV of the bilateral lower extremities, 2", "NCV of the bilateral lower extremities", "diagnostic_test"),
    ("MRI of the lumbar spine for evaluation of radiculopathy", "MRI of the lumbar spine", "imaging"),
    ("MRI for lumbar spine with contrast", "MRI for lumbar spine", "imaging"),
    ("EMG/NCV bilateral upper extremities to rule out carpal tunnel syndrome", "EMG/NCV bilateral upper extremities",
     "diagnostic_test"),
    # services: counted "treatments" and "and treatment" go, visits keep their noun
    ("Physical therapy treatments for the left shoulder wrist and hip", "Physical therapy", "physical_therapy"),
    ("Occupational therapy evaluation and treatment", "Occupational therapy evaluation", "physical_therapy"),
    ("Pain management consultation and treatment", "Pain management consultation", "consultation"),
    ("Follow-up visit in 4 weeks", "Follow-up visit", "consultation"),
    # categories: range-of-motion testing, lab panels, equipment, specialist evaluations
    ("Computerized range of motion (ROM) testing", "Computerized range of motion (ROM) testing", "diagnostic_test"),
    ("Computerized ROM", "Computerized ROM", "diagnostic_test"),
    ("Inclinometry", "Inclinometry", "diagnostic_test"),
    ("Work capacity evaluation", "Work capacity evaluation", "diagnostic_test"),
    ("Range of motion exercises", "Range of motion exercises", "physical_therapy"),
    ("Physical therapy to improve ROM", "Physical therapy", "physical_therapy"),
    ("Arterial doppler", "Arterial doppler", "imaging"),
    ("Vitamin D level", "Vitamin D level", "lab_test"),
    ("Rheumatoid factor", "Rheumatoid factor", "lab_test"),
    ("Hepatic and renal function panel", "Hepatic and renal function panel", "lab_test"),
    ("Knee immobilizer", "Knee immobilizer", "equipment"),
    ("Foot rest", "Foot rest", "equipment"),
    ("Massage chair", "Massage chair", "equipment"),
    ("Lumbar sacral orthosis (LSO) brace", "Lumbar sacral orthosis (LSO) brace", "equipment"),
    ("Physical medicine and rehabilitation consultation", "Physical medicine and rehabilitation consultation",
     "consultation"),
    ("Evaluation for a functional restoration program", "Evaluation for a functional restoration program",
     "functional_restoration"),
    ("Manipulation under anesthesia of the lumbar spine", "Manipulation under anesthesia of the lumbar spine", "surgery"),
    ("Interferential current stimulation", "Interferential current stimulation", "physical_therapy"),
    ("Cardiology clearance prior to surgery", "Cardiology clearance", "consultation"),
    # a visit to a treating therapist takes the therapy's category, as "Chiropractic evaluation" does
    ("Referral to a chiropractor, 6 visits", "Referral to a chiropractor", "chiropractic"),
    ("Referral to a physical therapist for evaluation and treatment", "Referral to a physical therapist",
     "physical_therapy"),
    ("Consult with psychologist", "Consult with psychologist", "psychological"),
    ("Referral to orthopedic surgeon", "Referral to orthopedic surgeon", "consultation"),
    ("Second opinion for lumbar surgery", "Second opinion", "consultation"),
    ("Spinal decompression therapy (VAX-D) 20 sessions", "Spinal decompression therapy (VAX-D)", "physical_therapy"),
    ("Left ulnar nerve transposition", "Left ulnar nerve transposition", "surgery"),
    ("Right knee Synvisc injection series of 3", "Right knee Synvisc injection", "injection"),
])
def test_treatment_name_and_category(request_: str, name: str, category: str) -> None:
    assert _treatment(request_) == (name, category)


@pytest.mark.parametrize(("request_", "name"), [
    # the first procedure with its side and site; what follows "with", "and", "vs", "possible", a comma or an
    # abbreviation is a sub-procedure
    ("Right shoulder arthroscopy RCR (rotator cuff repair) and decompression", "Right shoulder arthroscopy"),
    ("Left shoulder arthroscopy with Bankart repair, possible biceps tenodesis", "Left shoulder arthroscopy"),
    ("Lumbar laminectomy at L4-5 vs. fusion", "Lumbar laminectomy at L4-5"),
    ("Left knee arthroscopy, partial medial meniscectomy and chondroplasty", "Left knee arthroscopy"),
    ("Right total knee arthroplasty with 3 day inpatient stay", "Right total knee arthroplasty"),
    ("Post-operative 2 day inpatient stay", "Post-operative inpatient stay"),
    # words that only name sites or levels are not sub-procedures; one procedure's words stay together
    ("Neuroplasty, lumbar spine", "Neuroplasty, lumbar spine"),
    ("L4-5 and L5-S1 posterior lumbar fusion", "L4-5 and L5-S1 posterior lumbar fusion"),
    ("Right knee arthroscopic partial meniscectomy", "Right knee arthroscopic partial meniscectomy"),
    ("Arthroscopy of the left knee", "Arthroscopy of the left knee"),
    ("Two level ACDF C5-C7", "Two level ACDF C5-C7"),
    # injections the same way; their own abbreviation in parentheses stays
    ("Lumbar epidural steroid injection with pain interventionist consult and treatment", "Lumbar epidural steroid injection"),
    ("Facet joint injections L4-5, L5-S1", "Facet joint injections L4-5, L5-S1"),
    ("Platelet rich plasma (PRP) injection left elbow", "Platelet rich plasma (PRP) injection left elbow"),
])
def test_procedure_keeps_its_first_procedure(request_: str, name: str) -> None:
    assert _treatment(request_)[0] == name
    assert _treatment(request_)[1] in ("surgery", "injection")


@pytest.mark.parametrize(("request_", "name"), [
    ("Pain cream", "Pain cream"),
    ("Topical compounded medication", "Topical compounded medication"),
    ("Compound cream #1", "Compound cream"),
])
def test_a_medication_that_names_no_drug_keeps_its_head_noun_phrase_and_is_flagged(request_: str, name: str) -> None:
    found = classify.treatment(request_, has_drug=False)
    assert (found.name, found.category, found.certain) == (name, Category.medication, False)


def test_a_name_the_rules_cannot_reduce_keeps_the_phrase_before_the_leftover_and_is_flagged() -> None:
    """A count or frequency left inside a name (no rule took it off) ends the name there and flags it."""
    found = classify.treatment("Cervical collar worn 2 hours per day", has_drug=False)
    assert (found.name, found.category, found.certain) == ("Cervical collar worn", Category.equipment, False)
    assert classify.treatment("Cervical collar for 2 weeks", has_drug=False).certain


@pytest.mark.parametrize(("text", "strength"), [
    ("Norco 7.5-325mg #112", "7.5/325 mg"),
    ("Suboxone 8mg/2mg SL film", "8/2 mg"),
    ("Norco 10/325mg #90", "10/325 mg"),
    ("Lidopro 4%-27.5%-0.0325% 121gm #1", "4/27.5/0.0325 %"),
])
def test_combination_strengths(text: str, strength: str) -> None:
    assert drugs.strength(text) == strength


def test_a_product_adds_no_generic_its_ingredients_already_gave() -> None:
    assert drugs.generic_names("Hydrocodone/APAP (Norco) 10/325mg") == ["hydrocodone", "acetaminophen"]
    assert drugs.generic_names("Norco and Percocet") == ["hydrocodone/acetaminophen", "oxycodone/acetaminophen"]


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
