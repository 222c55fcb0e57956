"""Guideline paragraphs -> citations (``Claims Administrator guideline:`` / ``MAXIMUS guideline:``).

Each "Decision based on ..." sentence is one cited source; an MTUS sentence may name several
MTUS works joined by ", and ". Sentences saying nothing was cited are not citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import lazy_re
from ..read.text import collapse

_SENTENCE = lazy_re.compile(r"Decision\s+based\s+on\s+")
_YEAR = lazy_re.compile(r"\b(?:19|20)\d{2}\b")
_WORK_JOIN = lazy_re.compile(r",?\s+and\s+(?=[A-Z][^:]*?\b(?:19|20)\d{2}\b)")
_YEAR_WORK = lazy_re.compile(
    r"(?P<name>.+?\b(?:19|20)\d{2}(?:\s+Guidelines)?)"
    r"(?:,?\s*Section\(s\):\s*(?P<topic>.+?))?"
    r"(?:,?\s*Page\(s\):\s*(?P<pages>[\d,\s-]+\d))?\s*$"
)
_NO_YEAR_WORK = lazy_re.compile(
    r"(?P<name>.+?Guidelines)(?:[\s,]+(?:Section\(s\):\s*)?(?P<topic>.+?))?"
    r"(?:,?\s*(?:Section\(s\)|Page\(s\)):\s*(?P<pages>[\d,\s-]+\d))?\s*$"
)
_ODG = lazy_re.compile(r"^(?:the\s+)?(?:Official\s+Disability\s+Guidelines?|ODG)\b(?:\s*\(ODG\))?(?:\s+guidelines)?[\s,:;.\-–]*", re.I)
_ACOEM = lazy_re.compile(
    r"^(?:the\s+)?(?:American\s+College\s+of\s+Occupational\s+and\s+Environmental\s+Medicine\s*\(ACOEM\)|ACOEM)"
    r"(?:\s+guidelines\b)?[\s,:;.\-–]*",
    re.I,
)
_MULTI_SOURCE = lazy_re.compile(
    r",?\s+and\s+(?:the\s+)?(?=Official\s+Disability|ODG\b|ACOEM\b)|,\s+(?=ODG\b|Official\s+Disability)|\s+and\s+Other\s+Medical\s+Treatment\s+Guidelines\s+"
    r"|(?<=accessed \d\d/\d\d/\d{4}),\s+"
)
# Layout C names its sources in free sentences: "MTUS ..., Section(s): X. Official Disability Guidelines (ODG), ..."
_FREE_CITATION = lazy_re.compile(
    r"(?:^[ \t]*|(?<=[.:]\s)|(?<=[.:]\n))(?:California\s+)?(?P<src>MTUS|Official\s+Disability\s+Guidelines|ODG|ACOEM)\b"
    r"(?P<body>.*?)(?=\.\s+[A-Z]|\.?\s*\Z)",
    re.S | re.M,
)
_CHAPTERS = [
    "Low Back - Lumbar & Thoracic", "Low Back, Lumbar & Thoracic", "Low Back- Lumbar & Thoracic", "Lumbar & Thoracic", "Low Back & Thoracic", "Low Back", "Neck and Upper Back", "Pain", "Chronic Pain",
    "Shoulder", "Knee and Leg", "Knee", "Ankle and Foot", "Forearm, Wrist, and Hand", "Forearm, Wrist and Hand",
    "Elbow", "Hip and Pelvis", "Head", "Neck", "Mental Illness and Stress", "Carpal Tunnel Syndrome", "Pulmonary", "Preface",
    "Treatment in Workers' Compensation", "Burns", "Eye", "Hernia", "Diabetes", "Fitness for Duty",
    "Integrated Treatment/Disability Duration Guidelines",
]


def _chapter_pattern(name: str) -> str:
    words = [r"(?:and|&)" if w in ("and", "&") else re.escape(w) for w in name.replace(",", " ,").split()]
    return r"\s*".join(words)


# A chapter's own qualifier: "(Acute & Chronic)", "(Thoracic and Lumbar, Acute and Chronic)".
_ACUTE_CHRONIC = r"\s*\([^()]*\b(?:Acute|Chronic)\b[^()]*\)"
_CHAPTER = lazy_re.compile(
    r"^(?P<chapter>(?:" + "|".join(_chapter_pattern(c) for c in sorted(_CHAPTERS, key=len, reverse=True)) + r"))"
    r"(?P<qualifier>" + _ACUTE_CHRONIC + r")?"
    r"(?:\s*(?:chapters?\b|section\b|guidelines\b|\((?:updated|online)[^)]*\)|\d{1,2}/\d{1,2}/\d{2,4}\b))*"
    r"(?P<late_qualifier>" + _ACUTE_CHRONIC + r")?"
    r"(?=$|[\s,:;.\-–/(]|(?<=\)))",
    re.I,
)
# A chapter the table does not know, named as one: "Hand Chapter, Physical therapy"; or named after
# its topic: "physical therapy, elbow chapter".
_NAMED_CHAPTER = lazy_re.compile(r"^(?P<chapter>[a-z][a-z'&]*(?:\s+(?:and\s+|&\s+)?[a-z][a-z'&]*){0,3})\s+chapter\b", re.I)
_CHAPTER_LAST = lazy_re.compile(r"^(?P<topic>[^,]+),\s*(?P<chapter>[a-z][a-z'&]*(?:\s+[a-z][a-z'&]*){0,3})\s+chapter\W*$", re.I)
# What may stand between the source and the chapter: the publisher, the edition's year, "Chapter:".
_BEFORE_CHAPTER = lazy_re.compile(r"^(?:Work\s+Loss\s+Data\s+Institute\b(?:\s*\([^)]*\))?[\s,]*)?(?:(?:19|20)\d{2}\b[\s,]*)?"
                                  r"(?:Chapters?\s*:\s*)?", re.I)
_LEAD = " ,:;.-–/"
_ACOEM_PAGE = lazy_re.compile(r",?\s*(?:pg\.?|pages?)\s*\d+(?:-\d+)?\.?$", re.I)


Cite = tuple[str, str | None, str | None, list[int]]  # source, guideline, topic, pages


@dataclass(frozen=True)
class ParsedCitation:
    """A citation and the range ``[start, end)`` of its sentence within the paragraph."""

    source: str
    guideline: str | None
    topic: str | None
    pages: list[int]
    start: int
    end: int


def parse_guideline_paragraph(paragraph: str) -> list[ParsedCitation]:
    """All citations of one guideline paragraph, in printed order."""
    starts = [m for m in _SENTENCE.finditer(paragraph)]
    if not starts:
        return _free_citations(paragraph)
    out: list[ParsedCitation] = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(paragraph)
        body = collapse(paragraph[m.end() : end]).rstrip(". ")
        for source, guideline, topic, pages in _parse_sentence(body):
            out.append(ParsedCitation(source, guideline, topic, pages, m.start(), end))
    return out


def _free_citations(paragraph: str) -> list[ParsedCitation]:
    out: list[ParsedCitation] = []
    for m in _FREE_CITATION.finditer(paragraph):
        body = collapse(m["body"]).rstrip(". ")
        if m["src"].upper() == "MTUS":
            if not re.search(r"Guidelines|Complaints|Treatment|Section\(s\)|\b(?:19|20)\d\d\b", body):
                continue  # prose about the MTUS, not a citation
            found = _mtus(body.strip(_LEAD))
        else:
            found = _non_mtus_all(collapse(m["src"]) + " " + body)
        out.extend(ParsedCitation(*c, m.start(), m.end()) for c in found)
    return out


def _parse_sentence(body: str) -> list[Cite]:
    if re.match(r"Non-MTUS\b", body, re.I):
        rest = re.sub(r"^Non-MTUS\s*(?:Citation)?[\s:,]*", "", body, flags=re.I)
        return _non_mtus_all(rest)
    if body.upper().startswith("MTUS"):
        return _mtus(body[4:].strip(_LEAD))
    return []


def _mtus(body: str) -> list[Cite]:
    out: list[Cite] = []
    for work in _split_works(body):
        m = _YEAR_WORK.match(work) or _NO_YEAR_WORK.match(work)
        if m:
            out.append(("MTUS", collapse(m["name"]).strip(_LEAD), _clean(m["topic"]), expand_pages(m["pages"])))
        else:
            out.append(("MTUS", _clean(work), None, []))
    return out


def _split_works(body: str) -> list[str]:
    """MTUS works joined by ", and ": a join counts only once the work before it has its year,
    so "Forearm, Wrist, and Hand Complaints 2004" stays whole."""
    works, last = [], 0
    for m in _WORK_JOIN.finditer(body):
        if _YEAR.search(body, last, m.start()):
            works.append(body[last : m.start()])
            last = m.end()
    works.append(body[last:])
    return [w for w in works if w.strip(_LEAD)]


def _non_mtus_all(body: str) -> list[Cite]:
    return [c for part in _MULTI_SOURCE.split(body) if part.strip(_LEAD) for c in _non_mtus(part)]


def _non_mtus(body: str) -> list[Cite]:
    body = body.strip(_LEAD)
    if m := _ACOEM.match(body):
        rest = _ACOEM_PAGE.sub("", body[m.end() :]).strip(_LEAD)
        rest = re.sub(r"^Guidelines\b[\s,]*", "", rest, flags=re.I)
        work, _, section = rest.partition("/")
        return [("ACOEM", _clean(work) or "ACOEM", _clean(section), [])]
    odg = _ODG.match(body)
    rest = body[odg.end() :] if odg else body
    rest = _BEFORE_CHAPTER.sub("", rest)
    if last := _CHAPTER_LAST.match(rest):
        return [("ODG", last["chapter"], _clean(last["topic"]), [])]
    if chapter := _CHAPTER.match(rest) or _NAMED_CHAPTER.match(rest):
        name = collapse(chapter["chapter"] + (chapter.groupdict().get("qualifier") or chapter.groupdict().get("late_qualifier") or ""))
        topic = _clean(re.sub(r"^and\b", "", rest[chapter.end() :].strip(_LEAD)))
        if topic and (_CHAPTER.match(topic) or _NAMED_CHAPTER.match(topic)):  # several: "Neck and Upper Back, Low Back, PT"
            others = _non_mtus("ODG " + topic)
            return [("ODG", name, others[0][2], []), *others]  # a topic after the last chapter is theirs all
        own, _, later = (topic or "").partition(";")
        if later and _CHAPTER.match(later.strip()):  # "Neck and Upper Back, TENS; Low Back - Lumbar & Thoracic"
            return [("ODG", name, _clean(own), []), *_non_mtus("ODG " + later)]
        return [("ODG", name, topic, [])]
    if odg:
        return [("ODG", "Official Disability Guidelines", _clean(rest), [])]
    return [("other", _clean(body), None, [])]


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = re.sub(r"\s*\((?:19|20)\d{2}\)$", "", collapse(value)).strip(_LEAD)  # "Platelet-rich plasma (2016)"
    if value.startswith("(") and _closing_paren(value) == len(value) - 1:
        value = value[1:-1]
    return value or None


def _closing_paren(value: str) -> int:
    """Index of the parenthesis that closes the one at index 0, or -1."""
    depth = 0
    for i, ch in enumerate(value):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return i
    return -1


def expand_pages(value: str | None) -> list[int]:
    """``17-19, 49`` -> ``[17, 18, 19, 49]``."""
    pages: list[int] = []
    for part in re.split(r"[,\s]+", value or ""):
        if m := re.fullmatch(r"(\d+)-(\d+)", part):
            lo, hi = int(m[1]), int(m[2])
            if lo <= hi <= lo + 500:
                pages.extend(range(lo, hi + 1))
        elif part.isdigit():
            pages.append(int(part))
    return pages
