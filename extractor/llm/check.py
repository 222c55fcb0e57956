"""Every model value earns its place: each judgement field the model filled is checked against
the letter and the parser before it may replace the parser's value.

The policy, per field, was chosen from the parser's measured accuracy on the gold set (80
letters, 218 items: ``imr-extract eval``; 1.000 on strength, quantity, decision, generic name,
citation sources and pages; 0.991 on treatment and category, which fall to about 0.79 and 0.92 on
letters the rules were not written for) and checked with ``benchmarks/bench_check.py``:

| field | the model's value must | on disagreement, kept | flagged |
|---|---|---|---|
| decision | (nothing: the heading prints it) | parser | yes |
| strength | be printed in the request | parser | yes |
| quantity | be printed after '#' in the request | parser | yes |
| generic_name | be null unless a medication; match the drug lexicon's reading of the request where the lexicon knows the drug | model if it passes, else parser | if it fails |
| category | be allowed by the request's words (service vocabulary, drug lexicon, strength or form) | parser | yes |
| treatment | have its words printed in the request | parser; the model's if it passes where the parser warned ``treatment_uncertain``, or where it is the same reading in fewer words | yes |
| citations (each list) | name only sources and pages printed in its guideline paragraph, guideline and topic grounded; compared as sets of sources and pages | parser | yes |
| reasons | agree with the kept decision (``guideline_criteria_met`` if and only if overturned) | model if it passes, else parser | if it fails |

Values that agree are marked ``agreed`` and flag nothing: for treatment and category, the same
under the labelling guide's normalisation (``equivalence``: qualifiers, directions, case, plurals, a
brand and its generic); elsewhere after the harness's. The parser's value is kept, except for citations and generic names, where the model's wording is kept
if it passes its check. Treatment names follow the labelling guide's rules (first procedure, no
directions, no qualifiers), which the parser now reads right on letters it was not tuned on
(27/27 items on the last two fresh batches) and a model's wording does not always follow; so the
parser's name stands, and the model's (if printed in the request) replaces it only where the parser
itself warned that it could not reduce the request with confidence; either way a treatment on
which the two disagree is flagged with both values, since a parser can misread a wording it has not
met ("coverage of Viagra") where a model reads it right. A generic name that passes its
check wins a disagreement without a flag. A category that differs is flagged and the parser's kept, even
when the request's words allow the model's: a wrong but allowed category (1 of 119 injected in
bench_check) would otherwise make the record worse, and a flag is enough to mend the parser's own
misses by hand. Reasons are soft (scored by F1; the parser's rules reach about 0.62), so the model's
consistent reasons are kept without a flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, utils

from ..evaluation.scoring import citation_sets
from ..models import Category, Citation, FieldSource, Flag, Item, Reason
from ..parse import classify, drugs
from ..parse.citations import expand_pages
from ..parse.drugclass import item_groups
from ..parse.letter import ParsedLetter
from ..parse.segment import Region
from ..parse.values import strength_key
from ..read.text import CleanText
from .equivalence import same_category, same_treatment

JUDGEMENT_FIELDS = ("treatment", "category", "generic_name", "strength", "quantity", "decision",
                    "claims_administrator_guidelines", "reviewer_guidelines", "reasons")
IN_REQUEST = 90.0  # rapidfuzz token_set_ratio from which a treatment's words are printed in the request

_SOURCE_WORDS = {
    "MTUS": re.compile(r"\bMTUS\b|Medical\s+Treatment\s+Utilization|Chronic\s+Pain\s+Medical\s+Treatment|Complaints", re.I),
    "ODG": re.compile(r"\bODG\b|Official\s+Disability", re.I),
    "ACOEM": re.compile(r"\bACOEM\b|American\s+College\s+of\s+Occupational", re.I),
}
_PRINTED_PAGES = re.compile(r"\d+(?:\s*-\s*\d+)?")
_MET = Reason.guideline_criteria_met.value


@dataclass(frozen=True)
class ItemEvidence:
    """The letter text one item's model values are checked against (clean text, whitespace as printed)."""

    request: str                      # the item's heading/request as the parser read it
    claims_administrator: str | None  # the 'Claims Administrator guideline:' paragraph
    reviewer: str | None              # the reviewer's ('MAXIMUS guideline:') paragraph
    rationale: str | None             # the 'Decision rationale:' paragraph
    treatment_uncertain: bool = False  # the parser could not reduce the request to a name with confidence


def item_evidence(clean: CleanText, parsed: ParsedLetter) -> list[ItemEvidence]:
    """The evidence of each item the parser found, in its order."""
    if parsed.segments is None:
        raise ValueError("the parsed letter carries no segments")

    def of(region: Region | None) -> str | None:
        return region.of(clean.text).strip() if region is not None else None

    uncertain = {w.item for w in parsed.warnings if w.code == "treatment_uncertain"}
    return [ItemEvidence(request=item.request, claims_administrator=of(block.claims_administrator),
                         reviewer=of(block.reviewer), rationale=of(block.rationale), treatment_uncertain=i in uncertain)
            for i, (item, block) in enumerate(zip(parsed.items, parsed.segments.items, strict=True))]


# The codes of the flags the model backends raise (``Flag.code``), so stats and filters can group them.
MODEL_DISAGREES = "model_disagrees"  # both readings are plausible: a person decides
NOT_IN_LETTER = "model_value_not_in_letter"  # the model's value is not printed where it must be
NOT_ALLOWED = "model_value_not_allowed"  # the model's value contradicts the request's words or the kept decision
MODEL_FAILED = "model_failed"  # no usable answer: the parser's values stand unchecked


@dataclass(frozen=True)
class _Verdict:
    """One field's outcome: where the value comes from, why a person should look (or None, with the
    flag's code), and whether the model's wording is kept where the two agree."""

    source: FieldSource
    reason: str | None = None
    wording: bool = False
    code: str = MODEL_DISAGREES


def check_item(parsed: Item, proposed: Mapping[str, Any], evidence: ItemEvidence, *, index: int) -> Item:
    """The item to keep: for each judgement field, the parser's or the model's value, chosen by the
    policy in the module docstring; ``sources[field]`` = "parser" | "model" | "agreed"; disagreements
    that matter set ``needs_review`` and add a review reason that names the field and both values.

    A field missing from ``proposed`` keeps the parser's value, unflagged. Fields are checked in
    order, so a generic name is judged against the category kept and reasons against the decision kept.
    Each flag is a ``Flag`` with both values (``{"parser": ..., "model": ...}``).
    """
    kept: dict[str, Any] = {}
    sources: dict[str, FieldSource] = {}
    flags: list[Flag] = []
    for name in _ORDER:
        if name not in proposed:
            sources[name] = "parser"
            continue
        model = _plain(proposed[name])
        verdict = _CHECKS[name](parsed, model, evidence, kept)
        kept[name] = proposed[name] if verdict.source == "model" or verdict.wording else getattr(parsed, name)
        sources[name] = verdict.source
        if verdict.reason:
            flags.append(Flag(field=name, code=verdict.code, message=f"item {index + 1}: {name}: {verdict.reason}",
                              values={"parser": _plain(getattr(parsed, name)), "model": model}))
    groups = item_groups(parsed.request, kept.get("category", parsed.category), kept.get("generic_name", parsed.generic_name))
    return parsed.model_copy(update={**kept, **groups, "sources": {**parsed.sources, **sources}}).with_flags(*flags)


Check = Callable[[Item, Any, ItemEvidence, Mapping[str, Any]], _Verdict]


def _plain(value: Any) -> Any:
    """Citations as dicts and enums as their values, as the harness compares them."""
    if isinstance(value, list):
        return [v.model_dump(mode="json") if isinstance(v, Citation) else getattr(v, "value", v) for v in value]
    return getattr(value, "value", value)


def _judge(parser: Any, model: Any, *, same: bool, passes: bool, model_wins: bool, flag_disagreement: bool,
           why: str = "", model_wording: bool = False, failed: str = NOT_IN_LETTER) -> _Verdict:
    """The common rule: agreement keeps the parser's value (the model's with ``model_wording``, if it
    passes its check); a failed check keeps the parser's and flags (code ``failed``); otherwise the
    field's winner is kept, flagged if the field says a disagreement matters."""
    if same:
        return _Verdict("agreed", wording=model_wording and passes)
    shown = f"parser {_show(parser)}, model {_show(model)}"
    if not passes:
        return _Verdict("parser", f"{shown} ({why}); kept the parser's", code=failed)
    if model_wins:
        return _Verdict("model", f"{shown}; kept the model's" if flag_disagreement else None)
    return _Verdict("parser", f"{shown}; kept the parser's" if flag_disagreement else None)


def _show(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return "; ".join(c.get("source", "?") + (" p. " + ",".join(map(str, c["pages"])) if c.get("pages") else "")
                         for c in value)
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]" if value else "none"
    return repr(value) if value is not None else "none"


def _decision(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    return _judge(parsed.decision, model, same=model == parsed.decision, passes=True, model_wins=False,
                  flag_disagreement=True)


def _strength(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    printed = model is None or (strength_key(model) or "") in (strength_key(ev.request) or "")
    return _judge(parsed.strength, model, same=strength_key(model) == strength_key(parsed.strength),
                  passes=printed, model_wins=False, flag_disagreement=True, why="not printed in the request")


def _quantity(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    printed = model is None or re.search(rf"#\s*{int(model)}(?!\d)", ev.request) is not None
    return _judge(parsed.quantity, model, same=model == parsed.quantity, passes=printed, model_wins=False,
                  flag_disagreement=True, why="not printed after '#' in the request")


def _category(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    has_drug = bool(drugs.generic_names(ev.request))
    return _judge(parsed.category, model, same=same_category(model, parsed.category),
                  passes=classify.admits(ev.request, model, has_drug=has_drug), model_wins=False,
                  flag_disagreement=True, why="the request's words do not allow it", failed=NOT_ALLOWED)


def _generic_name(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    named = _generics(model)
    medication = kept.get("category", parsed.category) == Category.medication.value
    read = _generics("/".join(drugs.generic_names(ev.request))) if medication else set()
    why = ""
    if named and not medication:
        why = "the item is not a medication"
    elif (read and named != read) or (not read and any(drugs.generic_names(g) for g in named)):
        why = f"the drug lexicon reads {'/'.join(sorted(read)) or 'no drug'} in the request"
    return _judge(parsed.generic_name, model, same=_generics(model) == _generics(parsed.generic_name), passes=not why,
                  model_wins=True, flag_disagreement=False, why=why, failed=NOT_ALLOWED)


def _treatment(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    printed = bool(model) and fuzz.token_set_ratio(model, ev.request, processor=utils.default_process) >= IN_REQUEST
    same = same_treatment(model, parsed.treatment, kept.get("category", parsed.category))
    # one reading, but the model's in fewer words: the guide's form, without the words it drops
    # ("Injection 5cc of lidocaine hcl 1percent" -> "Injection of lidocaine hcl")
    plainer = same and bool(model) and len(str(model).split()) < len(parsed.treatment.split())
    return _judge(parsed.treatment, model, same=same, passes=printed,
                  model_wins=ev.treatment_uncertain, flag_disagreement=True, why="not in the request",
                  model_wording=ev.treatment_uncertain or plainer)


def _citations(name: str, paragraph: Callable[[ItemEvidence], str | None]) -> Check:
    """The check of one citation list, read from ``paragraph`` of the evidence."""

    def check(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
        mine = [c.model_dump(mode="json") for c in getattr(parsed, name)]
        model = model or []
        text = paragraph(ev) or ""
        printed = {p for m in _PRINTED_PAGES.finditer(text) for p in expand_pages(m.group().replace(" ", ""))}
        sources, pages = citation_sets(model)
        bad = sorted(s.upper() for s in sources if (words := _SOURCE_WORDS.get(s.upper())) and not words.search(text))
        bad += sorted(str(p) for p in pages - printed)
        if model and not text:
            bad = ["no guideline paragraph"]
        grounded = all(c.get("span") for c in model)  # the model's guideline and topic are printed where it says
        return _judge(mine, model, same=citation_sets(mine) == (sources, pages), passes=not bad and grounded,
                      model_wins=False, flag_disagreement=True, model_wording=True,
                      why="not in the guideline paragraph: " + (", ".join(bad) or "guideline or topic"))
    return check


def _reasons(parsed: Item, model: Any, ev: ItemEvidence, kept: Mapping[str, Any]) -> _Verdict:
    overturned = kept.get("decision", parsed.decision) == "overturned"
    model = model or []
    consistent = bool(model) and (overturned == (_MET in model)) and (not overturned or model == [_MET])
    why = f"inconsistent with the decision ({'overturned' if overturned else 'upheld'})"
    return _judge(parsed.reasons, model, same=set(model) == set(parsed.reasons), passes=consistent, model_wins=True,
                  flag_disagreement=False, why=why, failed=NOT_ALLOWED)


def _generics(value: str | None) -> set[str]:
    """``Hydrocodone/acetaminophen`` -> its generic names, whatever their order and case."""
    return {g.strip().lower() for g in value.split("/")} if value else set()


_CHECKS: dict[str, Check] = {
    "decision": _decision,
    "strength": _strength,
    "quantity": _quantity,
    "category": _category,
    "generic_name": _generic_name,
    "treatment": _treatment,
    "claims_administrator_guidelines": _citations("claims_administrator_guidelines", lambda ev: ev.claims_administrator),
    "reviewer_guidelines": _citations("reviewer_guidelines", lambda ev: ev.reviewer),
    "reasons": _reasons,
}
_ORDER = tuple(_CHECKS)  # the order matters: category before generic_name, decision before reasons
