"""Every extracted field that has a span, and the letter's text with each such field marked where it was read.

Spans may nest (a citation inside an item's rationale) or cross; the marked text is always well
formed: a span that crosses another is split into pieces that each carry its field path.
The text is escaped here, piece by piece, before any markup is added: letter text is data.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from ..models import Citation, Record

_CITATION_LISTS = ("claims_administrator_guidelines", "reviewer_guidelines")


@dataclass(frozen=True)
class Field:
    """One extracted value and where it was read: ``path`` as in ``items[3].rationale`` or ``diagnoses[1]``."""

    path: str
    start: int
    end: int
    value: str
    item: int | None = None
    source: str = "parser"


def citation_text(citation: Citation) -> str:
    """A citation as one line: source, guideline, topic, pages."""
    pages = f"p. {', '.join(map(str, citation.pages))}" if citation.pages else ""
    return " | ".join(p for p in (citation.source, citation.guideline, citation.topic, pages) if p)


def fields_with_spans(record: Record) -> list[Field]:
    """Every field of the record that carries a span, letter-level first, then item by item."""
    fields = [Field(name, s.start, s.end, _letter_value(record, name)) for name, s in record.spans.items()]
    for i, item in enumerate(record.items):
        for name, s in item.spans.items():
            value = getattr(item, name, None)
            fields.append(Field(f"items[{i}].{name}", s.start, s.end, "" if value is None else str(value), i,
                                item.sources.get(name, "parser")))
        for list_name in _CITATION_LISTS:
            for j, citation in enumerate(getattr(item, list_name)):
                if citation.span is not None:
                    fields.append(Field(f"items[{i}].{list_name}[{j}]", citation.span.start, citation.span.end,
                                        citation_text(citation), i, item.sources.get(list_name, "parser")))
    return fields


def _letter_value(record: Record, path: str) -> str:
    """The value of a letter-level span key: ``case_number``, ``diagnoses`` (all) or ``diagnoses[1]``."""
    name, _, index = path.partition("[")
    value = getattr(record, name, None)
    if index and isinstance(value, list):
        position = int(index.rstrip("]"))
        value = value[position] if position < len(value) else None
    elif isinstance(value, list):
        value = "; ".join(map(str, value))
    return "" if value is None else str(value)


def mark_text(text: str, fields: list[Field]) -> tuple[Markup, set[str]]:
    """The text as escaped HTML with each field in a ``<mark data-field=...>``; also the paths that were marked.

    Spans out of the text's range, or empty, are left out (and so absent from the returned paths)."""
    usable = sorted((f for f in fields if 0 <= f.start < f.end <= len(text)), key=lambda f: (f.start, -f.end))
    starts: dict[int, list[Field]] = {}
    for f in usable:
        starts.setdefault(f.start, []).append(f)
    bounds = sorted({0, len(text)} | {f.start for f in usable} | {f.end for f in usable})
    out: list[str] = []
    stack: list[Field] = []  # open marks, outermost first
    for here, nxt in zip(bounds, bounds[1:], strict=False):
        ending = [f for f in stack if f.end <= here]
        if ending:
            # Close down to the outermost mark that ends here, then reopen the ones that go on (a split).
            depth = stack.index(ending[0])
            reopen = [f for f in stack[depth:] if f.end > here]
            out.append("</mark>" * (len(stack) - depth))
            stack = stack[:depth]
            for f in reopen:
                out.append(_open(f))
                stack.append(f)
        for f in starts.get(here, []):
            out.append(_open(f))
            stack.append(f)
        out.append(str(escape(text[here:nxt])))
    out.append("</mark>" * len(stack))
    return Markup("".join(out)), {f.path for f in usable}


def _open(f: Field) -> str:
    item = "" if f.item is None else f' data-item="{f.item}"'
    return f'<mark class="hl src-{escape(f.source)}" data-field="{escape(f.path)}"{item} tabindex="0">'
