"""The eval report as one self-contained page: figures per field and layout, and every miss beside the letter's text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..evaluation.scoring import EvalReport
from ..models import Record, Span
from .site import environment, source_letter

CONTEXT = 240
_HEADLINE = ("documents", "items", "item_recall", "item_precision", "decision_accuracy", "field_accuracy",
             "diagnoses_f1", "reasons_f1", "errors")


@dataclass(frozen=True)
class Miss:
    """One missed field, ready to show: both values and the letter's text around where it was read."""

    document_id: str
    field: str
    item: int | None
    gold: Any
    predicted: Any
    context: Markup | None


def miss_span(record: Record, miss: dict[str, Any]) -> Span | None:
    """Where the predicted value was read: the field's own span, else its item's request, else none."""
    name = str(miss["field"]).partition(".")[0]
    index = miss.get("item")
    if index is None:
        return record.spans.get(name)
    if not 0 <= index < len(record.items):
        return None
    item = record.items[index]
    cited = [c.span for c in getattr(item, name, None) or [] if c.span is not None] if name.endswith("_guidelines") else []
    every_citation = Span(start=min(s.start for s in cited), end=max(s.end for s in cited)) if cited else None
    return item.spans.get(name) or every_citation or item.spans.get("request")


def context_html(text: str, span: Span) -> Markup:
    """The text around the span, escaped, with the span marked."""
    start, end = max(0, span.start - CONTEXT), min(len(text), span.end + CONTEXT)
    return Markup("{}{}<mark>{}</mark>{}{}").format(
        "…" if start else "", text[start:span.start], text[span.start:span.end], text[span.end:end],
        "…" if end < len(text) else "")


def _misses(report: EvalReport, records: dict[str, Record]) -> list[Miss]:
    texts: dict[str, str | None] = {}
    shown = []
    for miss in report.misses:
        doc_id = miss["document_id"]
        record = records.get(doc_id)
        span = miss_span(record, miss) if record is not None and record.ok else None
        if doc_id not in texts:
            texts[doc_id] = _text(record)
        text = texts[doc_id]
        context = context_html(text, span) if span is not None and text is not None and span.end <= len(text) else None
        shown.append(Miss(doc_id, miss["field"], miss.get("item"), miss["gold"], miss["predicted"], context))
    return shown


def _text(record: Record | None) -> str | None:
    letter = source_letter(record)[0] if record is not None else None
    return letter.text if letter is not None else None


def write_eval_report(report: EvalReport, records: list[Record], path: str | Path) -> None:
    """Write the report page; ``records`` are the ones scored (for the letters' text and the spans)."""
    misses = _misses(report, {r.document_id: r for r in records})
    page = environment().get_template("eval.html.j2").render(
        report=report, headline=_HEADLINE, misses=misses, fmt=_fmt)
    Path(path).write_text(page, encoding="utf-8")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)
