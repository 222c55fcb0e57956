"""Grounding: find every verbatim value a model returned in the letter, or flag it.

A value is looked for in the clean text (whitespace-tolerant, then case-insensitive, then, for
long values, approximately); a value found approximately is replaced by the letter's own text.
A value not found at all is kept but flagged: an ``ungrounded`` warning and an ``ungrounded`` flag on
its item (or on the letter), ``review[item]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from ..models import Citation, ExtractionWarning, Flag, Span
from ..parse.segment import Region
from ..read.text import CleanText, collapse
from .schema import AnswerCitation

FUZZY_MIN_LENGTH = 40
FUZZY_MIN_SCORE = 92.0
_CITATION_GAP = 300


@dataclass(frozen=True)
class Found:
    """Where a value is in the clean text, and the letter's own text there."""

    start: int
    end: int
    text: str
    exact: bool


def locate(clean: CleanText, value: str, region: Region | None = None) -> Found | None:
    """The first place ``value`` (whitespace-collapsed) is printed inside ``region``, or None."""
    words = value.split()
    if not words:
        return None
    start, end = (region.start, region.end) if region else (0, len(clean.text))
    pattern = r"\s+".join(re.escape(w) for w in words)
    for flags in (0, re.IGNORECASE):
        if m := re.compile(pattern, flags).search(clean.text, start, end):
            return Found(m.start(), m.end(), collapse(m.group()), exact=flags == 0)
    wanted = " ".join(words)
    if len(wanted) < FUZZY_MIN_LENGTH:
        return None
    haystack = clean.text[start:end].replace("\n", " ")  # same length: offsets carry over
    hit = fuzz.partial_ratio_alignment(wanted, haystack, score_cutoff=FUZZY_MIN_SCORE)
    if hit is None:
        return None
    s, e = start + hit.dest_start, start + hit.dest_end
    while s < e and clean.text[s].isspace():
        s += 1
    while e > s and clean.text[e - 1].isspace():
        e -= 1
    return Found(s, e, collapse(clean.text[s:e]), exact=False)


@dataclass
class Grounder:
    """Grounds one record's values against one letter and collects what could not be found."""

    clean: CleanText
    warnings: list[ExtractionWarning] = field(default_factory=list)
    review: dict[int | None, list[Flag]] = field(default_factory=dict)

    def text(
        self, name: str, value: str, *, item: int | None = None, region: Region | None = None, anywhere: bool = False
    ) -> tuple[str, Span | None, Found | None]:
        """``(value to keep, read-text span, where)``: the letter's text where found, else the model's, flagged.

        Looks in ``region`` (the whole letter if None), then with ``anywhere`` in the whole letter.
        """
        found = locate(self.clean, value, region)
        if found is None and anywhere and region is not None:
            found = locate(self.clean, value)
        if found is None:
            self._flag(name, value, item)
            return value, None, None
        if not found.exact and found.text != collapse(value):
            self.warnings.append(ExtractionWarning(
                code="approximate_span", item=item,
                message=f"{_where(item)}{name} matched the letter only approximately; the letter's text was kept"))
        return found.text, self.clean.span(found.start, found.end), found

    def citation(self, name: str, c: AnswerCitation, *, item: int | None, region: Region | None) -> Citation:
        """A record citation with the span of its guideline and topic, flagged if neither is printed."""
        probes = [p for p in (c.guideline, c.topic) if p] or [str(c.source)]
        hits = [f for p in probes if (f := locate(self.clean, p, region)) is not None]
        span = None
        if hits:
            first = min(hits, key=lambda f: f.start)
            near = [f for f in hits if f.start - first.start <= _CITATION_GAP]
            span = self.clean.span(first.start, max(f.end for f in near))
        else:
            self._flag(name, " / ".join(probes), item)
        return Citation(source=c.source, guideline=c.guideline, topic=c.topic, pages=c.pages, span=span)

    def _flag(self, name: str, value: str, item: int | None) -> None:
        shown = value if len(value) <= 60 else value[:57] + "..."
        message = f"{_where(item)}{name} {shown!r} is not in the letter"
        self.warnings.append(ExtractionWarning(code="ungrounded", item=item, message=message))
        self.review.setdefault(item, []).append(Flag(field=name, code="ungrounded", message=message, values={"model": value}))


def _where(item: int | None) -> str:
    return f"item {item + 1}: " if item is not None else ""
