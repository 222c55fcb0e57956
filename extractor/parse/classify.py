"""Rules for the judgement fields: treatment category, short treatment name and reason codes.

A best effort for the offline backend; the LLM backends fill these from the text instead.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import lazy_re
from ..models import Category, Decision, Reason
from . import drugs

SERVICES_CSV = Path(__file__).resolve().parent / "data" / "services.csv"


@dataclass(frozen=True)
class Service:
    """One row of the service vocabulary: what it matches, its category, and whether its name keeps the body site.
    (The table's ``example`` column is for the tests: each row must classify its own example.)"""

    pattern: re.Pattern[str]
    category: Category
    keeps_site: bool


@dataclass(frozen=True)
class Treatment:
    """A request's short treatment name and category; ``certain`` is False where the name is only the
    request's head noun phrase: no known service or drug was recognised, or the rules left a count or
    frequency in it."""

    name: str
    category: Category
    certain: bool = True


@lru_cache(maxsize=1)
def services() -> tuple[Service, ...]:
    """The service vocabulary (``extractor/parse/data/services.csv``), in priority order: the first row that matches wins."""
    with SERVICES_CSV.open(encoding="utf-8", newline="") as f:
        return tuple(
            Service(lazy_re.compile(row["pattern"], re.I), Category(row["category"]), row["keeps_site"] == "yes")
            for row in csv.DictReader(f)
        )


_MEDICATION = lazy_re.compile(r"\d\s*(?:mg|mcg|%|ml|gm|g|IU|units)\b|#\s*\d|\bpatch|\bcream|\btablets?\b|\bcapsules?\b|\bointment|\bgel\b|refills?|medication|compound|\btopical|\bbalm\b|creme\b|supplements?\b|probiotics?\b", re.I)
_NUMBER = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty[- ]four)"
# A number before these qualifies the noun ("Three phase bone scan", "Two level ACDF"): it is not a count.
_NOT_A_COUNT = r"(?!(?:phase|level|dimensional|D|compartment|point|wheel\w*|in)\b)"
# A leading frequency is not part of the name ("Daily RN" -> "RN", "Monthly follow-up visits").
_FREQUENCY = r"(?:daily|nightly|weekly|bi-?weekly|monthly|quarterly)"
_LEADING = lazy_re.compile(
    r"^(?:associated(?:\s+surgical)?\s+services?:\s*|retro(?:spective)?\s+|(?:DOS|date\s+of\s+service)\s*:?\s*[\d/-]+\s+|(?:(?:pre|post)-?op(?:erative)?\s+)?(?:DME|durable\s+medical\s+equipment|equipment|supplies)\s*:\s*|"
    r"(?:(?:pre|post)-?op(?:erative)?\s+)?(?:labs?|laboratory|lab\s+work|blood\s*work|(?:(?:lab|laboratory|blood|diagnostic)\s+)?(?:tests?|testing|studies|panel))"
    r"(?:\s*:\s*|\s+[-\u2013]\s+|\s+(?:to\s+)?(?:include|including)\s*:?\s*)|"
    r"(?:\d+\s+)?(?:(?:a|one)\s+)?(?:prescriptions?|rx)\s+(?:of|for)\s+|pre-?op(?:erative)?\s+|(?:prospective\s+)?request\s+for\s+|prospective\s+|authori[sz]ation\s+(?:for|of)\s+|(?:sessions?|visits?|treatments?|series|course|(?:continued\s+)?use|weaning|tapering)\s+of\s+|(?:qty|quantity)\s*:?\s*\d+\s+(?:of\s+)?|#\s*\d+\s+|(?:purchase|rental)\s+of\s+(?:an?\s+)?|continuation\s+(?:of|for)\s+|additional\s+|outpatient\s+|initial\s+|continued?\s+|unknown\s+|trial\s+of\s+|"
    r"single\s+positional\s+|MARS\s+|repeat\s+|" + _FREQUENCY + r"\s+|" + _NUMBER + r"(?:\s*\(\d+\))?\s+" + _NOT_A_COUNT + r"(?:(?:additional|more|initial)\s+)?"
    r"(?:(?:(?:month|week|day|year|session|visit|treatment|container|refill|tablet|capsule|tube|bottle|pack)s?|patch(?:es)?|box(?:es)?)"
    r"\s+(?:of\s+)?)?)+",
    re.I,
)
_DRUG_LEADING = lazy_re.compile(r"^(?:post-?op(?:erative)?\s+|pre-?op(?:erative)?\s+)+", re.I)
# A panel prefix with its tests in parentheses: "Labs (CBC, BMP)" names "CBC, BMP", as "Labs: CBC, BMP" does.
_PANEL_IN_PARENTHESES = lazy_re.compile(
    r"^(?:labs?|laboratory(?:\s+(?:tests?|studies))?|lab\s+(?:tests?|work)|blood\s*(?:tests?|work))\s*\(([^()]+)\)\s*$", re.I)
# A label before a medication ("Compound cream:", "Topical compound:") is not its name.
_LABEL = lazy_re.compile(r"^([A-Za-z][\w -]{0,30}):\s*(?=\S)")
# Image guidance qualifies a procedure; it must neither name nor categorise it.
_GUIDANCE = lazy_re.compile(
    r"^(?:ultrasound|fluoroscop\w*|CT|image)[- ]guided\s+|\s+(?:under|with)\s+(?:fluoroscop\w*|ultrasound|CT|imaging)(?:\s+guidance)?\b.*$",
    re.I)
_SITE_WORDS = (r"left|right|bilateral|both|upper|lower|mid|cervical|thoracic|lumbar|lumbosacral|sacral|sacroiliac|spine|"
               r"neck|back|low|head|shoulders?|knees?|hips?|wrists?|hands?|elbows?|ankles?|foot|feet|legs?|arms?|"
               r"extremit(?:y|ies)|trapezius|fingers?|thumbs?|toes?|pelvis|jaw|TMJ|abdomen|groin|buttocks?|forearms?|heels?|"
               r"[CTLS]\d(?:-[CTLS]?\d)?|RUE|LUE|RLE|LLE|BUE|BLE")
_LATERAL = lazy_re.compile(r"(?:left|right|bilateral)\b", re.I)
_SITE = lazy_re.compile(r"^(?:" + _SITE_WORDS + r")$", re.I)
# Where a service name that keeps no body site ends: frequency, duration, counts, body sites, purpose.
_SERVICE_END = lazy_re.compile(
    r"\s*(?:\d|\((?![A-Za-z][A-Za-z /-]*\))|\((?:unknown|unspecified)|\[|,|:|;|\bfor\b|\bto\b|\btimes\b|\bx\b|\bx\d|\bqty\b|\bquantity\b|\bof the\b|\bon the\b|\bat\b|"
    r"\bper\b|\bpurchase\b|\brental\b|\badditional\b|\s\band\s+(?:treat|test)\w*|\b" + _NUMBER + r"\b|"
    r"\b(?:" + _SITE_WORDS + r")\b)",
    re.I,
)
# "sessions"/"visits" count a service without naming it: "acupuncture visits with Capsaicin patch".
# "treatments" counts a therapy the same way: "Physical therapy treatments" -> "Physical therapy".
_SESSIONS = lazy_re.compile(r"\s+(?<!office )(?:sessions?|visits?)\b|(?<=therapy)\s+treatments?\b", re.I)
_CONSULT_END = lazy_re.compile(
    r"\s*(?:\d|\(|\[|,|;|\bfor\b|\bto\b|\bx\s*\d|\btimes\b|\band\s+treat|\bprior\s+to\b|\bbefore\b|\b(?:in|within|every|after)\s+(?:a\b|" + _NUMBER + r"\b))",
    re.I)
# After "TOC to"/"Referral to" + whom, the visit's own "eval and treatment" is its purpose, not its name.
_WHOM_PURPOSE = lazy_re.compile(r"\s+(?:eval\w*|consult\w*)$", re.I)
_CONSULT_TO = lazy_re.compile(r"(?:TOC|transfer\s+of\s+care|referral|consult\w*)\s+(?:to|with)\s+", re.I)
# Visits keep their own qualifiers ("Initial exam", "Pre-op Clearance"); only these openings come off.
_CONSULT_LEADING = lazy_re.compile(
    r"^(?:associated(?:\s+surgical)?\s+services?:\s*|request\s+for\s+|(?:\d+|one|two|three|four|five|six)\s+(?=\w)|"
    + _FREQUENCY + r"\s+)+", re.I)
_TEST_END = lazy_re.compile(
    r"\s*(?:\(DOS.*$|\bDOS\b.*$|\bQTY\b.*$|\bquantity\b.*$|\(unknown quantity\)|,\s*as an outpatient.*$|,\s*\d+\s*$|"
    r",\s*(?:standing|weight[- ]bearing|upright|supine|AP|PA|lateral|oblique|flexion|extension)\b.*$|\s(?-i:AP|PA)\b.*$|"
    r"\b(?:to\s+)?(?:rule\s+out|r/o)\b.*$|,?\s*(?:a\s+)?series\s+of\s+(?:\d+|" + _NUMBER + r")\b.*$|\bto\s+(?:evaluate|assess|determine|confirm|check|monitor)\b.*$|\bper\b.*$|\bx\s*\d.*$|\b(?:\d+|one|two|three|four)\s+times\b.*$|\btimes\s+\d.*$|\s*#.*$|\[.*$|,?\s*\b\d+\s+views?\b.*$|,[\w/ -]*\bviews?\b.*$|(?:\s+(?:with|and|for))?\s+\d+[- ](?:days?|nights?)\b.*$|,\s*(?:once|twice|quarterly|monthly|annually|yearly)\b.*$|"
    # a purpose after the test ("for evaluation of radiculopathy"); "for" + a body site stays ("MRI for lumbar spine")
    r"\bfor\b(?!\s+(?:the\s+|both\s+)?(?:" + _SITE_WORDS + r")\b).*$)",
    re.I,
)
# Qualifiers of how a test is done, wherever they stand: contrast, field strength, views in parentheses.
_TEST_QUALIFIER = lazy_re.compile(
    r",?\s*\b(?:with\s+and\s+without|without\s+and\s+with|with\s*/\s*without|w/\s*(?:and\s+)?w/o|without|with|w/o|w/|non-?)"
    r"\s*(?:IV\s+)?(?:contrast|dye|gadolinium)\b(?:\s+(?:material|media|agent))?|"
    r",?\s*\(?\b\d+(?:\.\d+)?\s*-?\s*T(?:esla)?\b(?:\s+(?:or\s+higher|or\s+greater|closed|open|only|magnet|scanner))*\)?|"
    r"\s*\((?=[^)]*(?:\d|\bviews?\b|\bAP\b|\bPA\b|lateral|oblique|flexion|extension|standing|weight[- ]bearing|upright|closed|open\b))[^)]*\)",
    re.I,
)
# Where a sub-procedure may begin after a procedure's first name (the labelling guide's surgery rule):
# "with", "and", "vs", "possible", a comma, a parenthesis or an abbreviation such as "RCR".
_SUB_PROCEDURE = lazy_re.compile(
    r"\s*(?:[,;]|\((?![A-Z]{2,6}\))|\b(?i:with|and|vs|versus|possible|plus|or|including|to\s+include)\b\.?)\s*|\s+(?=[A-Z]{2,5}\b)")
# Words that only say where: what a procedure keeps after its name ("Neuroplasty, lumbar spine", "L4-5, L5-S1").
_WHERE = lazy_re.compile(r"^(?:" + _SITE_WORDS + r"|spine|and|of|the|at|on|in|to|levels?|bilaterally|region|joint)$", re.I)
# A stay's length inside a procedure's name: "Post-operative 2 day inpatient stay" -> "Post-operative inpatient stay".
_STAY_LENGTH = lazy_re.compile(r"\b(?:\d+|one|two|three|four|five)[- ](?:days?|nights?)\s+(?=\w)", re.I)
_EQUIPMENT_END = lazy_re.compile(
    r"\s*(?:,|:|\bfor\b|\((?![A-Za-z][A-Za-z /-]*\))|#|\bx\s*\d|\b\d+[- ](?:days?|weeks?|months?)\b|\bpurchase\b|\brental\b|\btimes\b).*$", re.I)
_ACUPUNCTURE = lazy_re.compile(r"^((?:\w+\s+)?acupuncture)\s+(?:therapy|treatments?)$", re.I)
_PROCEDURES = {Category.surgery, Category.injection}
_TEST_CATEGORIES = {Category.imaging, Category.diagnostic_test, Category.lab_test}
# What is left of a medication request that names no drug, only a form, a class or a purpose.
_NOT_A_DRUG_NAME = lazy_re.compile(
    r"^(?:(?:medications?|meds|creams?|pain|topicals?|compound(?:ed)?|analgesics?|ointments?|gels?|lotions?|patch(?:es)?|"
    r"unknown|unspecified|other)(?:\s+|/|$))+$", re.I)
# What a reduced name must not hold: quantities, frequencies, durations, or a dangling word at its end.
_LEFTOVER = lazy_re.compile(
    r"\s*(?:#|\btimes\b|\bx\s*\d|\bper\b|\b\d+\s*(?:sessions?|visits?|hours?|hrs?|days?|weeks?|months?)\b).*$|"
    r"(?:\s+(?:in|of|to|for|with|and|or|the|a|an|at|on|by|from|x))+\s*$", re.I)
# A fallback name longer than this is not a short name: the request is flagged.
_MAX_UNCERTAIN_WORDS = 4


def core_request(request: str) -> str:
    """The request without what is not the service: "Associated surgical service:", counts, "Labs:", image guidance."""
    core = _LEADING.sub("", request.strip()) or request.strip()
    core = _PANEL_IN_PARENTHESES.sub(r"\1", core)
    return _GUIDANCE.sub("", core) or core


def drug_request(request: str) -> str:
    """The request as a medication: also without "Post-op" and a label that names no drug."""
    core = _DRUG_LEADING.sub("", core_request(request))
    label = _LABEL.match(core)
    return core[label.end():] if label and not drugs.generic_names(label[1]) else core


@lru_cache(maxsize=4096)
def find_service(request: str, *, has_drug: bool = False) -> Service | None:
    """The first vocabulary row that matches where the request may name a service (see ``_service_words``).
    Cached: the self-checks ask again about the requests the parser just read."""
    core = _service_words(request, has_drug=has_drug)
    return next((service for service in services() if service.pattern.search(core)), None)


def _service_words(request: str, *, has_drug: bool) -> str:
    """Where a service may be named: the request's core; for a request naming a drug, only the words before its
    directions for use ("Diazepam 5mg take 1 tab orally 1 hour before exam" names no visit)."""
    core = core_request(request)
    if not has_drug:
        return core
    return drugs.before_directions(core) or core


def categorise(request: str, *, has_drug: bool) -> Category:
    """The contract's category for a request: the vocabulary's, else medication for a known drug or a dosage."""
    return _category(request, find_service(request, has_drug=has_drug), has_drug=has_drug)


def admits(request: str, category: Category | str, *, has_drug: bool) -> bool:
    """Whether the request's own words allow ``category``: a vocabulary row of that category matches,
    or, for a medication, a known drug, a strength or a form is printed. ``other`` only when nothing matches."""
    value = category.value if isinstance(category, Category) else category
    core = core_request(request)
    if value == Category.medication.value:
        return has_drug or bool(_MEDICATION.search(core))
    if value == Category.other.value:
        return categorise(request, has_drug=has_drug) is Category.other
    words = _service_words(request, has_drug=has_drug)
    return any(s.category.value == value and s.pattern.search(words) for s in services())


def _category(request: str, found: Service | None, *, has_drug: bool) -> Category:
    if found and not (found.category is Category.equipment and has_drug and _MEDICATION.search(request)):
        return found.category
    if has_drug or _MEDICATION.search(request):
        return Category.medication
    return Category.other


def treatment(request: str, *, has_drug: bool) -> Treatment:
    """Short name and category of a request, following the labelling guide: drugs by name; tests, surgery,
    injections and equipment with their site; other services as their head noun phrase, without body site,
    frequency or duration."""
    found = find_service(request, has_drug=has_drug)
    category = _category(request, found, has_drug=has_drug)
    if category is Category.medication:
        name = drugs.drug_name(drug_request(request))
        if name and not _NOT_A_DRUG_NAME.match(name):
            return Treatment(name, category, certain=drugs.names_a_drug(name))
        # only a form or a class is printed ("Pain cream", "Topical compounded medication"): its head noun phrase
        head = " ".join(drugs.without_strength(drugs.before_directions(drug_request(request))).split()).strip(" ,.;:-")
        return Treatment(_capitalise(head) or request.strip(), category, certain=False)
    core = core_request(request)
    if category is Category.consultation:
        name = _consult_name(_CONSULT_LEADING.sub("", request.strip()))
    elif category is Category.equipment:
        name = _EQUIPMENT_END.sub("", _drop_leading(core, _LATERAL))
    elif category in _PROCEDURES:
        name = _TEST_END.sub("", _STAY_LENGTH.sub("", _first_procedure(drugs.without_strength(core), found)))
    elif category in _TEST_CATEGORIES or (found and found.keeps_site):
        name = _TEST_END.sub("", " ".join(_TEST_QUALIFIER.sub(" ", drugs.without_strength(core)).split()))
    else:
        name = _head_phrase(core, found)
    name = _ACUPUNCTURE.sub(r"\1", name.strip(" ,.;:-"))
    leftover = _LEFTOVER.search(name)
    if leftover:  # a count, frequency or dangling word the rules did not reduce: keep the phrase before it, flagged
        name = name[: leftover.start()].strip(" ,.;:-")
    name = _capitalise(name) or request.strip()
    short = len(name.split()) <= _MAX_UNCERTAIN_WORDS
    return Treatment(name, category, certain=not leftover and (found is not None or short))


def _first_procedure(name: str, service: Service | None) -> str:
    """A surgery's or injection's first procedure with its side and site: what follows it after "with", "and",
    "vs", "possible", a comma or an abbreviation is a sub-procedure and drops, unless it only names sites or levels
    ("Right shoulder arthroscopy RCR (rotator cuff repair) and decompression" -> "Right shoulder arthroscopy",
    "Facet joint injections L4-5, L5-S1" stays)."""
    named = service.pattern.search(name) if service else None
    if not named:
        return name
    markers = list(_SUB_PROCEDURE.finditer(name, named.end()))
    for i, marker in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(name)
        words = re.findall(r"[\w-]+", name[marker.end(): end])
        if words and not all(_WHERE.match(word) for word in words):
            return name[: marker.start()]
    return name


def _drop_leading(name: str, words_to_drop: re.Pattern[str]) -> str:
    """``name`` without its leading laterality or body-site words (at least one word stays)."""
    words = name.split()
    while len(words) > 1 and words_to_drop.fullmatch(words[0].strip(",;:")):
        words.pop(0)
    return " ".join(words)


def _head_phrase(core: str, service: Service | None) -> str:
    """What a request names before the first body site, count, frequency or purpose after its service word:
    its head noun phrase ("Lumbar spine, physical therapy, 8 sessions" -> "physical therapy",
    "Home cervical traction for 6 weeks" -> "Home cervical traction")."""
    core = _SESSIONS.sub("", _drop_leading(core, _SITE))
    named = service.pattern.search(core) if service else None
    m = _SERVICE_END.search(core, max(1, named.end() if named else 0))
    return core[: m.start()] if m else core


def _consult_name(request: str) -> str:
    """A visit as printed up to its purpose or frequency; "Referral to"/"TOC to"/"Consult with" keep whom."""
    name = _drop_leading(request, _SITE) if _LATERAL.match(request) else request
    opening = _CONSULT_TO.match(name)
    m = _CONSULT_END.search(name, opening.end() if opening else 1)
    name = name[: m.start()] if m else name
    return _WHOM_PURPOSE.sub("", name) if opening else name


def _capitalise(name: str) -> str:
    return name[:1].upper() + name[1:]


# (reason, words one of which the rationale must contain for the pattern to be worth trying, pattern)
_REASON_RULES: list[tuple[Reason, tuple[str, ...], re.Pattern[str]]] = [
    (Reason.primary_treatment_not_necessary, ("surg", "procedure"), lazy_re.compile(r"(?:primary|associated|requested) (?:procedure|surgery|surgical)[^.]{0,80}not (?:medically necessary|been (?:established|authorized|certified))|since the (?:surgery|procedure)[^.]{0,60}not|(?:surgery|procedure) (?:is|was|has) not (?:been )?(?:medically necessary|authorized|certified)")),
    (Reason.no_functional_improvement, ("functional",), lazy_re.compile(r"(?:\bno\b|\bnot\b|lack of|without|absence of|fail(?:ed|s)? to)[^.]{0,80}functional (?:improvement|benefit|gains?)|functional (?:improvement|benefit)[^.]{0,40}(?:not|no) (?:documented|noted|established)")),
    (Reason.no_pain_relief_documented, ("relief", "efficacy", "effectiveness", "reduction", "analgesic"), lazy_re.compile(r"(?:\bno\b|\bnot\b|lack of|without|absence of)[^.]{0,60}(?:pain relief|efficacy|effectiveness|pain reduction|reduction in pain|analgesic (?:effect|benefit))")),
    (Reason.long_term_use_not_recommended, ("term", "course", "chronic use", "exceed", "beyond", "weeks"), lazy_re.compile(r"long[- ]term|short[- ]term|short course|chronic use|exceed(?:s|ed|ing)?\b[^.]{0,60}(?:weeks|recommend|guideline)|beyond \d+ (?:weeks|days)|(?:2|3|two|three)[- ]to[- ](?:3|4|three|four) weeks")),
    (Reason.not_recommended, ("recommend",), lazy_re.compile(r"(?:is|are) not recommended|recommend against|does not recommend|do not recommend")),
    (Reason.not_recommended, ("supported",), lazy_re.compile(r"not supported by (?:the )?guidelines")),
    (Reason.indication_not_documented, ("red flag", "radiculopathy", "neurologic", "indication", "diagnosis", "objective", "clinical findings", "documented"), lazy_re.compile(r"(?:\bno\b|\bnot\b|lack of|absence of|without)[^.]{0,60}(?:red flag|radiculopathy|neurologic|indication|diagnosis|objective (?:findings|evidence)|clinical findings|documented (?:diagnosis|condition))")),
    (Reason.prerequisites_not_met, ("fail", "first", "home exercise", "trial", "prior to", "conservative"), lazy_re.compile(r"fail(?:ed|ure)? (?:of )?(?:first[- ]line|conservative|a trial)|first[- ]line|home exercise|trial of|prior to|(?:has|have) not (?:tried|failed)|conservative (?:care|treatment)")),
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
