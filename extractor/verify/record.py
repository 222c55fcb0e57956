"""A record with its self-checks' flags and confidences: the parser's record in every backend."""

from __future__ import annotations

from ..models import Flag, Record
from .checks import LetterView, item_flags, letter_flags
from .confidence import Calibration, calibration


def verify(record: Record, text: str, table: Calibration | None = None) -> Record:
    """``record`` with every self-check's flags on its items and letter, ``needs_review`` and ``review_reasons``
    in step with them, and a confidence per field (over every flag, a model check's too). ``text``: the letter's
    text as read, which the spans index. Idempotent: a flag already on the record is not raised twice. A value a
    model gave (``sources``: ``model`` or ``agreed``) is the model checks' to flag (``extractor/llm/check.py``)."""
    if not record.ok:
        return record
    table = table or calibration()
    view = LetterView(record, text)
    items = []
    for i, item in enumerate(record.items):
        checked = item.with_flags(*(f for f in item_flags(item, i, view)
                                    if f not in item.flags and item.sources.get(f.field, "parser") == "parser"))
        items.append(checked.model_copy(update={"confidence": table.item_confidence(checked.flags)}))
    flags = [*record.flags, *(f for f in letter_flags(view)
                              if f not in record.flags and record.sources.get(f.field, "parser") == "parser")]
    return record.model_copy(update={
        "items": items, "flags": flags, "confidence": table.letter_confidence(flags),
        "review_reasons": _letter_reasons(record, flags) + [r for item in items for r in item.review_reasons],
        "needs_review": record.needs_review or bool(flags) or any(item.needs_review for item in items),
    })


def _letter_reasons(record: Record, flags: list[Flag]) -> list[str]:
    """The record's letter-level reasons (those no item holds), then each new flag's line."""
    held = {r for item in record.items for r in item.review_reasons}
    own = [r for r in record.review_reasons if r not in held]
    return own + [f.message for f in flags if f.message not in own]
