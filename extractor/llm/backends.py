"""The ``llm`` and ``hybrid`` backends: one letter -> prompt -> (cache or model) -> grounded record.

``llm`` sends the whole clean letter and takes every field from the model. ``hybrid`` sends the
parser's excerpt (case summary and item blocks) and takes from the model only what the parser
reads poorly (treatment, category, drug facts, citations, reasons, diagnoses); the parser's
verbatim fields stay. Both ground what the model returned and cross-check it with the parser:
a disagreement on the items or a decision sets ``needs_review`` with the reason.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from rapidfuzz import fuzz

from ..models import ExtractionWarning, Item, Provenance, Record, Span
from ..parse import ParsedLetter, parse_letter
from ..pipeline import clean_letter, error_record, package_version
from ..read import LetterText
from ..segment import Region
from ..text import CleanText, collapse
from .cache import AnswerCache, cache_key
from .client import ModelCaller, Reply
from .ground import Grounder
from .prompt import Prompt, fill_prompt, hybrid_excerpt, letter_prompt
from .schema import FillAnswer, LetterAnswer

M = TypeVar("M", bound=BaseModel)
SAME_REQUEST = 80.0  # rapidfuzz ratio above which two requests name the same item
_HEADER_FIELDS = ("case_number", "date_assigned", "decision_date", "ur_denial_date", "application_received_date",
                  "priority", "date_of_injury", "patient_sex", "patient_age", "reviewer_specialty", "reviewer_licensure")


async def extract_letter(letter: LetterText, backend: str, caller: ModelCaller, cache: AnswerCache | None) -> Record:
    """The record of one letter by ``backend`` (``llm`` or ``hybrid``); an error record if the model fails.

    Raises ``NotAnImrLetterError`` as the offline backend does.
    """
    clean = clean_letter(letter)
    parsed = parse_letter(clean)
    warnings = [ExtractionWarning(code="encoding", message=w) for w in letter.warnings]
    if backend == "hybrid" and (parsed.layout == "unknown" or not parsed.items):
        why = "layout not recognised" if parsed.layout == "unknown" else "the parser found no items"
        warnings.append(ExtractionWarning(code="fallback", message=f"{why}: hybrid fell back to the llm backend"))
        backend = "llm"
    prompt, schema = (
        (letter_prompt(clean.text), LetterAnswer) if backend == "llm"
        else (fill_prompt(hybrid_excerpt(clean, parsed)), FillAnswer)
    )
    reply: Reply[BaseModel] = await _ask(letter.sha256, prompt, schema, caller, cache)
    provenance = Provenance(backend=backend, package_version=package_version(), source_path=letter.path,
                            source_sha256=letter.sha256, prompt_version=prompt.version, model=caller.settings.model,
                            usage=reply.usage)
    if reply.answer is None:
        failed = error_record(letter.path, reply.error or RuntimeError("no answer"), backend)
        return failed.model_copy(update={"provenance": provenance})
    grounder = Grounder(clean)
    if isinstance(reply.answer, LetterAnswer):
        record = _letter_record(letter, clean, parsed, reply.answer, grounder, provenance)
        reasons = compare_items(parsed.items, record.items)
    else:
        assert isinstance(reply.answer, FillAnswer)
        record, reasons = _hybrid_record(letter, clean, parsed, reply.answer, grounder, provenance)
        warnings = warnings + parsed.warnings
    review = grounder.review_reasons + reasons
    return record.model_copy(update={
        "warnings": warnings + grounder.warnings,
        "needs_review": bool(review),
        "review_reasons": review,
    })


async def _ask(letter_sha256: str, prompt: Prompt, schema: type[M], caller: ModelCaller,
               cache: AnswerCache | None) -> Reply[M]:
    key = cache_key(letter_sha256, prompt, schema, caller.sampling)
    if cache is not None and (hit := cache.get(key, schema)) is not None:
        answer, spent = hit
        return Reply(answer, spent.model_copy(update={"requests": 0}))
    reply = await caller.ask(prompt, schema)
    if cache is not None and reply.answer is not None:
        cache.put(key, reply.answer, reply.usage)
    return reply


def _letter_record(letter: LetterText, clean: CleanText, parsed: ParsedLetter, answer: LetterAnswer,
                   g: Grounder, provenance: Provenance) -> Record:
    """``llm``: every field from the model; verbatim ones grounded, item by item in letter order."""
    items = []
    cursor = 0
    for i, it in enumerate(answer.items):
        spans: dict[str, Span | None] = {}
        original = None
        if it.original_request:
            original, spans["original_request"], _ = g.text("original_request", it.original_request, item=i,
                                                            region=Region(cursor, len(clean.text)))
        request, spans["request"], where = g.text("request", it.request, item=i, region=Region(cursor, len(clean.text)))
        body = Region(where.start if where else cursor, len(clean.text))
        cursor = where.end if where else cursor
        rationale = it.rationale
        if rationale:
            rationale, spans["rationale"], _ = g.text("rationale", rationale, item=i, region=body)
        items.append(Item(
            request=request, original_request=original, retrospective=it.retrospective,
            date_of_service=it.date_of_service, treatment=it.treatment, category=it.category,
            generic_name=it.generic_name, strength=it.strength, quantity=it.quantity, decision=it.decision,
            claims_administrator_guidelines=[g.citation("claims administrator citation", c, item=i, region=body)
                                             for c in it.claims_administrator_guidelines],
            reviewer_guidelines=[g.citation("reviewer citation", c, item=i, region=body) for c in it.reviewer_guidelines],
            rationale=rationale, reasons=it.reasons, spans={k: v for k, v in spans.items() if v is not None},
        ))
    diagnoses, letter_spans = _diagnoses(clean, parsed, answer.diagnoses, g)
    return Record(document_id=letter.document_id, layout=parsed.layout, diagnoses=diagnoses, items=items,
                  spans=letter_spans, provenance=provenance, **{k: getattr(answer, k) for k in _HEADER_FIELDS})


def _hybrid_record(letter: LetterText, clean: CleanText, parsed: ParsedLetter, answer: FillAnswer,
                   g: Grounder, provenance: Provenance) -> tuple[Record, list[str]]:
    """``hybrid``: the parser's record with the model's semantic fields; mismatches become review reasons."""
    assert parsed.segments is not None
    blocks = parsed.segments.items
    by_number = {f.item: f for f in answer.items}
    reasons = []
    items = []
    for i, item in enumerate(parsed.items):
        filled = by_number.get(i + 1)
        if filled is None:
            reasons.append(f"item {i + 1}: the model gave no answer for {item.request!r}")
            items.append(item)
            continue
        if filled.decision != item.decision:
            reasons.append(f"item {i + 1}: the parser read {item.decision}, the model {filled.decision}")
        block = blocks[i]
        items.append(item.model_copy(update={
            "treatment": filled.treatment, "category": filled.category, "generic_name": filled.generic_name,
            "strength": filled.strength, "quantity": filled.quantity, "reasons": filled.reasons,
            "claims_administrator_guidelines": [
                g.citation("claims administrator citation", c, item=i, region=block.claims_administrator)
                for c in filled.claims_administrator_guidelines],
            "reviewer_guidelines": [g.citation("reviewer citation", c, item=i, region=block.reviewer)
                                    for c in filled.reviewer_guidelines],
        }))
    extra = sorted(set(by_number) - set(range(1, len(parsed.items) + 1)))
    if extra:
        reasons.append(f"the model answered for items the parser did not find: {extra}")
    diagnoses, spans = _diagnoses(clean, parsed, answer.diagnoses, g)
    fields = {**parsed.fields, "diagnoses": diagnoses}
    record = Record(document_id=letter.document_id, layout=parsed.layout, items=items,
                    spans={**parsed.spans, **spans}, provenance=provenance, **fields)  # type: ignore[arg-type]
    return record, reasons


def _diagnoses(clean: CleanText, parsed: ParsedLetter, values: list[str], g: Grounder) -> tuple[list[str], dict[str, Span]]:
    """Grounded in the case summary where the parser found one; spans keyed ``diagnoses[i]``."""
    summary = parsed.segments.summary if parsed.segments else None
    kept: list[str] = []
    spans: dict[str, Span] = {}
    for value in values:
        text, span, _ = g.text("diagnosis", value, region=summary, anywhere=True)
        if span is not None:
            spans[f"diagnoses[{len(kept)}]"] = span
        kept.append(text)
    return kept, spans


def compare_items(parser_items: list[Item], model_items: list[Item]) -> list[str]:
    """Where the parser and the model disagree on the items or a decision (nothing if the parser found none)."""
    if not parser_items:
        return []
    reasons = []
    if len(parser_items) != len(model_items):
        reasons.append(f"the parser found {len(parser_items)} item(s), the model {len(model_items)}")
    unmatched = list(range(len(model_items)))
    for i, p in enumerate(parser_items):
        scores = [(fuzz.ratio(_key(p.request), _key(model_items[j].request)), j) for j in unmatched]
        best = max(scores, default=(0.0, -1))
        if best[0] < SAME_REQUEST:
            reasons.append(f"item {i + 1}: the model did not find {p.request!r}")
            continue
        m = model_items[best[1]]
        unmatched.remove(best[1])
        if m.decision != p.decision:
            reasons.append(f"item {i + 1}: the parser read {p.decision}, the model {m.decision}")
    reasons.extend(f"the model found an item the parser did not: {model_items[j].request!r}" for j in unmatched)
    return reasons


def _key(request: str) -> str:
    return collapse(request).lower()
