"""One item block -> the item's fields: request, partial and retrospective parts, drug facts,
citations, rationale. Verbatim fields keep the clean-text range they came from."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from .. import lazy_re
from ..models import Category, Citation, ExtractionWarning, Item, Span
from ..read.text import CleanText, collapse
from . import classify, drugclass, drugs
from .citations import parse_guideline_paragraph
from .segment import ItemBlock, Region
from .values import DATE_PATTERN, parse_date

_PARTIAL = lazy_re.compile(
    r"^(?P<original>.+?)\s+was\s+the\s+original\s+request\.\s*.*?"
    r"(?:The\s+remaining\s+IMR\s+eligible\s+portion\s+of\s+the\s+original\s+request,?|The\s+original\s+request,)\s*"
    r"(?P<request>.+)$",
    re.I | re.S,
)
_RETRO_PREFIX = lazy_re.compile(r"^Retrospective(?:\s+request)?(?:\s+for)?\s*:?\s*", re.I)
_TRAILING_IS = lazy_re.compile(r"\s+is\s*:?\s*$|\s*:\s*$", re.I)
_DOS = lazy_re.compile(r"\b(?:DOS|dates?\s+of\s+service)\b\s*:?\s*(?:on\s+)?(" + DATE_PATTERN + ")", re.I)


@dataclass
class ParsedItem:
    """An item and its warnings, with clean-text ranges for its verbatim fields."""

    item: Item
    warnings: list[ExtractionWarning] = field(default_factory=list)


def parse_item(clean: CleanText, block: ItemBlock, index: int, reference: dt.date | None) -> ParsedItem:
    """Fields of item ``index`` from its block; missing paragraphs become warnings, never guesses."""
    text = clean.text
    warnings: list[ExtractionWarning] = []
    heading_start, heading_end = _trim(text, block.heading)
    heading = collapse(text[heading_start:heading_end])
    heading = _TRAILING_IS.sub("", heading)
    spans = {}
    original = None
    request = heading
    if m := _PARTIAL.match(heading):
        original = _RETRO_PREFIX.sub("", m["original"].strip())
        request = _TRAILING_IS.sub("", m["request"].strip())
        spans["original_request"] = _locate(clean, heading_start, heading_end, m["original"])
    retro_prefix = _RETRO_PREFIX.match(request)
    request = _RETRO_PREFIX.sub("", request)
    spans["request"] = _locate(clean, heading_start, heading_end, request)
    dos = _DOS.search(request)
    date_of_service = parse_date(dos.group(1), reference=reference) if dos else None
    retrospective = bool(retro_prefix) or dos is not None or "retrospective" in heading.lower()

    generics = drugs.generic_names(request)
    treatment = classify.treatment(request, has_drug=bool(generics))
    is_drug = treatment.category is Category.medication
    if not treatment.certain:
        warnings.append(ExtractionWarning(
            code="treatment_uncertain", item=index,
            message=f"item {index + 1}: the request could not be reduced to a known service or drug with confidence; "
                    f"treatment kept as {treatment.name!r}"))

    ca = _citations(clean, block.claims_administrator)
    reviewer = _citations(clean, block.reviewer)
    rationale = ""
    if block.rationale is not None:
        r_start, r_end = _trim(text, block.rationale)
        rationale = collapse(text[r_start:r_end])
        spans["rationale"] = clean.span(r_start, r_end)
    for name, region in (("Decision rationale", block.rationale), ("MAXIMUS guideline", block.reviewer)):
        if region is None:
            warnings.append(ExtractionWarning(code="paragraph_missing", item=index,
                                              message=f"item {index + 1}: no '{name}:' paragraph found (letter truncated?)"))
    if block.rationale is not None and not rationale:
        warnings.append(ExtractionWarning(code="empty_rationale", item=index, message=f"item {index + 1}: rationale is empty"))

    generic_name = "/".join(generics) if is_drug and generics else None
    item = Item(
        request=request,
        original_request=original,
        retrospective=retrospective,
        date_of_service=date_of_service,
        treatment=treatment.name,
        category=treatment.category,
        generic_name=generic_name,
        strength=drugs.strength(request) if is_drug else None,
        quantity=drugs.quantity(request),
        decision=block.decision,
        claims_administrator_guidelines=ca,
        reviewer_guidelines=reviewer,
        rationale=rationale,
        reasons=classify.reasons(rationale, block.decision),
        spans={k: v for k, v in spans.items() if v is not None},
        **drugclass.item_groups(request, treatment.category, generic_name),  # type: ignore[arg-type]
    )
    return ParsedItem(item=item, warnings=warnings)


def _citations(clean: CleanText, region: Region | None) -> list[Citation]:
    if region is None:
        return []
    paragraph = region.of(clean.text)
    return [
        Citation(source=c.source, guideline=c.guideline, topic=c.topic, pages=c.pages,  # type: ignore[arg-type]
                 span=clean.span(region.start + c.start, region.start + c.end))
        for c in parse_guideline_paragraph(paragraph)
    ]


def _trim(text: str, region: Region) -> tuple[int, int]:
    """The region without surrounding whitespace."""
    start, end = region.start, region.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _locate(clean: CleanText, start: int, end: int, value: str) -> Span | None:
    """The read-text span of ``value`` inside the clean range, whatever whitespace separates its words."""
    words = value.split()
    if not words:
        return None
    first = clean.text.find(words[0], start, end)
    while first != -1:
        pos = first + len(words[0])
        for word in words[1:]:
            nxt = clean.text.find(word, pos, end)
            if nxt == -1 or clean.text[pos:nxt].strip():
                break
            pos = nxt + len(word)
        else:
            return clean.span(first, pos)
        first = clean.text.find(words[0], first + 1, end)
    return None
