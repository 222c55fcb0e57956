"""The ``llm``, ``hybrid`` and ``cascade`` backends: one letter -> parts -> (cache or model) -> checked,
grounded record.

``hybrid`` shows the model the parser's excerpt (case summary and item blocks) and asks only for
the judgement fields; ``llm`` shows it the letter and asks for every field; ``cascade`` asks as
``hybrid`` does, but only about the items and fields the parser doubts (``cascade``), and nothing
at all about a letter without doubt. Either way the parser's reading is the floor:

- every model value is checked against the letter and the parser (``check.check_item``) and
  grounded in the text; a disagreement flags the item with both values (a ``Flag``);
- any model failure (an answer still invalid after the re-asks, cut off at ``max_tokens``, a
  prompt that cannot fit, an endpoint that keeps failing) leaves the parser's values for what it
  touched, flagged with the reason: never an error record for a letter the parser can read;
- an answer is validated item by item (``schema.salvage``): one bad item costs only itself, and
  only the items still missing are asked again (``max_reasks`` rounds);
- a letter too long for the context is asked in parts, groups of items in letter order
  (``budget``); an answer cut off at its bound is asked again in halves.

Only a letter the parser cannot segment into items depends on the model alone; its items are
then all flagged, as nothing could check them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from rapidfuzz import fuzz

from ..evaluation.scoring import greedy_pairs
from ..models import (
    AWAITING_ANSWERS,
    ENDPOINT_FAILED,
    ExtractionWarning,
    FieldSource,
    Flag,
    Item,
    Provenance,
    Record,
    Span,
    Usage,
)
from ..parse import ParsedLetter, clean_letter, parse_letter
from ..parse.drugclass import item_groups
from ..parse.segment import Region
from ..read import LetterText
from ..read.text import CleanText, collapse
from ..record import parser_record, provenance
from ..verify import verify
from .budget import TooLong, answer_tokens, plan_parts, prompt_tokens
from .cache import AnswerCache, cache_key
from .cascade import Doubts, doubts
from .check import JUDGEMENT_FIELDS, MODEL_DISAGREES, MODEL_FAILED, check_item, item_evidence
from .client import ModelCaller, Reply
from .ground import Grounder, locate
from .prompt import Prompt, cascade_excerpt, cascade_prompt, fill_prompt, hybrid_excerpt, letter_excerpt, letter_prompt
from .retry import ENDPOINT_FAILURES
from .schema import HEADER_FIELDS, FillAnswer, LetterAnswer, LetterItem, cascade_schema, salvage
from .usage import add_usage

SAME_REQUEST = 80.0  # rapidfuzz ratio above which two requests name the same item
NOT_A_DIAGNOSIS = 85.0  # a "diagnosis" this close to a requested treatment is the treatment
SHOWN_DROPPED = 3  # dropped values named in their one warning
CASCADE = "cascade"
MODEL_UNCHECKED = "model_unchecked"  # a model value nothing could check (a letter the parser cannot segment)
EXTRA_ITEM = "model_extra_item"  # the model found an item the parser did not


async def extract_letter(letter: LetterText, backend: str, caller: ModelCaller, cache: AnswerCache | None) -> Record:
    """The record of one letter by ``backend`` (``llm``, ``hybrid`` or ``cascade``). Raises
    ``NotAnImrLetterError`` as the offline backend does; a model failure never raises, it is flagged
    on the record."""
    clean = clean_letter(letter)
    parsed = parse_letter(clean)
    try:
        return verify(await _model_record(letter, clean, parsed, backend, caller, cache), letter.text)
    except Exception as e:  # noqa: BLE001 - a fault in the model path must not cost a letter the parser read
        reason = f"the model path failed ({type(e).__name__}: {e}); the parser's reading was kept"
        return _with_letter_flags(parser_record(letter, parsed, backend), [Flag(field="letter", code=MODEL_FAILED,
                                                                                message=reason)])


async def _model_record(letter: LetterText, clean: CleanText, parsed: ParsedLetter, backend: str, caller: ModelCaller,
                        cache: AnswerCache | None) -> Record:
    warnings = [ExtractionWarning(code="encoding", message=w) for w in letter.warnings] + parsed.warnings
    if backend in ("hybrid", CASCADE) and not parsed.items:
        warnings.append(ExtractionWarning(code="fallback", message=f"the parser found no items: {backend} fell back to "
                                                                   "the llm backend"))
        backend = "llm"
    doubt = None
    if backend == CASCADE:
        floor = parser_record(letter, parsed, backend)  # the parser's reading, its own flags and confidence
        doubt = doubts(floor, caller.settings.cascade_threshold)
        if not doubt:  # nothing in doubt: no request
            return floor.model_copy(update={"provenance": provenance(
                letter.path, letter.sha256, backend, model=caller.settings.model, usage=Usage(), items_asked=0,
                fields_asked=0)})
    answers = await _Asker(letter.sha256, clean, parsed, backend, caller, cache, doubt).run()
    if answers.parts > 1:
        warnings.append(ExtractionWarning(code="split", message=f"asked in {answers.parts} parts to fit the model's "
                                                                f"context ({await caller.context_window()} tokens)"))
    if answers.endpoint_failure:
        warnings.append(ExtractionWarning(code=ENDPOINT_FAILED, message=answers.endpoint_failure))
    if answers.awaiting:
        warnings.append(ExtractionWarning(code=AWAITING_ANSWERS, message=(
            f"{answers.awaiting} question(s) had no answer in the batch; collect again with their results "
            "(--resume does this letter again) or with --online")))
    asked = {} if doubt is None else {"items_asked": len(doubt.items), "fields_asked": doubt.fields}
    source = provenance(letter.path, letter.sha256, backend, prompt_version=answers.prompt_version,
                        model=caller.settings.model, usage=answers.usage, **asked)
    grounder = Grounder(clean)
    if parsed.items:
        record = _checked_record(letter, clean, parsed, answers, grounder, source,
                                 None if doubt is None else set(doubt.items))
    else:
        record = _model_only_record(letter, clean, parsed, answers, grounder, source)
    return _with_review(record, warnings + grounder.warnings, grounder.review)


@dataclass
class Answers:
    """What the model said about one letter, gathered over its parts and re-asks."""

    prompt_version: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # letter-level values
    items: dict[int, BaseModel] = field(default_factory=dict)  # parser item index -> its answer
    extra: list[BaseModel] = field(default_factory=list)  # llm: items the parser did not find
    failed: dict[int, str] = field(default_factory=dict)  # parser item index -> why it has no answer
    failure: str | None = None  # why a letter without parser items has no answer
    parts: int = 1  # how many requests the letter was split into to fit the context (first round)
    awaiting: int = 0  # questions a batch's results held no answer to (``batch collect``)
    endpoint_failure: str | None = None  # why the endpoint gave no answer to a question (unreachable, ...)
    usage: Usage = field(default_factory=Usage)


class _Asker:
    """Asks the model about one letter: plans the parts, then asks, salvages and re-asks. ``doubt``
    (``cascade``): only these items and fields are asked."""

    def __init__(self, sha256: str, clean: CleanText, parsed: ParsedLetter, backend: str, caller: ModelCaller,
                 cache: AnswerCache | None, doubt: Doubts | None = None) -> None:
        self.sha256, self.clean, self.parsed, self.caller, self.cache = sha256, clean, parsed, caller, cache
        self.doubt = doubt
        self.schema: type[BaseModel] = (cascade_schema(doubt.item_fields, doubt.letter) if doubt is not None else
                                        FillAnswer if backend == "hybrid" else LetterAnswer)
        self.answers = Answers()
        self.retry: set[int] = set()  # items whose answer was invalid: worth asking again, with a note
        self.replies: dict[str, Reply[Any]] = {}  # prompt digest -> reply: the same prompt is never sent twice

    async def run(self) -> Answers:
        """Every answer the letter's model time allows (``letter_timeout``); the rest are failures."""
        limit = self.caller.settings.letter_timeout
        try:
            async with asyncio.timeout(limit):
                await self._ask_all()
        except TimeoutError:
            why = f"the letter's model time ran out (IMR_LETTER_TIMEOUT={limit:g} s)"
            for i in range(len(self.parsed.items)):
                if i not in self.answers.items:
                    self.answers.failed[i] = why
            if not self.parsed.items and not self.answers.extra:
                self.answers.failure = why
        return self.answers

    async def _ask_all(self) -> None:
        todo = sorted(self.doubt.items) if self.doubt is not None else list(range(len(self.parsed.items)))
        if not self.parsed.items:  # llm on a letter the parser could not segment: the whole letter, one request
            await self._ask_whole_letter()
            return
        if not todo:  # cascade: only letter fields in doubt
            await self._ask_part([], self._prompt([]), self.caller.settings.max_tokens or self._bound([]))
            return
        for _ in range(self.caller.settings.max_reasks + 1):
            await self._ask_items(todo)
            todo = sorted(self.retry - set(self.answers.items))
            if not todo:
                return

    async def _ask_items(self, items: list[int]) -> None:
        context = await self.caller.context_window()
        while items:
            try:
                parts = plan_parts(items, self._prompt, self._bound, self.schema, self.caller.settings, context)
            except TooLong as e:
                self.answers.failed[e.item] = f"the prompt cannot fit the model's context: {e}"
                items = [i for i in items if i != e.item]
                continue
            if not self.retry and not self.answers.items:
                self.answers.parts = len(parts)
            self.retry.clear()
            for part in parts:
                await self._ask_part(list(part.items), part.prompt, part.max_tokens)
            return

    async def _ask_part(self, items: list[int], prompt: Prompt, max_tokens: int) -> None:
        reply = await self._ask(prompt, max_tokens)
        if reply.cut_off and len(items) > 1:  # a smaller question has a shorter answer
            half = len(items) // 2
            for group in (items[:half], items[half:]):
                await self._ask_part(group, self._prompt(group), self.caller.settings.max_tokens or self._bound(group))
            return
        if reply.answer is not None:
            self._take(items, reply.answer.model_dump(exclude={"items"}), list(reply.answer.items))
            for i in items:
                if i not in self.answers.items:
                    self.answers.failed[i] = "the model's answer left it out"
                    self.retry.add(i)
            return
        why = str(reply.error) if reply.error else "no answer"
        salvaged = salvage(reply.raw, self.schema) if reply.error and reply.error.kind == "invalid" else None
        if salvaged is not None:
            self._take(items, salvaged.fields, salvaged.items)
            if salvaged.errors:
                why = "the answer failed validation: " + "; ".join(salvaged.errors[:3])
        for i in items:
            if i not in self.answers.items:
                self.answers.failed[i] = why
                if reply.error is None or reply.error.kind == "invalid":
                    self.retry.add(i)

    async def _ask_whole_letter(self) -> None:
        prompt = self._prompt([])
        max_tokens = self.caller.settings.max_tokens or self._bound([])
        needed, context = prompt_tokens(prompt, self.schema) + max_tokens, await self.caller.context_window()
        if needed > context:
            self.answers.failure = f"the prompt cannot fit the model's context: about {needed} tokens, the context holds {context}"
            return
        reply = await self._ask(prompt, max_tokens)
        if reply.answer is not None:
            self.answers.fields.update(reply.answer.model_dump(exclude={"items"}))
            self.answers.extra.extend(reply.answer.items)
        elif (salvaged := salvage(reply.raw, self.schema)) is not None and salvaged.items:
            self.answers.fields.update(salvaged.fields)
            self.answers.extra.extend(salvaged.items)
        else:
            self.answers.failure = str(reply.error) if reply.error else "no answer"

    def _take(self, asked: Sequence[int], fields: dict[str, Any], items: list[BaseModel]) -> None:
        """File a part's answer: letter fields from the first part that gives them, items by number
        (``hybrid``) or by request (``llm``)."""
        for name, value in fields.items():
            self.answers.fields.setdefault(name, value)
        if self.schema is not LetterAnswer:  # items by their ITEM number
            wanted = {i + 1 for i in asked}
            for item in items:
                number = getattr(item, "item", None)
                if number in wanted:
                    self.answers.items.setdefault(number - 1, item)
            return
        model_items = [item for item in items if isinstance(item, LetterItem)]
        pairs, unmatched = match_requests([item.request for item in self.parsed.items], [i.request for i in model_items])
        for k, j in pairs.items():
            self.answers.items.setdefault(k, model_items[j])
        self.answers.extra.extend(model_items[j] for j in unmatched)

    async def _ask(self, prompt: Prompt, max_tokens: int) -> Reply[Any]:
        self.answers.prompt_version = prompt.version
        if (asked := self.replies.get(prompt.digest)) is not None:
            return asked
        key = cache_key(self.sha256, prompt, self.schema, self.caller.sampling)
        if self.cache is not None and (hit := self.cache.get(key, self.schema)) is not None:
            answer, spent = hit
            reply: Reply[Any] = Reply(answer, spent.model_copy(update={"requests": 0}))
        else:
            try:
                reply = await self.caller.ask(prompt, self.schema, max_tokens=max_tokens)
            except asyncio.CancelledError:  # the letter's time ran out mid-request: it was still sent
                self.answers.usage = add_usage(self.answers.usage, Usage(requests=1))
                raise
            if self.cache is not None and reply.answer is not None:
                self.cache.put(key, reply.answer, reply.usage)
        self.answers.usage = add_usage(self.answers.usage, reply.usage)
        self.answers.awaiting += reply.error is not None and reply.error.kind == AWAITING_ANSWERS
        if reply.error is not None and reply.error.kind in ENDPOINT_FAILURES:
            self.answers.endpoint_failure = str(reply.error)
        self.replies[prompt.digest] = reply
        return reply

    def _prompt(self, items: Sequence[int]) -> Prompt:
        """The request for ``items``; on a re-ask it says what was wrong with their last answer."""
        reasons = sorted({self.answers.failed[i] for i in items if i in self.retry and i in self.answers.failed})
        note = ("Your previous answer for these ITEMs could not be used: " + "; ".join(reasons) +
                ". Answer again for every ITEM shown, following the schema exactly.") if reasons else None
        if self.doubt is not None:
            excerpt = cascade_excerpt(self.clean, self.parsed, items, header=bool(self.doubt.letter))
            return cascade_prompt(excerpt, self.doubt.item_fields, self.doubt.letter, note=note)
        if self.schema is FillAnswer:
            return fill_prompt(hybrid_excerpt(self.clean, self.parsed, items), note=note)
        whole = not self.parsed.items or len(items) == len(self.parsed.items)
        return letter_prompt(self.clean.text if whole else letter_excerpt(self.clean, self.parsed, items), note=note)

    def _bound(self, items: Sequence[int]) -> int:
        """The answer's bound: ``llm`` copies requests and rationales verbatim, ``hybrid`` and ``cascade`` do not."""
        if self.schema is not LetterAnswer:
            return answer_tokens(len(items))
        if not self.parsed.items:
            return answer_tokens(1, self.clean.text)
        blocks = self.parsed.segments.items if self.parsed.segments else []
        verbatim = " ".join(self.clean.text[b.heading.start : (b.rationale or b.heading).end] for b in
                            (blocks[i] for i in items))
        return answer_tokens(len(items), verbatim)


def _checked_record(letter: LetterText, clean: CleanText, parsed: ParsedLetter, answers: Answers, g: Grounder,
                    provenance: Provenance, asked: set[int] | None) -> Record:
    """The parser's record, each item's judgement fields checked against the model's;
    ``asked`` (``cascade``): the items the model was asked about, the others are the parser's as they
    are. The parser's self-checks are raised on the result (``verify``), on the values it kept."""
    evidence = item_evidence(clean, parsed)
    blocks = parsed.segments.items if parsed.segments else []
    items = []
    for i, item in enumerate(parsed.items):
        answer = answers.items.get(i)
        if asked is not None and i not in asked:
            items.append(item)
            continue
        if answer is None:
            why = answers.failed.get(i, "the model gave no answer for it")
            items.append(_flagged(item, f"item {i + 1}: no usable model answer ({why}); the parser's values were kept",
                                  "parser", MODEL_FAILED))
            continue
        proposed = {name: getattr(answer, name) for name in JUDGEMENT_FIELDS if name in type(answer).model_fields}
        locator = Grounder(clean)  # spans only: the check says what is wrong with a citation
        for name, region in (("claims_administrator_guidelines", blocks[i].claims_administrator),
                             ("reviewer_guidelines", blocks[i].reviewer)):
            if name in proposed:
                proposed[name] = [locator.citation(name, c, item=i, region=region) for c in proposed[name]]
        items.append(check_item(item, proposed, evidence[i], index=i))
    for extra in answers.extra:
        request = getattr(extra, "request", "?")
        g.review.setdefault(None, []).append(Flag(
            field="items", code=EXTRA_ITEM, message=f"the model found an item the parser did not: {request!r}; not kept",
            values={"model": request}))
    fields = dict(parsed.fields)
    sources = _header_fields(fields, answers.fields, g, keep_model=False)
    diagnoses, spans, sources["diagnoses"] = _diagnoses(clean, parsed, answers.fields.get("diagnoses"), g)
    fields["diagnoses"] = diagnoses
    return Record(document_id=letter.document_id, layout=parsed.layout, items=items,
                  spans={**{k: v for k, v in parsed.spans.items() if not k.startswith("diagnoses[")}, **spans},
                  sources=sources, provenance=provenance, **fields)  # type: ignore[arg-type]


def _model_only_record(letter: LetterText, clean: CleanText, parsed: ParsedLetter, answers: Answers, g: Grounder,
                       provenance: Provenance) -> Record:
    """``llm`` on a letter the parser found no items in: the model's items, grounded and all flagged
    (nothing could check them); with no answer at all, the parser's record, flagged."""
    fields = dict(parsed.fields)
    if answers.failure is not None or not answers.extra:
        g.review.setdefault(None, []).append(Flag(field="letter", code=MODEL_FAILED, message=(
            f"no usable model answer ({answers.failure or 'it found no items'}); the parser's reading was kept")))
        return Record(document_id=letter.document_id, layout=parsed.layout, items=[], spans=parsed.spans,
                      provenance=provenance, **fields)  # type: ignore[arg-type]
    items = []
    cursor = 0
    for i, it in enumerate(answers.extra):
        assert isinstance(it, LetterItem)
        rest = Region(cursor, len(clean.text))
        spans: dict[str, Span | None] = {}
        original = None
        if it.original_request:
            original, spans["original_request"], _ = g.text("original_request", it.original_request, item=i, region=rest)
        request, spans["request"], where = g.text("request", it.request, item=i, region=rest)
        body = Region(where.start if where else cursor, len(clean.text))
        cursor = where.end if where else cursor
        rationale = it.rationale
        if rationale:
            rationale, spans["rationale"], _ = g.text("rationale", rationale, item=i, region=body)
        item = Item(
            request=request, original_request=original, retrospective=it.retrospective,
            date_of_service=it.date_of_service, treatment=it.treatment, category=it.category,
            generic_name=it.generic_name, strength=it.strength, quantity=it.quantity, decision=it.decision,
            claims_administrator_guidelines=[g.citation("claims administrator citation", c, item=i, region=body)
                                             for c in it.claims_administrator_guidelines],
            reviewer_guidelines=[g.citation("reviewer citation", c, item=i, region=body) for c in it.reviewer_guidelines],
            rationale=rationale, reasons=it.reasons, spans={k: v for k, v in spans.items() if v is not None},
            **item_groups(request, it.category, it.generic_name),  # type: ignore[arg-type]
        )
        items.append(_flagged(item, f"item {i + 1}: the parser could not segment this letter, so nothing checked "
                                    "the model's values", "model", MODEL_UNCHECKED))
    sources = _header_fields(fields, answers.fields, g, keep_model=True)
    diagnoses, spans_d, sources["diagnoses"] = _diagnoses(clean, parsed, answers.fields.get("diagnoses"), g)
    fields["diagnoses"] = diagnoses
    return Record(document_id=letter.document_id, layout=parsed.layout, items=items, spans={**parsed.spans, **spans_d},
                  sources=sources, provenance=provenance, **fields)  # type: ignore[arg-type]


def _flagged(item: Item, reason: str, source: FieldSource, code: str) -> Item:
    return item.model_copy(update={"sources": {name: source for name in JUDGEMENT_FIELDS}}).with_flags(
        Flag(field="item", code=code, message=reason))


def _header_fields(fields: dict[str, Any], model: dict[str, Any], g: Grounder, *, keep_model: bool) -> dict[str, FieldSource]:
    """Each header field's source, ``fields`` updated where the model's value is kept.

    A value the parser read from the letter's table wins; a different model value is flagged.
    Where the parser read nothing, ``keep_model`` takes the model's (a letter the parser cannot
    segment), flagged too: nothing could check it."""
    sources: dict[str, FieldSource] = {}
    for name in HEADER_FIELDS:
        if name not in model:
            continue
        parser, value = fields.get(name), model[name]
        if value in (None, []) or _plain(value) == _plain(parser):
            sources[name] = "agreed" if value not in (None, []) else "parser"
        elif parser in (None, []) and keep_model:
            fields[name] = value
            sources[name] = "model"
            g.review.setdefault(None, []).append(Flag(
                field=name, code=MODEL_UNCHECKED, values={"parser": None, "model": _plain(value)},
                message=f"{name}: the parser read nothing, the model {_plain(value)!r}; kept the model's, unchecked"))
        elif parser in (None, []):
            sources[name] = "parser"
        else:
            sources[name] = "parser"
            g.review.setdefault(None, []).append(Flag(
                field=name, code=MODEL_DISAGREES, values={"parser": _plain(parser), "model": _plain(value)},
                message=f"{name}: parser {_plain(parser)!r}, model {_plain(value)!r}; kept the parser's"))
    return sources


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _diagnoses(clean: CleanText, parsed: ParsedLetter, values: list[str] | None,
               g: Grounder) -> tuple[list[str], dict[str, Span], FieldSource]:
    """The model's diagnoses that are printed in the case summary and are not a requested treatment,
    spans keyed ``diagnoses[i]``; the parser's where none is left. Dropped values are warnings."""
    parser_spans = {k: v for k, v in parsed.spans.items() if k.startswith("diagnoses[")}
    parser_value = list(parsed.fields.get("diagnoses", []) or [])  # type: ignore[call-overload]
    if not values:
        return parser_value, parser_spans, "parser"
    summary = parsed.segments.summary if parsed.segments else None
    requested = [collapse(i.request).lower() for i in parsed.items] + [i.treatment.lower() for i in parsed.items]
    kept: list[str] = []
    spans: dict[str, Span] = {}
    dropped: list[str] = []
    for value in values:
        if any(fuzz.ratio(value.lower(), r) >= NOT_A_DIAGNOSIS for r in requested):
            dropped.append(f"{value!r} (a requested treatment)")
            continue
        found = locate(clean, value, summary)
        if found is None:
            dropped.append(f"{value!r} (not in the case summary)")
            continue
        spans[f"diagnoses[{len(kept)}]"] = clean.span(found.start, found.end)
        kept.append(found.text)
    if dropped:  # one warning however many: a model's made-up list must not swell the record
        more = f" and {len(dropped) - SHOWN_DROPPED} more" if len(dropped) > SHOWN_DROPPED else ""
        g.warnings.append(ExtractionWarning(code="dropped_value", message=f"{len(dropped)} diagnosis value(s) dropped: "
                                            f"{', '.join(dropped[:SHOWN_DROPPED])}{more}"))
    if not kept:
        return parser_value, parser_spans, "parser"
    same = [v.lower() for v in kept] == [v.lower() for v in parser_value]
    return kept, spans, "agreed" if same else "model"


def _with_review(record: Record, warnings: list[ExtractionWarning], review: dict[int | None, list[Flag]]) -> Record:
    """Grounding's and the checks' flags filed on their items and on the letter."""
    items = [item.with_flags(*review.get(i, [])) for i, item in enumerate(record.items)]
    return _with_letter_flags(record.model_copy(update={"items": items, "warnings": warnings}), review.get(None, []))


def _with_letter_flags(record: Record, flags: list[Flag]) -> Record:
    """``record`` with letter-level ``flags`` added; its reasons are the letter's, then every item's, and
    it needs review if the letter or any item does."""
    letter = [*record.flags, *flags]
    reasons = [f.message for f in letter] + [r for item in record.items for r in item.review_reasons]
    return record.model_copy(update={"flags": letter, "review_reasons": reasons,
                                     "needs_review": bool(letter) or any(i.needs_review for i in record.items)})


def match_requests(parser: Sequence[str], model: Sequence[str]) -> tuple[dict[int, int], list[int]]:
    """Pairs (parser index -> model index) of requests naming the same item, in order of similarity;
    and the model's requests left unmatched."""
    scores = ((score, i, j) for i, p in enumerate(parser) for j, m in enumerate(model)
              if (score := fuzz.ratio(_key(p), _key(m))) >= SAME_REQUEST)
    pairs = dict(greedy_pairs(scores))
    taken = set(pairs.values())
    return pairs, [j for j in range(len(model)) if j not in taken]


def _key(request: str) -> str:
    return collapse(request).lower()
