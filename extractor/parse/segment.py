"""Segmenting clean letter text: the layout, its sections, and one block per disputed item.

Works on ``CleanText.text`` (one printed line per line). Headings may wrap, so their words are
matched across any whitespace. Positions are clean-text offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import lazy_re
from ..models import Decision, Layout


def _heading(words: str) -> str:
    return r"\s+".join(re.escape(w) for w in words.split())


_A_ITEMS = lazy_re.compile(_heading("IMR ISSUES, DECISIONS AND RATIONALES"))
_B_START = lazy_re.compile(r"\A\s*" + _heading("MAXIMUS FEDERAL SERVICES, INC."))
_B_ITEMS = lazy_re.compile(_heading("IMR DECISION(S) AND RATIONALE(S)"))
_C_START = lazy_re.compile(r"\A\s*" + _heading("MEDICAL PROFESSIONAL REVIEW"))
_HOW = lazy_re.compile(_heading("HOW THE IMR FINAL DETERMINATION WAS MADE"))
_SUMMARY = lazy_re.compile(r"^(?:CLINICAL\s+)?CASE\s+SUMMARY:?$", re.M)
_DOCUMENTS = lazy_re.compile(r"^DOCUMENTS\s+REVIEWED(?:\s+FOR\s+DETERMINATION)?:?$", re.M)
_IMR_MARKS = lazy_re.compile(
    r"Independent Medical Review|IMR FINAL DETERMINATION|MAXIMUS|Decision rationale:|MEDICAL PROFESSIONAL REVIEW"
    r"|Case Number:\s*CM\d",
    re.I,
)
_C_SECTIONS = {
    "issues": _heading("ISSUE AT DISPUTE:"),
    "summary": _heading("CASE SUMMARY:"),
    "documents": _heading("DOCUMENTS REVIEWED FOR DETERMINATION:"),
    "guidelines": _heading("MEDICAL TREATMENT GUIDELINE(S) RELIED UPON BY PROFESSIONAL REVIEWER AND WHY:"),
    "rationale": r"RATIONALE\s+FOR\s+WHY\s+THE\s+REQUESTED\s+TREATMENT/SERVICE\s+IS/WAS\s+NOT\s+MEDICALLY\s+NECESSARY:",
    "qualifications": _heading("MEDICAL REVIEWER QUALIFICATIONS:"),
}
_INTRO = lazy_re.compile(r"^The Final Determination was based on decisions.*?set forth below:", re.M | re.S)
# The decision closes an item heading: ": Upheld" at a line end, or wrapped onto a line of its own.
_DECISION = lazy_re.compile(r"\b(Upheld|Overturned)\b[ .]*(?=\n|\Z)")
_SENTENCE_END = lazy_re.compile(r"""[.?!]["')\]]?$""")
_PARTIAL_TAIL = lazy_re.compile(r"IMR\s+eligible|^The\s+original\s+request,", re.I)
_PARTIAL_HEAD = lazy_re.compile(r"was the original request", re.I)
_MAX_HEADING_LINES = 8
_CA_GUIDELINE = lazy_re.compile(r"Claims Administrator guideline:\s*")
_REVIEWER_GUIDELINE = lazy_re.compile(r"MAXIMUS guideline:\s*")
_RATIONALE = lazy_re.compile(r"Decision rationale:\s*")


@dataclass(frozen=True)
class Region:
    """A clean-text range ``[start, end)``."""

    start: int
    end: int

    def of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass
class ItemBlock:
    """One item as found: its heading, decision and the three paragraphs that follow it."""

    heading: Region
    decision: Decision
    claims_administrator: Region | None = None
    reviewer: Region | None = None
    rationale: Region | None = None


@dataclass
class Segments:
    """Where each part of a letter is, as clean-text regions."""

    layout: Layout
    header: Region | None = None
    credentials: Region | None = None
    summary: Region | None = None
    items: list[ItemBlock] = field(default_factory=list)
    items_section: Region | None = None
    notes: list[str] = field(default_factory=list)


def looks_like_imr(text: str) -> bool:
    """Whether the text carries any mark of an IMR determination letter."""
    return _IMR_MARKS.search(text) is not None


def detect_layout(text: str) -> Layout:
    """Layout A, B or C from the headings; ``unknown`` when none of them fits."""
    if _C_START.search(text) or re.search(_C_SECTIONS["issues"], text):
        return "C"
    if _B_START.search(text) or _B_ITEMS.search(text):
        return "B"
    if _A_ITEMS.search(text):
        return "A"
    return "unknown"


def segment(text: str) -> Segments:
    """Split clean text into header, credentials, case summary and item blocks for its layout."""
    layout = detect_layout(text)
    if layout == "C":
        return _segment_c(text)
    seg = Segments(layout=layout)
    how = _HOW.search(text)
    summary = _SUMMARY.search(text)
    items_head = (_B_ITEMS if layout == "B" else _A_ITEMS).search(text)
    documents = _DOCUMENTS.search(text)
    first = min((m.start() for m in (how, summary, items_head) if m), default=len(text))
    seg.header = Region(0, first)
    if how:
        after = [m.start() for m in (documents, summary, items_head) if m and m.start() > how.end()]
        seg.credentials = Region(how.end(), min(after, default=len(text)))
    if summary:
        seg.summary = Region(summary.end(), items_head.start() if items_head and items_head.start() > summary.end() else len(text))
    if items_head:
        body_start = items_head.end()
        if intro := _INTRO.search(text, body_start, body_start + 400):
            body_start = intro.end()
        seg.items_section = Region(body_start, len(text))
        seg.items = find_items(text, body_start, len(text))
    elif layout == "unknown":
        # No known layout: still look for item headings anywhere after the summary.
        start = seg.summary.start if seg.summary else 0
        seg.items = find_items(text, start, len(text))
    return seg


def find_items(text: str, start: int, end: int) -> list[ItemBlock]:
    """Every ``<request>: Upheld|Overturned`` heading in ``text[start:end]`` with its paragraphs."""
    blocks: list[ItemBlock] = []
    floor = start
    for m in _DECISION.finditer(text, start, end):
        colon = m.start()
        while colon > floor and text[colon - 1] in " \n":
            colon -= 1
        if colon <= floor or text[colon - 1] != ":":
            continue  # "Upheld" in running text, not closing a heading
        head_end = colon - 1
        head_start = _heading_start(text, floor, head_end)
        if head_start >= head_end:
            continue
        word = m.group(1)
        blocks.append(ItemBlock(heading=Region(head_start, head_end), decision="upheld" if word == "Upheld" else "overturned"))
        floor = m.end()
    for i, block in enumerate(blocks):
        block_end = blocks[i + 1].heading.start if i + 1 < len(blocks) else end
        _fill_paragraphs(text, block, block.heading.end, block_end)
    return blocks


def _heading_start(text: str, floor: int, decision_at: int) -> int:
    """Walk back from the decision word, line by line, to where the heading begins.

    A heading ends the line the decision is on; it began after the last line that ends a
    sentence (the previous rationale's end). A partial request ("X was the original request.
    ... The remaining IMR eligible portion of the original request, Z is: Upheld") spans
    sentences, so it extends back to "was the original request".
    """
    start = _back_to_sentence_start(text, floor, _line_start(text, floor, decision_at), _MAX_HEADING_LINES - 1)
    heading = text[start:decision_at]
    partial = _PARTIAL_TAIL.search(heading) and not _PARTIAL_HEAD.search(heading)
    if partial and (head := text.rfind("was the original request", floor, start)) != -1:
        start = _back_to_sentence_start(text, floor, _line_start(text, floor, head))
    return start


def _line_start(text: str, floor: int, pos: int) -> int:
    return max(text.rfind("\n", floor, pos) + 1, floor)


def _back_to_sentence_start(text: str, floor: int, start: int, max_lines: int | None = None) -> int:
    """``start`` moved back over whole lines while the line before does not end a sentence."""
    lines = 0
    while start > floor and (max_lines is None or lines < max_lines):
        prev_start = _line_start(text, floor, start - 1)
        prev = text[prev_start : start - 1]
        if _SENTENCE_END.search(prev) or prev.endswith("set forth below:") or prev.startswith("Decision rationale:"):
            break
        start = prev_start
        lines += 1
    return start


def _fill_paragraphs(text: str, block: ItemBlock, start: int, end: int) -> None:
    ca = _CA_GUIDELINE.search(text, start, end)
    rev = _REVIEWER_GUIDELINE.search(text, start, end)
    rat = _RATIONALE.search(text, start, end)
    if ca:
        ca_end = min(m.start() for m in (rev, rat) if m) if (rev or rat) else end
        block.claims_administrator = Region(ca.end(), ca_end)
    if rev:
        block.reviewer = Region(rev.end(), rat.start() if rat else end)
    if rat:
        block.rationale = Region(rat.end(), end)


def _segment_c(text: str) -> Segments:
    """Layout C: issues listed up front; one guideline and one rationale section for all items."""
    seg = Segments(layout="C")
    found = {k: m for k, pat in _C_SECTIONS.items() if (m := re.search(pat, text))}
    order = sorted(found.items(), key=lambda kv: kv[1].start())
    bounds = {k: Region(m.end(), order[i + 1][1].start() if i + 1 < len(order) else len(text)) for i, (k, m) in enumerate(order)}
    seg.header = Region(0, order[0][1].start() if order else len(text))
    seg.summary = bounds.get("summary")
    seg.credentials = bounds.get("qualifications")
    if "issues" not in bounds:
        return seg
    issues = bounds["issues"]
    heads = find_items(text, issues.start, issues.end)
    guide = bounds.get("guidelines")
    rationale = bounds.get("rationale")
    for i, block in enumerate(heads):
        block.claims_administrator = None
        block.reviewer = _c_paragraph(text, guide, heads, i)
        block.rationale = _c_paragraph(text, rationale, heads, i)
    seg.items = heads
    seg.items_section = issues
    return seg


def _c_paragraph(text: str, section: Region | None, heads: list[ItemBlock], index: int) -> Region | None:
    """The part of a shared layout-C section about item ``index``: all of it for one item, else the
    paragraph that opens with that item's request."""
    if section is None:
        return None
    if len(heads) == 1:
        return section
    starts: list[tuple[int, int] | None] = []
    for block in heads:
        request = " ".join(block.heading.of(text).split())
        # The paragraph may open with the request or with what follows a prefix such as "Associated service:".
        probes = [request, request.split(": ", 1)[-1]]
        hits = [re.search(r"^" + re.escape(p[:25]).replace(r"\ ", r"\s+"), text[section.start : section.end], re.M | re.I)
                for p in probes]
        found = [(section.start + m.start(), section.start + m.end()) for m in hits if m]
        starts.append(min(found) if found else None)
    own = starts[index]
    if own is None:
        return None
    later = [s[0] for s in starts if s is not None and s[0] > own[0]]
    end = min(later) if later else section.end
    colon = text.find(":", own[1], end)
    return Region(colon + 1 if colon != -1 else own[0], end)
