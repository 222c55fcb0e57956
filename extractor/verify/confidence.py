"""Calibrated confidence per field, from the self-checks' flags.

The model is a table (``data/calibration.json``, written by ``benchmarks/calibrate.py``, which names the
records it was fit on): for each field, the share of right values among values no flag touched (its base
rate), and for each flag code seen on the same item or letter, the share of right values of that field
where the code was raised, smoothed toward the base rate (``(right + k * base) / (n + k)``). A field's
confidence is the lowest rate among the codes raised, else its base rate. A code the table has not met
(a model-disagreement flag, say) lowers only its own field, to that field's rate among flagged values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..models import Flag

CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.json"

# The fields that carry a confidence: every contract field of an item and of a letter that the eval scores.
ITEM_FIELDS = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category",
               "generic_name", "strength", "quantity", "decision", "claims_administrator_guidelines",
               "reviewer_guidelines", "rationale")
LETTER_FIELDS = ("layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
                 "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age",
                 "reviewer_specialty", "reviewer_licensure")


@dataclass(frozen=True)
class FieldModel:
    """One field's rates: unflagged, flagged by an unknown code on this field, and per code."""

    base: float
    flagged: float
    codes: Mapping[str, float]

    def confidence(self, field: str, flags: Iterable[Flag]) -> float:
        rates = [self.codes.get(f.code, self.flagged)
                 for f in flags if f.code in self.codes or f.field == field]
        return round(min(rates, default=self.base), 4)


@dataclass(frozen=True)
class Calibration:
    """The fitted table for item fields and letter fields."""

    items: Mapping[str, FieldModel]
    letters: Mapping[str, FieldModel]
    fitted_on: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        def models(part: Mapping[str, Any]) -> dict[str, FieldModel]:
            return {name: FieldModel(float(m["base"]), float(m["flagged"]), {c: float(r) for c, r in m["codes"].items()})
                    for name, m in part.items()}
        return cls(items=models(data["items"]), letters=models(data["letters"]), fitted_on=str(data.get("fitted_on", "")))

    def item_confidence(self, flags: Iterable[Flag]) -> dict[str, float]:
        """Each item field's confidence given the item's flags."""
        flags = list(flags)
        return {name: self.items[name].confidence(name, flags) for name in ITEM_FIELDS if name in self.items}

    def letter_confidence(self, flags: Iterable[Flag]) -> dict[str, float]:
        """Each letter field's confidence given the letter-level flags."""
        flags = list(flags)
        return {name: self.letters[name].confidence(name, flags) for name in LETTER_FIELDS if name in self.letters}


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    """The package's fitted table."""
    return Calibration.from_dict(json.loads(CALIBRATION.read_text(encoding="utf-8")))
