"""Rules for the judgement fields: treatment category, short treatment name and reason codes.

A best effort for the offline backend; the LLM backends fill these from the text instead.
"""

from __future__ import annotations

import re

from .models import Category, Decision, Reason

# First match wins: specific services before the generic medication test.
_CATEGORY_RULES: list[tuple[Category, re.Pattern[str]]] = [
    (Category.functional_restoration, re.compile(r"functional restoration|\bHELP\b|multidisciplinary|interdisciplinary", re.I)),
    (Category.diagnostic_test, re.compile(r"electroencephalogra|\bSSEP\b|evoked potential|\bEMG\b|\bNCV\b|\bNCS\b|electromyogra|nerve conduction|electrodiagnos|\bEKG\b|\bECG\b|electrocardiogra|functional capacity|\bFCE\b|sleep study|polysomnogra|range of motion test|grip strength|\bEEG\b|impedance imaging|\bVNG\b|audiogra|echocardiogra", re.I)),
    (Category.imaging, re.compile(r"\bMRI\b|magnetic resonance|\bCT\b|computed tomography|x-?rays?\b|radiograph|ultrasound|sonogra|bone scan|\bscan\b|arthrogram|myelogra|discogra", re.I)),
    (Category.lab_test, re.compile(r"\blabs?\b|urine|drug screen|drug test|blood|\bCBC\b|\bCMP\b|\bBMP\b|panel|urinalysis|PT/PTT|\bINR\b|genetic|toxicology|laboratory", re.I)),
    (Category.home_care, re.compile(r"\bRN\b|\bLVN\b|wound care|home health|home care|\baide\b|nursing|\bnurse\b|caregiver|housekeep", re.I)),
    (Category.exercise_program, re.compile(r"gym|home exercise kit|exercise program|\bYMCA\b|pool membership|membership", re.I)),
    (Category.acupuncture, re.compile(r"acupuncture|electroacupuncture", re.I)),
    (Category.chiropractic, re.compile(r"chiropract|chiro|manipulation|\bCMT\b", re.I)),
    (Category.psychological, re.compile(r"psych|cognitive behavio|\bCBT\b|biofeedback|counsel|hospitalization|mental health", re.I)),
    (Category.injection, re.compile(r"injection|\bblock\b|epidural|\bESI\b|radiofrequency|ablation|rhizotomy|trigger point|botox|\bPRP\b|viscosupplement|synvisc|cortisone shot", re.I)),
    (Category.physical_therapy, re.compile(r"hand therapy|electrical (?:muscle )?stimulation|e-?stim\b|manual therapy|physical therapy|\bPT\b|physiotherapy|occupational therapy|\bOT\b|aqua|aquatic|massage|myofascial|infrared|physical medicine|work hardening|work conditioning|rehabilitation|therapeutic exercise|traction|ultrasound therapy|iontophoresis|rehab", re.I)),
    (Category.surgery, re.compile(r"surgery|surgical|arthroscop|arthroplasty|fusion|laminectomy|discectomy|decompression|repair|release\b|neuroplasty|-ectomy|ectomy\b|otomy\b|plasty\b|assistant surgeon|\bPA assist|assistant\b|post-?op(?:erative)? stay|inpatient stay|hospital stay|replacement|reconstruction", re.I)),
    (Category.equipment, re.compile(r"\bTENS\b|H-?wave|\bunit\b|brace|orthotic|orthosis|splint|cane|walker|crutch|wheelchair|cold therapy|cryotherapy|game ready|compression|\bDME\b|durable medical|pillow|mattress|\bbed\b|cushion|\bsupport\b|collar|sling|shoe|insoles?|stimulator|kit\b|hearing aids?|gloves|wipes|workstation|commode|\bpads?\b|garment|device|scooter|chair", re.I)),
    (Category.consultation, re.compile(r"\bTOC\b|transfer of care|consult|referral|evaluation|follow[- ]up|office visit|\bvisit\b|clearance|specialist|second opinion|pain management|\bexam\b|re-?evaluation", re.I)),
]
_MEDICATION = re.compile(r"\d\s*(?:mg|mcg|%|ml|gm|g)\b|#\s*\d|\bpatch|\bcream|\btablets?\b|\bcapsules?\b|\bointment|\bgel\b|refills?|medication|compound|\btopical", re.I)
_NUMBER = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty[- ]four)"
_LEADING = re.compile(
    r"^(?:associated(?:\s+surgical)?\s+services?:\s*|(?:pre-?op(?:erative)?\s+)?labs?(?:\s+to\s+include)?:\s*|"
    r"(?:\d+\s+)?(?:(?:a|one)\s+)?(?:prescriptions?|rx)\s+(?:of|for)\s+|pre-?op(?:erative)?\s+|request\s+for\s+|purchase\s+of\s+(?:an?\s+)?|continuation\s+(?:of|for)\s+|additional\s+|outpatient\s+|initial\s+|continued?\s+|unknown\s+|trial\s+of\s+|"
    r"single\s+positional\s+|MARS\s+|" + _NUMBER + r"(?:\s*\(\d+\))?\s+(?:(?:additional|more|initial)\s+)?"
    r"(?:(?:month|week|day|session|visit|treatment|container|refill)s?\s+(?:of\s+)?)?)+",
    re.I,
)
_DRUG_LEADING = re.compile(r"^(?:post-?op(?:erative)?\s+|pre-?op(?:erative)?\s+)+", re.I)
_SERVICE_END = re.compile(
    r"\s*(?:\d|\(|\[|,|:|;|\bfor\b|\bto\b|\btimes\b|\bx\b|\bx\d|\bqty\b|\bquantity\b|\bof the\b|\bon the\b|\bat\b|"
    r"\bper\b|\bpurchase\b|\brental\b|\bsessions?\b|(?<!office )\bvisits?\b|\badditional\b|\b" + _NUMBER + r"\b|"
    r"\b(?:bilateral|left|right|lumbar|cervical|thoracic|neck|low back|lower back|knee|shoulder|wrist|hand|hip|ankle|elbow|foot)\b)",
    re.I,
)
_CONSULT_END = re.compile(r"\s*(?:\d|\(|\[|,|;|\bfor\b|\bto\b|\bx\s*\d|\btimes\b)", re.I)
_WITH = re.compile(r"\s+with\b.*$", re.I)
_TEST_END = re.compile(
    r"\s*(?:\bwith(?:out)? contrast\b.*$|\(DOS.*$|\bDOS\b.*$|\bQTY\b.*$|\bquantity\b.*$|\(unknown quantity\)|,\s*as an outpatient.*$|"
    r"\bper\b.*$|\bx\s*\d.*$|\btimes\s+\d.*$|\s*#.*$|\[.*$)",
    re.I,
)
_EXPANSION = re.compile(r"\s*\((?:magnetic resonance imaging|computed tomography|electromyography|nerve conduction[^)]*)\)", re.I)
_CONSULT_FIRST = re.compile(r"^(?:consult|referral|evaluation|follow[- ]up|office visit)", re.I)
_KEEP_WHOLE = {Category.surgery.value, Category.injection.value}
_EQUIPMENT_END = re.compile(
    r"\s*(?:,|\bfor\b|\(|#|\bx\s*\d|\b\d+[- ](?:days?|weeks?|months?)\b|\bpurchase\b|\brental\b).*$", re.I)
_GUIDANCE = re.compile(r"\s+(?:under|with)\s+(?:fluoroscop\w*|ultrasound|CT|imaging)(?:\s+guidance)?\b.*$", re.I)
_ACUPUNCTURE = re.compile(r"^((?:\w+\s+)?acupuncture)\s+(?:therapy|treatments?)$", re.I)
_TEST_CATEGORIES = {Category.imaging.value, Category.diagnostic_test.value, Category.lab_test.value}


def core_request(request: str) -> str:
    """The request without what is not the service: "Associated surgical service:", counts, "Labs:"."""
    return _LEADING.sub("", request.strip()) or request.strip()


def drug_request(request: str) -> str:
    """The request as a medication: also without "Post-op"."""
    return _DRUG_LEADING.sub("", core_request(request))


def categorise(request: str, *, has_drug: bool) -> Category:
    """The contract's category for a request, by keyword; medications by strength, form or a known drug."""
    request = core_request(request)
    if _CONSULT_FIRST.match(request):
        return Category.consultation
    for category, pattern in _CATEGORY_RULES:
        if pattern.search(request):
            if category is Category.equipment and has_drug and _MEDICATION.search(request):
                return Category.medication
            return category
    if has_drug or _MEDICATION.search(request):
        return Category.medication
    return Category.other


def admits(request: str, category: Category | str, *, has_drug: bool) -> bool:
    """Whether the request's own words allow ``category``: its vocabulary matches, or, for a
    medication, a known drug, a strength or a form is printed. ``other`` only when nothing matches."""
    value = category.value if isinstance(category, Category) else category
    core = core_request(request)
    if value == Category.medication.value:
        return has_drug or bool(_MEDICATION.search(core))
    if value == Category.other.value:
        return categorise(request, has_drug=has_drug) is Category.other
    if value == Category.consultation.value and _CONSULT_FIRST.match(core):
        return True
    return any(c.value == value and pattern.search(core) for c, pattern in _CATEGORY_RULES)


def service_name(request: str, category: Category | str) -> str:
    """Short name of a non-drug request: tests keep their body part, surgery and injections their
    site, other services drop body part, frequency and duration."""
    name = _EXPANSION.sub("", core_request(request))
    value = category.value if isinstance(category, Category) else category
    if value in _TEST_CATEGORIES or value in _KEEP_WHOLE:
        name = _GUIDANCE.sub("", _TEST_END.sub("", name))
    elif value == Category.equipment.value:
        name = _EQUIPMENT_END.sub("", name)
    else:
        if value != Category.consultation.value:
            name = _WITH.sub("", name)
        m = (_CONSULT_END if value == Category.consultation.value else _SERVICE_END).search(name, 1)
        name = name[: m.start()] if m else name
    name = _ACUPUNCTURE.sub(r"\1", name.strip(" ,.;:-"))
    return name[:1].upper() + name[1:] if name else request.strip()


# (reason, words one of which the rationale must contain for the pattern to be worth trying, pattern)
_REASON_RULES: list[tuple[Reason, tuple[str, ...], re.Pattern[str]]] = [
    (Reason.primary_treatment_not_necessary, ("surg", "procedure"), re.compile(r"(?:primary|associated|requested) (?:procedure|surgery|surgical)[^.]{0,80}not (?:medically necessary|been (?:established|authorized|certified))|since the (?:surgery|procedure)[^.]{0,60}not|(?:surgery|procedure) (?:is|was|has) not (?:been )?(?:medically necessary|authorized|certified)")),
    (Reason.no_functional_improvement, ("functional",), re.compile(r"(?:\bno\b|\bnot\b|lack of|without|absence of|fail(?:ed|s)? to)[^.]{0,80}functional (?:improvement|benefit|gains?)|functional (?:improvement|benefit)[^.]{0,40}(?:not|no) (?:documented|noted|established)")),
    (Reason.no_pain_relief_documented, ("relief", "efficacy", "effectiveness", "reduction", "analgesic"), re.compile(r"(?:\bno\b|\bnot\b|lack of|without|absence of)[^.]{0,60}(?:pain relief|efficacy|effectiveness|pain reduction|reduction in pain|analgesic (?:effect|benefit))")),
    (Reason.long_term_use_not_recommended, ("term", "course", "chronic use", "exceed", "beyond", "weeks"), re.compile(r"long[- ]term|short[- ]term|short course|chronic use|exceed(?:s|ed|ing)?\b[^.]{0,60}(?:weeks|recommend|guideline)|beyond \d+ (?:weeks|days)|(?:2|3|two|three)[- ]to[- ](?:3|4|three|four) weeks")),
    (Reason.not_recommended, ("recommend",), re.compile(r"(?:is|are) not recommended|recommend against|does not recommend|do not recommend")),
    (Reason.not_recommended, ("supported",), re.compile(r"not supported by (?:the )?guidelines")),
    (Reason.indication_not_documented, ("red flag", "radiculopathy", "neurologic", "indication", "diagnosis", "objective", "clinical findings", "documented"), re.compile(r"(?:\bno\b|\bnot\b|lack of|absence of|without)[^.]{0,60}(?:red flag|radiculopathy|neurologic|indication|diagnosis|objective (?:findings|evidence)|clinical findings|documented (?:diagnosis|condition))")),
    (Reason.prerequisites_not_met, ("fail", "first", "home exercise", "trial", "prior to", "conservative"), re.compile(r"fail(?:ed|ure)? (?:of )?(?:first[- ]line|conservative|a trial)|first[- ]line|home exercise|trial of|prior to|(?:has|have) not (?:tried|failed)|conservative (?:care|treatment)")),
]


def reasons(rationale: str, decision: Decision) -> list[Reason]:
    """Reason codes that the rationale's wording points to."""
    if decision == "overturned":
        return [Reason.guideline_criteria_met]
    text = rationale.lower()
    found: list[Reason] = []
    for reason, keywords, pattern in _REASON_RULES:
        if reason not in found and any(k in text for k in keywords) and pattern.search(text):
            found.append(reason)
    return found[:3] or [Reason.other]
