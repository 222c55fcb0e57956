"""The eval harness: score records against gold files in the contract's format (docs/record-format.md).

Items are aligned one-to-one by ``request`` similarity (then ``treatment``); every field is
compared after the contract's normalisation; figures are kept per field and per layout, with the
documents that missed each. Gold is read leniently (extra keys ignored, dates in any printed
form) so that any gold directory in the contract's format scores unchanged.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, utils

from ..errors import ImrExtractError
from ..models import Record
from ..parse.values import case_number, parse_date, state_code, strength_key

FUZZY = 0.85
RATIONALE = 0.95
ALIGN_MIN = 0.5
LETTER_SUFFIXES = (".pdf", ".txt")

_EXACT_LETTER = ("layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
                 "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age")
_DATE_FIELDS = {"date_assigned", "decision_date", "ur_denial_date", "application_received_date", "date_of_injury",
                "date_of_service"}
_CITATION_LISTS = ("claims_administrator_guidelines", "reviewer_guidelines")


def similarity(a: str | None, b: str | None) -> float:
    """Normalised similarity in [0, 1]: case, punctuation and spacing ignored."""
    if a is None or b is None:
        return 1.0 if a is None and b is None else 0.0
    return fuzz.ratio(a, b, processor=utils.default_process) / 100.0


@dataclass
class Tally:
    """Correct out of total, and the documents that missed."""

    correct: int = 0
    total: int = 0
    missed: set[str] = field(default_factory=set)

    def add(self, ok: bool, document_id: str) -> None:
        self.total += 1
        if ok:
            self.correct += 1
        else:
            self.missed.add(document_id)

    @property
    def rate(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class _Scores:
    """Everything counted for one group of documents (all, or one layout)."""

    documents: int = 0
    errors: int = 0
    gold_items: int = 0
    predicted_items: int = 0
    aligned_items: int = 0
    decisions: Tally = field(default_factory=Tally)
    fields: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    diagnoses_f1: list[float] = field(default_factory=list)
    reasons_f1: list[float] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, ok: bool, document_id: str, gold: Any, predicted: Any, **where: int | None) -> None:
        """Count one field; a miss keeps both values and where it is (item indices) for the report."""
        self.fields[name].add(ok, document_id)
        if not ok:
            self.misses.append({"document_id": document_id, "field": name, "gold": gold, "predicted": predicted}
                               | where)

    def summary(self) -> dict[str, Any]:
        correct = sum(t.correct for t in self.fields.values())
        total = sum(t.total for t in self.fields.values())
        return {
            "item_recall": _ratio(self.aligned_items, self.gold_items),
            "item_precision": _ratio(self.aligned_items, self.predicted_items),
            "decision_accuracy": self.decisions.rate,
            "field_accuracy": _ratio(correct, total),
            "documents": self.documents,
            "items": self.gold_items,
            "predicted_items": self.predicted_items,
            "aligned_items": self.aligned_items,
            "errors": self.errors,
            "diagnoses_f1": _mean(self.diagnoses_f1),
            "reasons_f1": _mean(self.reasons_f1),
        }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def load_gold(gold_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``<document_id>.json`` in the folder, keyed by its file stem."""
    gold: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(gold_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ImrExtractError(f"{path}: not a readable gold JSON file: {e}") from e
        if not isinstance(data, dict):
            raise ImrExtractError(f"{path}: a gold file holds one JSON object")
        gold[path.stem] = data
    if not gold:
        raise ImrExtractError(f"{gold_dir}: no gold files (*.json)")
    return gold


def find_letter(letters_dir: str | Path, document_id: str) -> Path | None:
    """The letter file for a gold file: ``<document_id>.pdf`` or ``.txt``."""
    for suffix in LETTER_SUFFIXES:
        candidate = Path(letters_dir) / f"{document_id}{suffix}"
        if candidate.exists():
            return candidate
    return None


@dataclass
class EvalReport:
    """The scores, as the JSON report and the printed table show them.

    ``misses`` has one entry per field missed (and per item found on one side only): the document,
    the field, the gold and predicted values, and the predicted and gold item indices for item fields.
    ``calibration``: the confidences' reliability table and ECE, and the review recall of flags."""

    summary: dict[str, Any]
    fields: dict[str, dict[str, Any]]
    layouts: dict[str, dict[str, Any]]
    documents: dict[str, dict[str, Any]]
    misses: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "fields": self.fields, "layouts": self.layouts, "documents": self.documents,
                "misses": self.misses, "calibration": self.calibration}


def evaluate(
    gold: dict[str, dict[str, Any]],
    letters_dir: str | Path,
    extract_many: Callable[[Iterable[Path]], Iterable[Record]],
) -> EvalReport:
    """Extract every letter that has gold (``extract_many`` yields one record per path, in order) and score it."""
    ids = sorted(gold)
    paths = {i: find_letter(letters_dir, i) for i in ids}
    present = [i for i in ids if paths[i] is not None]
    records = dict(zip(present, extract_many([paths[i] for i in present]), strict=True))  # type: ignore[misc]
    return score({i: records.get(i) for i in ids}, gold)


def score(predictions: dict[str, Record | None], gold: dict[str, dict[str, Any]]) -> EvalReport:
    """Score records (None or an error record = nothing extracted) against gold objects."""
    overall = _Scores()
    by_layout: dict[str, _Scores] = defaultdict(_Scores)
    documents: dict[str, dict[str, Any]] = {}
    for doc_id, g in gold.items():
        record = predictions.get(doc_id)
        layout = str(g.get("layout") or "unknown")
        pred = record.model_dump(mode="json") if record is not None and record.ok else None
        doc = {"layout": layout, "gold_items": len(g.get("items") or []), "error": None}
        if record is not None and record.error is not None:
            doc["error"] = f"{record.error.type}: {record.error.message}"
        elif record is None:
            doc["error"] = "no letter file or no record"
        for scores in (overall, by_layout[layout]):
            doc.update(_score_document(scores, doc_id, pred, g))
        documents[doc_id] = doc
    fields = {name: _tally_dict(t) for name, t in sorted(overall.fields.items())}
    layouts = {name: s.summary() | {"fields": {n: _tally_dict(t) for n, t in sorted(s.fields.items())}}
               for name, s in sorted(by_layout.items())}
    from .calibration import calibration_report, outcomes  # it scores with this module's comparisons

    return EvalReport(summary=overall.summary(), fields=fields, layouts=layouts, documents=documents,
                      misses=overall.misses, calibration=calibration_report(outcomes(predictions, gold)))


def _tally_dict(t: Tally) -> dict[str, Any]:
    return {"accuracy": t.rate, "correct": t.correct, "total": t.total, "missed_documents": sorted(t.missed)}


def _score_document(s: _Scores, doc_id: str, pred: dict[str, Any] | None, gold: dict[str, Any]) -> dict[str, Any]:
    s.documents += 1
    gold_items = list(gold.get("items") or [])
    s.gold_items += len(gold_items)
    if pred is None:
        s.errors += 1
        for name in _letter_field_names(gold):
            s.add(name, False, doc_id, gold.get(name), None)
        return {"predicted_items": 0, "aligned_items": 0}
    reference = parse_date(gold.get("decision_date"))
    for name in _letter_field_names(gold):
        s.add(name, _letter_field_ok(name, pred.get(name), gold.get(name), reference), doc_id, gold.get(name),
              pred.get(name))
    if "diagnoses" in gold:
        s.diagnoses_f1.append(_fuzzy_f1(pred.get("diagnoses") or [], gold.get("diagnoses") or []))
    pred_items = list(pred.get("items") or [])
    s.predicted_items += len(pred_items)
    pairs = align(pred_items, gold_items)
    s.aligned_items += len(pairs)
    for p_i, g_i in pairs:
        p, g = pred_items[p_i], gold_items[g_i]
        s.decisions.add(_norm(p.get("decision")) == _norm(g.get("decision")), doc_id)
        for name, ok in _item_field_results(p, g, reference):
            base = name.partition(".")[0]
            s.add(name, ok, doc_id, g.get(base), _without_spans(p.get(base)), item=p_i, gold_item=g_i)
        if "reasons" in g:
            s.reasons_f1.append(_set_f1(set(p.get("reasons") or []), set(g.get("reasons") or [])))
    paired_p, paired_g = {i for i, _ in pairs}, {j for _, j in pairs}
    for g_i, g in enumerate(gold_items):
        if g_i not in paired_g:
            s.misses.append({"document_id": doc_id, "field": "item", "gold": g.get("request"), "predicted": None,
                             "item": None, "gold_item": g_i})
    for p_i, p in enumerate(pred_items):
        if p_i not in paired_p:
            s.misses.append({"document_id": doc_id, "field": "item", "gold": None, "predicted": p.get("request"),
                             "item": p_i, "gold_item": None})
    return {"predicted_items": len(pred_items), "aligned_items": len(pairs)}


def _without_spans(value: Any) -> Any:
    """A citation list as the gold has it (spans are the record's, not the contract's)."""
    if isinstance(value, list):
        return [{k: v for k, v in c.items() if k != "span"} if isinstance(c, dict) else c for c in value]
    return value


def _letter_field_names(gold: dict[str, Any]) -> list[str]:
    names = [n for n in _EXACT_LETTER if n in gold]
    return names + [n for n in ("reviewer_specialty", "reviewer_licensure") if n in gold]


def _letter_field_ok(name: str, pred: Any, gold: Any, reference: Any) -> bool:
    if name == "reviewer_specialty":
        return similarity(pred, gold) >= FUZZY
    if name == "reviewer_licensure":
        return {state_code(s) or s for s in pred or []} == {state_code(s) or s for s in gold or []}
    if name == "case_number":
        return case_number(pred) == case_number(gold)
    if name in _DATE_FIELDS:
        return parse_date(pred, reference=reference) == parse_date(gold, reference=reference)
    if name == "patient_age":
        return _int(pred) == _int(gold)
    return _norm(pred) == _norm(gold)


def align(pred_items: list[dict[str, Any]], gold_items: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """One-to-one pairs (predicted index, gold index), best ``request`` similarity first, then ``treatment``."""
    candidates = []
    for i, p in enumerate(pred_items):
        for j, g in enumerate(gold_items):
            req = similarity(p.get("request"), g.get("request"))
            treat = similarity(p.get("treatment"), g.get("treatment"))
            if req >= ALIGN_MIN or treat >= FUZZY:
                candidates.append(((req, treat, -abs(i - j)), i, j))
    return sorted(greedy_pairs(candidates))


def greedy_pairs(candidates: Iterable[tuple[Any, int, int]]) -> list[tuple[int, int]]:
    """One-to-one (i, j) pairs from ``(score, i, j)`` candidates, best score first."""
    used_p: set[int] = set()
    used_g: set[int] = set()
    pairs = []
    for _, i, j in sorted(candidates, reverse=True):
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            pairs.append((i, j))
    return pairs


def _item_field_results(p: dict[str, Any], g: dict[str, Any], reference: Any) -> Iterable[tuple[str, bool]]:
    fuzzy = ("request", "original_request", "treatment")
    for name in fuzzy:
        if name in g:
            yield name, similarity(p.get(name), g.get(name)) >= FUZZY
    if "rationale" in g:
        yield "rationale", similarity(p.get("rationale"), g.get("rationale")) >= RATIONALE
    if "retrospective" in g:
        yield "retrospective", bool(p.get("retrospective")) == bool(g.get("retrospective"))
    if "date_of_service" in g:
        yield "date_of_service", parse_date(p.get("date_of_service"), reference=reference) == parse_date(
            g.get("date_of_service"), reference=reference)
    for name in ("category", "generic_name", "decision"):
        if name in g:
            yield name, _norm(p.get(name)) == _norm(g.get(name))
    if "strength" in g:
        yield "strength", strength_key(p.get("strength")) == strength_key(g.get("strength"))
    if "quantity" in g:
        yield "quantity", _int(p.get("quantity")) == _int(g.get("quantity"))
    for name in _CITATION_LISTS:
        if name in g:
            yield from _citation_results(name, p.get(name) or [], g.get(name) or [])


def _citation_results(name: str, pred: list[dict[str, Any]], gold: list[dict[str, Any]]) -> Iterable[tuple[str, bool]]:
    """Set equality of sources and of pages; guideline and topic fuzzy, citation by citation."""
    (pred_sources, pred_pages), (gold_sources, gold_pages) = citation_sets(pred), citation_sets(gold)
    yield f"{name}.source", pred_sources == gold_sources
    yield f"{name}.pages", pred_pages == gold_pages
    pairs = _pair_citations(pred, gold)
    same_count = len(pred) == len(gold)
    for part in ("guideline", "topic"):
        ok = same_count and all(similarity(pred[i].get(part), gold[j].get(part)) >= FUZZY for i, j in pairs)
        yield f"{name}.{part}", ok


def citation_sets(citations: list[dict[str, Any]]) -> tuple[set[Any], set[int]]:
    """The sources and the pages of a citation list: what two lists must share to count as the same."""
    return {_norm(c.get("source")) for c in citations}, {p for c in citations for p in c.get("pages") or []}


def _pair_citations(pred: list[dict[str, Any]], gold: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return greedy_pairs(
        ((_norm(p.get("source")) == _norm(g.get("source")), similarity(p.get("guideline"), g.get("guideline"))), i, j)
        for i, p in enumerate(pred) for j, g in enumerate(gold)
    )


def _fuzzy_f1(pred: list[str], gold: list[str]) -> float:
    if not pred and not gold:
        return 1.0
    pairs = align([{"request": p} for p in pred], [{"request": g} for g in gold])
    strict = sum(1 for i, j in pairs if similarity(pred[i], gold[j]) >= FUZZY)
    precision = strict / len(pred) if pred else 0.0
    recall = strict / len(gold) if gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _set_f1(pred: set[str], gold: set[str]) -> float:
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    return 2 * tp / (len(pred) + len(gold))


def _norm(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
