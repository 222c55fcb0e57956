"""The deterministic layout parser: clean text -> a record's fields, with spans and warnings.

It is the ``offline`` backend on its own, and the segmentation and cross-check for the LLM ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..errors import NotAnImrLetterError
from ..models import ExtractionWarning, Item, Layout, Span
from ..read import LetterText
from ..read.text import CleanText, normalise
from .header import Found, parse_credentials, parse_header, parse_summary
from .items import parse_item
from .segment import Segments, looks_like_imr, segment

_REQUIRED_HEADER = ("case_number", "decision_date")


@dataclass
class ParsedLetter:
    """What the parser read from one letter: record fields (no provenance), spans and warnings."""

    layout: Layout
    fields: dict[str, object]
    items: list[Item]
    spans: dict[str, Span]
    warnings: list[ExtractionWarning] = field(default_factory=list)
    segments: Segments | None = None


def parse_letter(clean: CleanText) -> ParsedLetter:
    """Parse every field the layout lets us read; what is missing is null plus a warning."""
    text = clean.text
    seg = segment(text)
    found = Found()
    warnings: list[ExtractionWarning] = []
    if seg.header:
        _merge(found, parse_header(text, seg.header.start, seg.header.end))
    if seg.credentials:
        _merge(found, parse_credentials(text, seg.credentials.start, seg.credentials.end))
    reference = found.values.get("decision_date")
    reference = reference if isinstance(reference, dt.date) else None
    if seg.summary:
        summary = parse_summary(text, seg.summary.start, seg.summary.end, reference,
                                want_injury_date="date_of_injury" not in found.values)
        _merge(found, summary)
    items = []
    for i, block in enumerate(seg.items):
        parsed = parse_item(clean, block, i, reference)
        items.append(parsed.item)
        warnings.extend(parsed.warnings)

    if seg.layout == "unknown":
        warnings.append(ExtractionWarning(code="unknown_layout", message="layout not recognised; items read by their decision headings only"))
    if seg.header and seg.header.end > seg.header.start:
        for name in _REQUIRED_HEADER:
            if name not in found.values:
                warnings.append(ExtractionWarning(code="field_missing", message=f"header has no readable {name}"))
    if not items:
        warnings.append(ExtractionWarning(code="no_items", message="no '<request>: Upheld|Overturned' item found"))
    elif seg.items_section and _looks_truncated(text, seg):
        warnings.append(ExtractionWarning(code="truncated", message="the letter ends mid-sentence: it may be truncated"))
    spans = {name: clean.span(s, e) for name, (s, e) in found.spans.items()}
    return ParsedLetter(layout=seg.layout, fields=found.values, items=items, spans=spans, warnings=warnings, segments=seg)


def _merge(into: Found, other: Found) -> None:
    for name, value in other.values.items():
        s, e = other.spans[name]
        into.put(name, value, s, e)


def _looks_truncated(text: str, seg: Segments) -> bool:
    """A letter closes its last rationale with a sentence end or a "... medically necessary" verdict."""
    last = seg.items[-1]
    if last.rationale is None:
        return True
    tail = text[last.rationale.start :].rstrip()
    return not (tail.endswith(tuple('.!?)"”')) or "necessary" in tail[-200:])


def clean_letter(letter: LetterText) -> CleanText:
    """The letter's normalised text; ``NotAnImrLetterError`` if it carries no mark of an IMR letter."""
    clean = normalise(letter.text)
    if not looks_like_imr(clean.text):
        raise NotAnImrLetterError(letter.path, "no IMR letter headings or markers found: not an IMR determination letter")
    return clean
