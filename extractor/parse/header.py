"""Letter-level fields: the header table, the reviewer's credentials and the case summary."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from .. import lazy_re
from .values import DATE_PATTERN, STATE_NAME_PATTERN, case_number, parse_date, state_code

# Header labels; "Application Received:" may wrap around its value in a PDF's text.
_LABELS = {
    "case_number": r"Case\s+Number:",
    "date_assigned": r"Date\s+Assigned:",
    "date_of_injury": r"Date\s+of\s+Injury:",
    "decision_date": r"Decision\s+Date:",
    "ur_denial_date": r"UR\s+Denial\s+Date:",
    "priority": r"Priority:",
    "application_received_date": r"Application(?:\s+Received:)?",
}
_HEADER_TOKEN = lazy_re.compile(
    "|".join(f"(?P<{k}>{v})" for k, v in _LABELS.items())
    + rf"|(?P<value>\b[A-Z]{{2}}\d{{2}}\s*-\s*\d{{4,}}\b|{DATE_PATTERN}|\b(?:Standard|Expedited)\b)"
    + r"|(?P<stray>Received:)",
    re.I,
)
_VALUE_KINDS = {
    "case_number": lazy_re.compile(r"[A-Z]{2}\d{2}\s*-\s*\d+", re.I),
    "priority": lazy_re.compile(r"Standard|Expedited", re.I),
}
_AGE_SEX = lazy_re.compile(r"\b(\d{1,3})[- ]year[- ]old,?\s+(?:(?:right|left)[- ]handed\s+)?(male|female|man|woman)\b", re.I)
_SEX = lazy_re.compile(r"\b(?:is|was|a|an|this)\s+(?:\d{1,3}[- ]year[- ]old\s+)?(male|female|man|woman)\b", re.I)
_AGE = lazy_re.compile(r"\b(\d{1,3})[- ]year[- ]old\b", re.I)
_INJURY_DATE = lazy_re.compile(
    r"(?:date of injury|injured|injury|DOI)\D{0,25}?(" + DATE_PATTERN + r"|[A-Z][a-z]+\.? \d{1,2},? \d{4})", re.I
)
_DIAGNOSES = lazy_re.compile(
    r"(?:diagnos[ie]s\s+(?:that\s+)?(?:is|are|was|were|include[sd]?|of|has been|have been)(?:\s+documented)?(?:\s+as|\s+is|\s*:)?"
    r"|diagnosed\s+(?:with|as\s+having)|undergoing\s+treatment\s+for|(?:being|been)\s+treated\s+for"
    r"|Diagnosis\s+includes?|filed\s+a\s+claim\s+for)\s+(.+?)(?:\s+reportedly\b|\.(?:\s|$)|$)",
    re.I | re.S,
)
# Split a list of diagnoses at ";", "," and "and", but not inside the coding phrases that carry
# commas themselves ("strain of muscle, fascia and tendon of ...", "..., subsequent encounter").
_SPLIT_DIAGNOSES = lazy_re.compile(
    r";\s*|,(?!\s*(?:and\s+)?(?:fascia|tendons?|unspecified|not elsewhere)\b)\s*(?:and\s+)?"
    r"|(?<!fascia)\s+and\s+(?=[a-z])(?!tendons?\b)",
    re.I,
)
_ENCOUNTER = lazy_re.compile(r",?\s+(?:subsequent|initial)\s+encounter(?:\s+for\s+[a-z ]+?)?(?=[,;.]|\s+and\b|$)|,?\s+sequela\b", re.I)
_LICENSURE = lazy_re.compile(r"^(?:State\(s\) of )?Licensure:\s*(.+)", re.M)
# A specialty may wrap onto following lines, up to the next "Label:" line.
_SPECIALTY = lazy_re.compile(r"^(?:Certification\(s\)/)?Specialty:\s*(.+?)(?=\n[^\n:]*:|\Z)", re.M | re.S)
_BOARD_SENTENCE = lazy_re.compile(
    r"Board\s+Certified\s+in\s+(.+?)\s+and\s+(?:is\s+)?licensed\s+to\s+practice\s+in\s+(.+?)\.", re.S
)
_STATE_NAME = lazy_re.compile(rf"\b(?:{STATE_NAME_PATTERN})\b|\b[A-Z]{{2}}\b", re.I)


@dataclass
class Found:
    """Field values with the clean-text range each came from."""

    values: dict[str, object] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def put(self, name: str, value: object, start: int, end: int) -> None:
        if value is None or name in self.values:
            return
        self.values[name] = value
        self.spans[name] = (start, end)


def parse_header(text: str, start: int, end: int) -> Found:
    """Pair header labels with values, whether printed side by side or all labels first.

    Values are given to waiting labels first-in first-out, which is right both for rows
    (label, value, label, value) and for a text tool's label-first column order.
    """
    found = Found()
    pending: list[str] = []
    raw_values: list[tuple[str, int, int]] = []
    for m in _HEADER_TOKEN.finditer(text, start, end):
        kind = m.lastgroup
        if kind == "stray":
            continue
        if kind != "value":
            pending.append(kind or "")
            continue
        value = m.group()
        for i, label in enumerate(pending):
            expected = _VALUE_KINDS.get(label)
            is_date_label = label not in _VALUE_KINDS
            if (expected and expected.fullmatch(value)) or (is_date_label and re.fullmatch(DATE_PATTERN, value)):
                del pending[i]
                raw_values.append((label, m.start(), m.end()))
                break
    decision_ref = None
    for label, s, e in raw_values:
        if label == "decision_date":
            decision_ref = parse_date(text[s:e])
    for label, s, e in raw_values:
        value = text[s:e]
        if label == "case_number":
            found.put(label, case_number(value), s, e)
        elif label == "priority":
            found.put(label, value.lower(), s, e)
        else:
            found.put(label, parse_date(value, reference=decision_ref), s, e)
    return found


def parse_credentials(text: str, start: int, end: int) -> Found:
    """Reviewer specialty and licensure, from the labelled lines or the "Board Certified in" sentence."""
    found = Found()
    region = text[start:end]
    if m := _SPECIALTY.search(region):
        value = " ".join(m.group(1).split())
        found.put("reviewer_specialty", value, start + m.start(1), start + m.end(1))
    if m := _LICENSURE.search(region):
        codes = _states(m.group(1))
        found.put("reviewer_licensure", codes, start + m.start(1), start + m.end(1))
    if m := _BOARD_SENTENCE.search(region):
        found.put("reviewer_specialty", " ".join(m.group(1).split()), start + m.start(1), start + m.end(1))
        found.put("reviewer_licensure", _states(m.group(2)), start + m.start(2), start + m.end(2))
    return found


def _states(value: str) -> list[str]:
    codes: list[str] = []
    for m in _STATE_NAME.finditer(value):
        code = state_code(m.group())
        if code and code not in codes:
            codes.append(code)
    return codes


def parse_summary(text: str, start: int, end: int, reference: dt.date | None, *, want_injury_date: bool = True) -> Found:
    """Age, sex, diagnoses and (where the header had none) the earliest date of injury from the case summary."""
    found = Found()
    region = text[start:end]
    if m := _AGE_SEX.search(region):
        found.put("patient_age", int(m.group(1)), start + m.start(1), start + m.end(1))
        found.put("patient_sex", _sex(m.group(2)), start + m.start(2), start + m.end(2))
    if m := _SEX.search(region):
        found.put("patient_sex", _sex(m.group(1)), start + m.start(1), start + m.end(1))
    if m := _AGE.search(region):
        found.put("patient_age", int(m.group(1)), start + m.start(1), start + m.end(1))
    injuries = [
        (d, start + m.start(1), start + m.end(1))
        for m in (_INJURY_DATE.finditer(region) if want_injury_date else ())
        if (d := parse_date(m.group(1), reference=reference))
    ]
    if injuries:
        found.put("date_of_injury", *min(injuries))
    if m := _DIAGNOSES.search(region):
        found.values["diagnoses"] = _split_diagnoses(m.group(1))
        found.spans["diagnoses"] = (start + m.start(1), start + m.end(1))
    return found


def _sex(word: str) -> str:
    return "male" if word.lower() in ("male", "man") else "female"


def _split_diagnoses(phrase: str) -> list[str]:
    out: list[str] = []
    phrase = _ENCOUNTER.sub("", " ".join(phrase.split()))
    for piece in _SPLIT_DIAGNOSES.split(phrase):
        part = piece.strip(" .;:\"'").removeprefix("and ").strip()
        if part and part.lower() not in (p.lower() for p in out):
            out.append(part)
    return out
