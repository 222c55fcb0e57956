"""How far the confidences and flags can be trusted, measured against gold: a reliability table, the
expected calibration error, and the review recall of flags. The same outcomes fit the confidence table
(``fit_table``, used by ``benchmarks/calibrate.py``).

Unit of account: a field of an aligned item (a citation list counts once: right when its sources, pages,
guidelines and topics all are) or a letter field; an item is wrong when any of its scored fields is, or
when it matches no gold item.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..models import Record
from ..parse.values import parse_date
from .scoring import _item_field_results, _letter_field_names, _letter_field_ok, align

BINS = 10
# Prior weight of the field's base rate in a flag code's smoothed rate: (right + K * base) / (n + K).
PRIOR_WEIGHT = 2.0


@dataclass(frozen=True)
class FieldOutcome:
    """One scored field: right or not, the confidence it carried, whether a flag named it, and every flag code
    raised on its item (or letter)."""

    document_id: str
    item: int | None
    field: str
    right: bool
    confidence: float | None
    flagged: bool
    codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ItemOutcome:
    """One predicted item: wrong (a field wrong, or no gold item) and whether any flag is on it."""

    document_id: str
    item: int
    wrong: bool
    flagged: bool


@dataclass
class Outcomes:
    """Everything scored for calibration."""

    fields: list[FieldOutcome] = field(default_factory=list)
    items: list[ItemOutcome] = field(default_factory=list)


def outcomes(predictions: Mapping[str, Record | None], gold: Mapping[str, Mapping[str, Any]]) -> Outcomes:
    """The field and item outcomes of records against gold (error records and missing ones score nothing here:
    the eval counts them)."""
    out = Outcomes()
    for doc_id, g in gold.items():
        record = predictions.get(doc_id)
        if record is None or not record.ok:
            continue
        pred = record.model_dump(mode="json")
        reference = parse_date(g.get("decision_date"))
        letter_codes = frozenset(f.code for f in record.flags)
        for name in _letter_field_names(dict(g)):
            out.fields.append(FieldOutcome(
                doc_id, None, name, _letter_field_ok(name, pred.get(name), g.get(name), reference),
                record.confidence.get(name), any(f.field == name for f in record.flags), letter_codes))
        pairs = dict(align(pred["items"], list(g.get("items") or [])))
        for p_i, item in enumerate(record.items):
            codes = frozenset(f.code for f in item.flags)
            if p_i not in pairs:
                out.items.append(ItemOutcome(doc_id, p_i, True, bool(item.flags)))
                continue
            results: dict[str, bool] = defaultdict(lambda: True)
            for name, ok in _item_field_results(pred["items"][p_i], g["items"][pairs[p_i]], reference):
                key = name.partition(".")[0]
                results[key] = results[key] and ok
            for key, ok in results.items():
                out.fields.append(FieldOutcome(doc_id, p_i, key, ok, item.confidence.get(key),
                                               any(f.field == key for f in item.flags), codes))
            out.items.append(ItemOutcome(doc_id, p_i, not all(results.values()), bool(item.flags)))
    return out


def reliability(fields: Iterable[FieldOutcome], bins: int = BINS) -> dict[str, Any]:
    """Confidence bins (count, mean confidence, accuracy) and the expected calibration error: the count-weighted
    mean gap between a bin's mean confidence and its accuracy. Fields without a confidence are left out."""
    scored = [(o.confidence, o.right) for o in fields if o.confidence is not None]
    table = []
    ece = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [(c, r) for c, r in scored if low <= c < high or (b == bins - 1 and c == 1.0)]
        if not inside:
            continue
        mean = sum(c for c, _ in inside) / len(inside)
        accuracy = sum(r for _, r in inside) / len(inside)
        ece += len(inside) / len(scored) * abs(mean - accuracy)
        table.append({"bin": f"{low:.1f}-{high:.1f}", "count": len(inside), "mean_confidence": round(mean, 4),
                      "accuracy": round(accuracy, 4)})
    return {"bins": table, "ece": round(ece, 4) if scored else None, "fields": len(scored)}


def review_recall(out: Outcomes) -> dict[str, Any]:
    """Wrong fields flagged / wrong fields, wrong items flagged / wrong items, and the share of right items
    flagged (the cost of the flags)."""
    wrong_fields = [o for o in out.fields if not o.right]
    wrong_items = [o for o in out.items if o.wrong]
    right_items = [o for o in out.items if not o.wrong]
    return {
        "wrong_fields": len(wrong_fields), "wrong_fields_flagged": sum(o.flagged for o in wrong_fields),
        "field_recall": _share(sum(o.flagged for o in wrong_fields), len(wrong_fields)),
        "wrong_items": len(wrong_items), "wrong_items_flagged": sum(o.flagged for o in wrong_items),
        "item_recall": _share(sum(o.flagged for o in wrong_items), len(wrong_items)),
        "right_items": len(right_items), "right_items_flagged": sum(o.flagged for o in right_items),
        "right_items_flagged_share": _share(sum(o.flagged for o in right_items), len(right_items)),
        "items": len(out.items), "items_flagged": sum(o.flagged for o in out.items),
        "items_flagged_share": _share(sum(o.flagged for o in out.items), len(out.items)),
    }


def calibration_report(out: Outcomes) -> dict[str, Any]:
    """The eval report's ``calibration`` part: reliability, ECE and review recall."""
    return reliability(out.fields) | {"review": review_recall(out)}


def fit_table(item_fields: Iterable[FieldOutcome], letter_fields: Iterable[FieldOutcome],
              min_count: int = 2) -> dict[str, Any]:
    """The confidence table (``extractor/verify/data/calibration.json``'s ``items`` and ``letters``) from
    outcomes: per field the base rate among unflagged items (Laplace-smoothed), the rate among values its own field's flags touched,
    and per flag code seen at least ``min_count`` times with the field the rate, smoothed toward the base
    (kept only where it is below the base: a code that does not lower a field says nothing about it)."""
    return {"items": _fit(item_fields, min_count), "letters": _fit(letter_fields, min_count)}


def _fit(outcomes_: Iterable[FieldOutcome], min_count: int) -> dict[str, Any]:
    by_field: dict[str, list[FieldOutcome]] = defaultdict(list)
    for o in outcomes_:
        by_field[o.field].append(o)
    table = {}
    for name, group in sorted(by_field.items()):
        clean = [o for o in group if not o.codes]
        base = _smoothed(sum(o.right for o in clean), len(clean), 0.5, PRIOR_WEIGHT)  # Laplace: never 1
        own = [o for o in group if o.flagged]
        flagged = _smoothed(sum(o.right for o in own), len(own), base, PRIOR_WEIGHT) if own else min(base, 0.5)
        codes: dict[str, list[FieldOutcome]] = defaultdict(list)
        for o in group:
            for code in o.codes:
                codes[code].append(o)
        rates = {code: round(rate, 4) for code, seen in sorted(codes.items()) if len(seen) >= min_count
                 and (rate := _smoothed(sum(o.right for o in seen), len(seen), base, PRIOR_WEIGHT)) < base}
        table[name] = {"base": round(base, 4), "flagged": round(flagged, 4), "codes": rates,
                       "n": len(group), "n_unflagged": len(clean)}
    return table


def _smoothed(right: int, n: int, prior: float, weight: float) -> float:
    return (right + weight * prior) / (n + weight)


def _share(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None
