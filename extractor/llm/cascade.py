"""The ``cascade`` backend's question: the parser reads every letter, and only the fields whose
calibrated confidence is below the threshold (``Settings.cascade_threshold``) are asked of the model.

A letter with nothing in doubt sends no request. Everything else (asking, parts, re-asks, checks
against the letter and the parser, grounding, flags, fallback on failure) is ``hybrid``'s, in
``backends``: the question only names fewer items and fewer fields (``schema.cascade_schema``,
``prompt.cascade_prompt``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Record
from .check import JUDGEMENT_FIELDS
from .schema import HEADER_FIELDS


@dataclass(frozen=True)
class Doubts:
    """What the model is asked about one letter: each item's fields in doubt (0-based index -> fields),
    and the letter's."""

    items: dict[int, tuple[str, ...]]
    letter: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items or self.letter)

    @property
    def item_fields(self) -> tuple[str, ...]:
        """The fields asked of the items (one schema for the request): every field some item doubts."""
        doubted = {name for fields in self.items.values() for name in fields}
        return tuple(name for name in JUDGEMENT_FIELDS if name in doubted)

    @property
    def fields(self) -> int:
        """How many fields are in doubt, items' and letter's."""
        return sum(map(len, self.items.values())) + len(self.letter)


def doubts(record: Record, threshold: float) -> Doubts:
    """The fields of the parser's ``record`` the model can answer (an item's judgement fields, the
    header's fields) whose confidence is below ``threshold``. A field without a confidence is not in doubt."""
    items = {i: fields for i, item in enumerate(record.items)
             if (fields := _below(item.confidence, JUDGEMENT_FIELDS, threshold))}
    return Doubts(items, _below(record.confidence, HEADER_FIELDS, threshold))


def _below(confidence: dict[str, float], names: tuple[str, ...], threshold: float) -> tuple[str, ...]:
    return tuple(name for name in names if confidence.get(name, 1.0) < threshold)
