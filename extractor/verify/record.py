"""A record with its self-checks' flags and confidences: the parser's record in every backend."""

from __future__ import annotations

from ..models import Record
from .checks import LetterView, item_flags, letter_flags
from .confidence import Calibration, calibration


def verify(record: Record, text: str, table: Calibration | None = None) -> Record:
    """``record`` with every self-check's flags on its items and letter, ``needs_review`` and ``review_reasons``
    in step with them, and a confidence per field. ``text``: the letter's text as read, which the spans index."""
    if not record.ok:
        return record
    table = table or calibration()
    view = LetterView(record, text)
    items = []
    for i, item in enumerate(record.items):
        flags = item_flags(item, i, view)
        checked = item.with_flags(*flags)
        items.append(checked.model_copy(update={"confidence": table.item_confidence(checked.flags)}))
    flags = [*record.flags, *letter_flags(view)]
    return record.model_copy(update={
        "items": items, "flags": flags, "confidence": table.letter_confidence(flags),
        "review_reasons": [f.message for f in flags] + [r for item in items for r in item.review_reasons],
        "needs_review": record.needs_review or bool(flags) or any(item.needs_review for item in items),
    })
