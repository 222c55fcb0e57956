"""The parser's self-checks: inconsistencies in its own reading of a letter, as ``Flag``s.

Each check looks only at a record's values and the letter's text as read (what the spans index), so it
applies as well to records made by older versions of the parser: that is how the checks and the
confidence built on them are measured on letters the rules were not written for
(``benchmarks/calibrate.py``). The codes are stable (the README's trust section lists them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .. import lazy_re
from ..models import Category, Citation, ExtractionWarning, Flag, Item, Record
from ..parse import classify, drugs

ItemCheck = Callable[[Item, int, "LetterView"], Iterator[Flag]]

# A date of service as the labelling guide reads one: after "DOS" or "date(s) of service", not any date.
_DOS = lazy_re.compile(r"\b(?:DOS|dates?\s+of\s+service)\b\W{0,4}(?:on\s+|from\s+)?(?:\d|[A-Z][a-z]+\.?\s+\d)", re.I)
_RETROSPECTIVE = lazy_re.compile(r"\bretro(?:spective)?\b", re.I)
# What a short name must not keep: a dose or volume, a count of sessions or pills, a frequency or duration.
_QUANTITY_IN_NAME = lazy_re.compile(
    r"\d\s*(?:mg|mcg|ml|cc|g|gm|grams?|%|percent|units?|iu)\b|#\s*\d|\b\d+\s*(?:x|times)\b|\bx\s*\d|"
    r"\b(?:\d+|one|two|three|four|five|six|eight|ten|twelve)\s+(?:sessions?|visits?|treatments?|tablets?|tabs?|capsules?|"
    r"refills?|days?|weeks?|months?|hours?|hrs?|bottles?|tubes?|boxes?|patch(?:es)?)\b|"
    r"\b(?:daily|nightly|weekly|monthly|bid|tid|qid|prn|qhs|q\d+h?|per\s+(?:day|week|month)|as needed|refills?)\b",
    re.I)
_FUNCTION_WORD = r"(?:of|for|to|with|and|or|the|a|an|at|on|in|by|from|per|x|is|as|times|plus|vs)"
_DANGLING = lazy_re.compile(rf"^{_FUNCTION_WORD}(?=\s)|(?<=\s){_FUNCTION_WORD}$", re.I)
# Words a medication's name may carry before its drug: a form or release word, a compound's label.
_BEFORE_DRUG_OK = lazy_re.compile(
    r"(?:compound(?:ed)?|topical|oral|generic|brand|extended|immediate|sustained|delayed|release|ER|XR|IR|CR|SR|"
    r"transdermal|ophthalmic|nasal|injectable|liquid|vitamin)$", re.I)
_STRENGTH_NUMBERS = lazy_re.compile(r"(\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)*)\s*[a-z%]")
_DOSE = lazy_re.compile(r"(\d+(?:\.\d+)?(?:\s*[/-]\s*\d+(?:\.\d+)?)*)\s*(?:mg|mcg|%)(?![a-z])", re.I)
_UNREAD_DOSE = lazy_re.compile(r"\d+(?:\.\d+)?\s*(?:cc|percent|units?)\b", re.I)
# A request that is partly the original request's remainder must say which part it is.
_ORIGINAL_MARK = lazy_re.compile(r"was\s+the\s+original\s+request", re.I)
# The rationale's conclusion: the last verdict about medical necessity it states.
_VERDICT = lazy_re.compile(
    r"(?P<neg>\b(?:not|no\s+longer|neither)\s+(?:been\s+)?(?:medically\s+)?(?:necessary|indicated|appropriate|supported|"
    r"established|warranted|recommended)|\bnon-?certif\w*|\bnot\s+certified)|"
    r"(?P<pos>\b(?:is|are|was|were|has\s+been|have\s+been)\s+(?:medically\s+necessary|(?:therefore\s+)?(?:appropriate|indicated|"
    r"supported|warranted|established)))", re.I)
_GUIDELINE_LABELS = lazy_re.compile(r"(?P<ca>Claims\s+Administrator\s+guideline:)|(?P<rev>MAXIMUS\s+guideline:)|"
                                    r"(?P<rat>Decision\s+rationale:)", re.I)
# What a guideline paragraph may say besides its citations: "Decision based on", labels, and the stock
# sentences that say nothing was cited ("The Expert Reviewer did not cite any medical evidence for its decision.").
_PARAGRAPH_FILLER = lazy_re.compile(
    r"(?:The\s+)?(?:Claims\s+Administrator|Expert\s+Reviewer|Professional\s+Reviewer)\b[^.]*(?:\.|$)|"
    r"Decision\s+based\s+on|Section\(s\)|Page\(s\)|Guidelines?|None\s+cited|Non-?MTUS|Citation|"
    r"\b(?:the|and|of|on|not|cited|by|or)\b|[^A-Za-z]+", re.I)
_TOPIC_MISPLACED = lazy_re.compile(r"\b(?:ODG|MTUS|ACOEM|Official\s+Disability|Chapter|section|Edition|updated)\b|"
                                   r"\b(?:19|20)\d\d\b|^\(|^(?:Guidelines?|Procedures)$", re.I)
_BODY = lazy_re.compile(r"\b(?:Low\s+Back|Lumbar|Neck|Shoulder|Knee|Elbow|Hip|Pelvis|Forearm|Wrist|Ankle|Foot|Head)\b", re.I)
_WEB_WORK = lazy_re.compile(r"https?://\S+|(?<!/)www\.\S+", re.I)
_DECISION_RATIONALE = lazy_re.compile(r"Decision\s+rationale:", re.I)
_HEADER_LABELS = {
    "case_number": r"Case\s+Number:", "date_assigned": r"Date\s+Assigned:", "date_of_injury": r"Date\s+of\s+Injury:",
    "decision_date": r"Decision\s+Date:", "ur_denial_date": r"UR\s+Denial\s+Date:", "priority": r"Priority:",
    "application_received_date": r"Application\s+Received:",
    "reviewer_specialty": r"^(?:Certification\(s\)/)?Specialty:", "reviewer_licensure": r"^(?:State\(s\) of )?Licensure:",
}
_TABLE_FIELDS = {"case_number", "date_assigned", "date_of_injury", "decision_date", "ur_denial_date", "priority",
                 "application_received_date"}
# Words of a request that name no service: what is asked (purchase, rental, coverage) or how (trial, continued).
_LEADING_REQUEST_WORD = lazy_re.compile(
    r"(?:purchase|rental|rent|continuation|continued?|coverage|request|authori[sz]ation|supply|trial|use|refills?|"
    r"renewal|retro\w*|additional|outpatient|prospective|unknown|unspecified|associated|dispense|prescription|"
    r"daily|weekly|monthly|(?:one|two|three|four|five|six|eight|ten|twelve)(?!\s+(?:phase|level|dimensional|D|"
    r"compartment|point|wheel\w*)\b))\b", re.I)
# What parentheses after a name may hold that is no name: a quantity, a purpose, a view, a side.
_NOT_A_NAME = lazy_re.compile(r"(?:unknown|unspecified|quantity|qty|retro|prospective|purchase|rental|left|right|bilateral|"
                              r"for\b|to\b|per\b|x\b|times|views?|DOS|date)", re.I)
_PARENTHESIS_AFTER = lazy_re.compile(r"([A-Za-z][A-Za-z\-]+)\s*\(\s*([A-Za-z][A-Za-z /-]*)\)")
_CONNECTOR = lazy_re.compile(r"\s(?:with(?!\s+(?:and\s+)?(?:out\s+)?contrast)|vs\.?|versus|under|possible|and/or|plus)\s", re.I)
_PROCEDURE_CATEGORIES = {Category.surgery.value, Category.injection.value}
_LONG_NAME_WORDS = 6
_LONG_SITED_NAME_WORDS = 9
# Categories whose names are a head noun phrase, without a body site (the labelling guide): a long one is odd.
_HEAD_PHRASE_CATEGORIES = {c.value for c in (Category.medication, Category.physical_therapy, Category.chiropractic,
                                               Category.acupuncture, Category.psychological, Category.home_care,
                                               Category.exercise_program, Category.functional_restoration,
                                               Category.other)}
_LONG_REQUEST_WORDS = 45
_SHORT_RATIONALE_CHARS = 80
_UNPARSED_CHARS = 25


class LetterView:
    """A record beside the text its spans index, with the parser's item warnings by item."""

    def __init__(self, record: Record, text: str) -> None:
        self.record = record
        self.text = text
        self.paragraphs_printed = len(_DECISION_RATIONALE.findall(text))
        self.items_miscounted = record.layout in ("A", "B") and self.paragraphs_printed != len(record.items)
        self.item_warnings: dict[int, list[ExtractionWarning]] = {}
        for w in record.warnings:
            if w.item is not None:
                self.item_warnings.setdefault(w.item, []).append(w)

    def warned(self, index: int, code: str) -> ExtractionWarning | None:
        return next((w for w in self.item_warnings.get(index, []) if w.code == code), None)

    def paragraphs(self, item: Item) -> dict[str, tuple[int, int]]:
        """Where the item's guideline paragraphs (``claims_administrator_guidelines``, ``reviewer_guidelines``) are
        printed between its request and its rationale; none where the layout puts them elsewhere."""
        req, rat = item.spans.get("request"), item.spans.get("rationale")
        if req is None or rat is None or rat.start <= req.end:
            return {}
        marks = list(_GUIDELINE_LABELS.finditer(self.text, req.end, rat.start))
        found = {}
        for i, m in enumerate(marks):
            name = "claims_administrator_guidelines" if m["ca"] else "reviewer_guidelines" if m["rev"] else None
            if name:
                found[name] = (m.end(), marks[i + 1].start() if i + 1 < len(marks) else rat.start)
        return found


def _flag(field: str, code: str, message: str, **values: object) -> Flag:
    return Flag(field=field, code=code, message=message, values=values)  # type: ignore[arg-type]


def _dropped_parenthesis(request: str, name: str) -> bool:
    """The request prints a name in parentheses right after a word the treatment keeps ("Diazepam (Valium) 5mg",
    "MRI (magnetic resonance imaging) of the knee"), and the treatment drops it."""
    kept = {w.lower() for w in _words(name)}
    return any(m[1].lower() in kept and not _NOT_A_NAME.match(m[2]) for m in _PARENTHESIS_AFTER.finditer(request))


def _printed(name: str, request: str) -> bool:
    """Every word of the name is printed in the request (case aside)."""
    printed = {w.lower() for w in _words(request)}
    return all(w.lower() in printed for w in _words(name))


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z\-]+", text)


def check_treatment(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """The short name: the parser's own doubt, and what a short name must not hold."""
    n, name = index + 1, item.treatment
    if view.warned(index, "treatment_uncertain"):
        yield _flag("treatment", "treatment_uncertain",
                    f"item {n}: treatment {name!r}: the parser could not reduce the request with confidence", parser=name)
    elif _QUANTITY_IN_NAME.search(name):
        yield _flag("treatment", "name_has_quantity",
                    f"item {n}: treatment {name!r} keeps a dose, count or frequency", parser=name)
    elif _DANGLING.search(name.strip(" .,;:-")):
        yield _flag("treatment", "name_function_word",
                    f"item {n}: treatment {name!r} begins or ends with a function word", parser=name)
    elif _LEADING_REQUEST_WORD.match(name):
        yield _flag("treatment", "words_before_service",
                    f"item {n}: treatment {name!r} begins with a word of the request, not of the service", parser=name)
    elif item.category in _PROCEDURE_CATEGORIES and _CONNECTOR.search(name):
        yield _flag("treatment", "name_has_subprocedure",
                    f"item {n}: treatment {name!r} keeps what follows its first procedure", parser=name)
    elif "(" not in name and _dropped_parenthesis(item.request, name):
        yield _flag("treatment", "parenthesis_dropped",
                    f"item {n}: treatment {name!r} drops the name in parentheses printed after it", parser=name)
    elif not _printed(name, item.request):
        yield _flag("treatment", "name_not_in_request", f"item {n}: treatment {name!r} holds words the request does not "
                    "print", parser=name, request=item.request)
    elif len(name.split()) > (_LONG_NAME_WORDS if item.category in _HEAD_PHRASE_CATEGORIES else _LONG_SITED_NAME_WORDS):
        yield _flag("treatment", "name_long", f"item {n}: treatment {name!r} is long for a short name", parser=name)
    if item.spans and "request" not in item.spans:
        yield _flag("request", "request_not_located", f"item {n}: the request is not found where its heading is printed",
                    parser=item.request)
    if len(item.request.split()) > _LONG_REQUEST_WORDS:
        yield _flag("request", "request_long", f"item {n}: the request is {len(item.request.split())} words long: "
                    "the heading may hold more than one item or text before it", parser=item.request)


def check_medication(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """A medication: a drug the lexicon knows, named first, with no more strengths than ingredients."""
    if item.category != Category.medication.value:
        return
    n, name = index + 1, item.treatment
    words = _words(name)
    first = next((i for i, w in enumerate(words) if drugs.generic_names(w)), None)
    if not item.generic_name or first is None:
        yield _flag("generic_name", "drug_unknown",
                    f"item {n}: medication {name!r}: the drug lexicon knows no drug in it", parser=item.generic_name)
    elif first > 0 and not all(_BEFORE_DRUG_OK.match(w) for w in words[:first]):
        lead = " ".join(words[:first])
        yield _flag("treatment", "words_before_drug",
                    f"item {n}: treatment {name!r}: {lead!r} stands before the drug's name", parser=name)
    ingredients = len(item.generic_name.split("/")) if item.generic_name else 0
    if item.strength and ingredients and _strength_count(item.strength) > ingredients:
        yield _flag("generic_name", "strengths_exceed_ingredients",
                    f"item {n}: strength {item.strength!r} has more parts than generic {item.generic_name!r} has "
                    "ingredients: a combination product may be read as one drug",
                    parser=item.generic_name, strength=item.strength)
    printed = {n for m in _DOSE.finditer(item.request) for n in re.split(r"\s*[/-]\s*", m[1])}
    if item.strength and not printed <= set(re.findall(r"\d+(?:\.\d+)?", item.strength)):
        yield _flag("strength", "strength_partial", f"item {n}: strength {item.strength!r} leaves out doses printed in "
                    f"the request", parser=item.strength, request=item.request)
    if not item.strength and (_DOSE.search(item.request) or _UNREAD_DOSE.search(item.request)):
        yield _flag("strength", "dose_unread", f"item {n}: the request prints a dose the parser did not read as strength",
                    request=item.request)


def _strength_count(strength: str) -> int:
    """The most ingredients one printed strength doses: "7.5/325 mg" 2; "3 % 300 mg/g" 1 (two ways to say one dose)."""
    return max((len(m[1].split("/")) for m in _STRENGTH_NUMBERS.finditer(strength)), default=0)


def check_category(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """A category that fell to ``other``, or that only a generic word or a dosage decided."""
    n = index + 1
    has_drug = bool(item.generic_name) or bool(drugs.generic_names(item.request))
    service = classify.find_service(item.request, has_drug=has_drug)
    if item.category == Category.other.value:
        if service is None:  # fell to other: the vocabulary's own "other" services are decided
            yield _flag("category", "category_other", f"item {n}: category other: no service or drug was recognised "
                        f"in {item.request!r}", parser=item.category)
        return
    if item.category == Category.medication.value and not has_drug:
        yield _flag("category", "category_weak", f"item {n}: category medication from a dose or form alone, no drug "
                    "named", parser=item.category)
        return
    if item.category != Category.medication.value and has_drug and _DOSE.search(item.request):
        yield _flag("category", "category_not_medication", f"item {n}: category {item.category}, but the request "
                    "names a drug and its dose", parser=item.category)
        return
    if service is not None and service.category.value == item.category:
        core = classify.core_request(item.request)
        found = service.pattern.search(core)
        if found and found[0].strip().lower() in _GENERIC_SERVICE_WORDS:
            yield _flag("category", "category_weak", f"item {n}: category {item.category} decided by the generic words "
                        f"{found[0].strip()!r}", parser=item.category)


# Vocabulary words too general to decide a category alone: "Hyperbaric oxygen therapy" is no physical therapy.
_GENERIC_SERVICE_WORDS = {"therapy", "treatment", "treatments", "exam", "examination", "rehabilitation", "rehab",
                          "program", "services"}


def check_dates(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """A date of service printed in the request or the original request but not read; a request that says it is
    retrospective not marked so; a partial request whose original was not read."""
    n = index + 1
    printed = next((text for text in (item.request, item.original_request) if text and _DOS.search(text)), None)
    if item.date_of_service is None and printed:
        yield _flag("date_of_service", "date_unread", f"item {n}: a date of service is printed in {printed!r} but none "
                    "was read", request=printed)
    if not item.retrospective and (printed or _RETROSPECTIVE.search(item.original_request or "")):
        yield _flag("retrospective", "retrospective_unread", f"item {n}: the request names a date of service or says "
                    "retrospective, but the item is not marked retrospective", request=item.request)
    heading = _heading_text(item, view)
    if item.original_request is None and heading and _ORIGINAL_MARK.search(heading):
        yield _flag("original_request", "original_unread", f"item {n}: the heading names an original request that "
                    "was not read", request=item.request)


def _heading_text(item: Item, view: LetterView) -> str:
    span = item.spans.get("request")
    if span is None:
        return ""
    return view.text[max(0, span.start - 600): span.end]


def check_rationale(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """A missing or short rationale, and a decision its conclusion contradicts."""
    n = index + 1
    if view.warned(index, "paragraph_missing") or view.warned(index, "empty_rationale"):
        yield _flag("rationale", "paragraph_missing", f"item {n}: a paragraph of the item was not found")
    elif len(item.rationale) < _SHORT_RATIONALE_CHARS:
        yield _flag("rationale", "rationale_short", f"item {n}: the rationale is {len(item.rationale)} characters long")
    verdict = conclusion(item.rationale)
    if verdict is not None and verdict != item.decision:
        yield _flag("decision", "decision_contradicts_rationale",
                    f"item {n}: decision {item.decision} but the rationale concludes it is "
                    f"{'not ' if verdict == 'upheld' else ''}medically necessary", parser=item.decision)


def conclusion(rationale: str) -> str | None:
    """``upheld`` or ``overturned`` as the rationale's last sentence that states a verdict says; None if none does."""
    sentences = re.split(r"(?<=[.!?])\s+", rationale.strip())
    for sentence in reversed(sentences[-3:]):
        if "necess" not in sentence.lower() and "certif" not in sentence.lower():
            continue
        found = list(_VERDICT.finditer(sentence))
        if found:
            return "upheld" if found[-1]["neg"] else "overturned"
    return None


def check_citations(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """A citation whose topic holds what belongs elsewhere; a guideline paragraph with text no citation covers, or
    one citation that holds two works."""
    n = index + 1
    for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
        odd = next((c for c in getattr(item, name) if _odd_citation(c)), None)
        if odd is not None:
            yield _flag(name, "citation_shape", f"item {n}: {name}: citation {odd.guideline!r} / {odd.topic!r} holds "
                        "a source, chapter, edition or second work in its topic", guideline=odd.guideline, topic=odd.topic)
    for name, (start, end) in view.paragraphs(item).items():
        citations: list[Citation] = getattr(item, name)
        left = list(view.text[start:end])
        for c in citations:
            if c.span is not None:
                left[max(0, c.span.start - start): max(0, c.span.end - start)] = " " * max(0, c.span.end - max(start, c.span.start))
        rest = " ".join(_PARAGRAPH_FILLER.sub(" ", "".join(left)).split())
        if len(rest.replace(" ", "")) >= _UNPARSED_CHARS:
            yield _flag(name, "guideline_unparsed", f"item {n}: {name}: text no citation covers: {rest[:80]!r}",
                        unparsed=rest[:200])
        for c in citations:
            cited = " ".join(view.text[c.span.start: c.span.end].split()) if c.span else ""
            if len(_WEB_WORK.findall(cited)) > 1:
                yield _flag(name, "citation_merged", f"item {n}: {name}: one citation holds two works: {cited[:80]!r}",
                            cited=cited[:200])
                break


def _odd_citation(citation: Citation) -> bool:
    """A topic that holds what belongs elsewhere: a source's name, a chapter, an edition or date, a parenthesis
    left from the chapter's name; or an ODG topic naming another chapter's body part (a second work)."""
    topic, guideline = citation.topic or "", citation.guideline or ""
    if not topic:
        return False
    if _TOPIC_MISPLACED.search(topic):
        return True
    if citation.source != "ODG":
        return False
    return any(body.lower() not in guideline.lower() for body in _BODY.findall(topic))


def check_item_count(item: Item, index: int, view: LetterView) -> Iterator[Flag]:
    """Every item of a letter whose items do not match its "Decision rationale:" paragraphs: one may be two, or
    part of another."""
    if view.items_miscounted:
        yield _flag("item", "item_count", f"item {index + 1}: the letter prints {view.paragraphs_printed} "
                    f"'Decision rationale:' paragraphs for {len(view.record.items)} items read")


ITEM_CHECKS: tuple[ItemCheck, ...] = (check_item_count, check_treatment, check_medication, check_category, check_dates,
                                      check_rationale, check_citations)


def item_flags(item: Item, index: int, view: LetterView) -> list[Flag]:
    """Every self-check's flags on one item."""
    return [flag for check in ITEM_CHECKS for flag in check(item, index, view)]


def letter_flags(view: LetterView) -> list[Flag]:
    """The letter-level checks: items against "Decision rationale:" paragraphs, header labels with no value read,
    a layout not recognised, a letter that looks truncated."""
    record, text = view.record, view.text
    flags = []
    if view.items_miscounted:
        flags.append(_flag("items", "item_count", f"{len(record.items)} items read but {view.paragraphs_printed} "
                           "'Decision rationale:' paragraphs printed", items=len(record.items),
                           paragraphs=view.paragraphs_printed))
    head = text[: text.find("Decision rationale:")] if "Decision rationale:" in text else text[:4000]
    for name, label in _HEADER_LABELS.items():
        if getattr(record, name) in (None, []) and re.search(label, head if name in _TABLE_FIELDS else text, re.I | re.M):
            flags.append(_flag(name, "header_value_unread", f"{name}: the letter prints its label but no value was read"))
    for w in record.warnings:
        if w.code in ("unknown_layout", "truncated", "no_items"):
            flags.append(_flag("letter", w.code, w.message))
    return flags
