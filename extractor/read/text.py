"""Normalising a letter's text for parsing, with a map from every clean offset back to the text as read.

What is undone: CR/LF and form feeds (page breaks), blank lines (the seeds double-space every
line), leading and trailing spaces, PDFium's U+FFFE line-end hyphen, and words hyphenated across
a line end. What stays: one printed line per clean line, every character otherwise as printed.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from ..models import Span

_LINE = re.compile(r"[^\r\n\f]+")
# One character for another, so offsets stay put (``str.replace`` per character: ``translate`` with a
# table is ten times slower on a whole letter).
_ODD = {"\ufffe": "-", "\u00a0": " ", "\u2009": " ", "\t": " ", "\u00ad": "-"}


@dataclass(frozen=True)
class CleanText:
    """Clean text plus, per copied run, where it starts in the clean and the read text."""

    text: str
    _clean_starts: tuple[int, ...]
    _raw_starts: tuple[int, ...]

    def raw_offset(self, clean: int) -> int:
        """Offset in the read text of the character at ``clean`` (or just past the last one)."""
        i = bisect.bisect_right(self._clean_starts, clean) - 1
        if i < 0:
            return 0
        return self._raw_starts[i] + (clean - self._clean_starts[i])

    def span(self, start: int, end: int) -> Span:
        """The read-text span of the clean range ``[start, end)``."""
        if end <= start:
            raw = self.raw_offset(start)
            return Span(start=raw, end=raw)
        return Span(start=self.raw_offset(start), end=self.raw_offset(end - 1) + 1)


def normalise(raw: str) -> CleanText:
    """One printed line per clean line: blank lines, page breaks and margins dropped; hyphenation joined."""
    for odd, same in _ODD.items():
        if odd in raw:
            raw = raw.replace(odd, same)
    parts: list[str] = []
    clean_starts: list[int] = []
    raw_starts: list[int] = []
    pos = 0
    for m in _LINE.finditer(raw):
        line = m.group()
        stripped = line.strip(" ")
        if not stripped:
            continue
        raw_start = m.start() + (len(line) - len(line.lstrip(" ")))
        if parts:
            prev = parts[-1]
            if len(prev) > 1 and prev[-1] == "-" and prev[-2].islower() and stripped[0].islower():
                parts[-1] = prev[:-1]
                pos -= 1
            else:
                parts.append("\n")
                pos += 1
        clean_starts.append(pos)
        raw_starts.append(raw_start)
        parts.append(stripped)
        pos += len(stripped)
    return CleanText("".join(parts), tuple(clean_starts), tuple(raw_starts))


def collapse(s: str) -> str:
    """Whitespace runs to one space, ends trimmed: how the contract compares verbatim text."""
    return " ".join(s.split())
