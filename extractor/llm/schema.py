"""What the model is asked to return: one schema per backend, validated by instructor.

These are the model's answers, not records: the backends merge them with the parser's reading,
ground their verbatim text in the letter and build the ``Record``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from ..models import Category, Decision, Reason, Source

log = logging.getLogger(__name__)


# The most values one answer may give in each list (a letter has a handful; a model's made-up list of
# 50,000 diagnoses would make a 55 MB record): what is over is dropped before validation, in one warning.
LIST_CAPS: dict[str, int] = {"items": 100, "diagnoses": 50, "claims_administrator_guidelines": 20,
                             "reviewer_guidelines": 20, "reasons": len(Reason), "pages": 200, "reviewer_licensure": 60}

# The letter fields ``llm`` asks besides the diagnoses (and ``cascade`` where they are in doubt).
HEADER_FIELDS = ("case_number", "date_assigned", "decision_date", "ur_denial_date", "application_received_date",
                 "priority", "date_of_injury", "patient_sex", "patient_age", "reviewer_specialty", "reviewer_licensure")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    @model_validator(mode="after")
    def _bounded(self) -> Any:
        """Every list of the answer cut to its cap (``LIST_CAPS``); what was dropped said in one warning.
        (After validation: a validator before it would make instructor's strict JSON validation refuse dates.)"""
        over = {name: len(value) for name, value in self.__dict__.items()
                if isinstance(value, list) and len(value) > LIST_CAPS.get(name, len(value))}
        if over:
            log.warning("a model answer held more values than a letter has: %s dropped (at most %s per answer)",
                        ", ".join(f"{n - LIST_CAPS[name]} of {n} {name}" for name, n in over.items()),
                        ", ".join(f"{LIST_CAPS[name]} {name}" for name in over))
            for name in over:
                setattr(self, name, getattr(self, name)[:LIST_CAPS[name]])
        return self


class AnswerCitation(_Answer):
    """One cited guideline, normalised as the labelling guide says."""

    source: Source
    guideline: str | None = None
    topic: str | None = None
    pages: list[int] = Field(default_factory=list, description="Every page; ranges expanded.")


class _Semantic(_Answer):
    """The fields a model reads better than the parser: shared by both backends."""

    treatment: str = Field(description="Short name: drug as written, or the service.")
    category: Category
    generic_name: str | None = Field(default=None, description="Medications only: lower-case generic(s) joined by /.")
    strength: str | None = Field(default=None, description="Number and unit with one space, e.g. '10/325 mg'.")
    quantity: int | None = Field(default=None, description="The integer after '#'.")
    decision: Decision
    claims_administrator_guidelines: list[AnswerCitation] = Field(default_factory=list)
    reviewer_guidelines: list[AnswerCitation] = Field(default_factory=list)
    reasons: list[Reason] = Field(min_length=1)

    @field_validator("generic_name")
    @classmethod
    def _lower_case(cls, v: str | None) -> str | None:
        if v is not None and v != v.lower():
            raise ValueError("generic_name must be lower case")
        return v


class LetterItem(_Semantic):
    """One item read from the whole letter (``llm`` backend)."""

    request: str = Field(description="The item heading as printed, without ': Upheld'/': Overturned'.")
    original_request: str | None = None
    retrospective: bool = False
    date_of_service: dt.date | None = None
    rationale: str = Field(description="The 'Decision rationale' paragraph, verbatim.")


class LetterAnswer(_Answer):
    """Every contract field of one letter (``llm`` backend)."""

    case_number: str | None = None
    date_assigned: dt.date | None = None
    decision_date: dt.date | None = None
    ur_denial_date: dt.date | None = None
    application_received_date: dt.date | None = None
    priority: Literal["standard", "expedited"] | None = None
    date_of_injury: dt.date | None = None
    patient_sex: Literal["male", "female"] | None = None
    patient_age: int | None = Field(default=None, ge=0, le=120)
    reviewer_specialty: str | None = None
    reviewer_licensure: list[str] = Field(default_factory=list, description="Two-letter state codes.")
    diagnoses: list[str] = Field(default_factory=list, description="As the case summary states them.")
    items: list[LetterItem] = Field(default_factory=list)

    @field_validator("reviewer_licensure")
    @classmethod
    def _state_codes(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if len(s) != 2 or not s.isalpha() or not s.isupper()]
        if bad:
            raise ValueError(f"reviewer_licensure must be two-letter upper-case state codes, not {bad}")
        return v


class FilledItem(_Semantic):
    """The semantic fields of one item the parser found (``hybrid`` backend)."""

    item: int = Field(ge=1, description="The ITEM number given in the letter excerpt.")


class FillAnswer(_Answer):
    """The model's part of a ``hybrid`` record."""

    diagnoses: list[str] = Field(default_factory=list, description="As the case summary states them.")
    items: list[FilledItem]


Answer = LetterAnswer | FillAnswer


class _CascadeItem(_Answer):
    """The base of a ``cascade`` item answer: the ITEM number, and the fields in doubt added to it."""

    item: int = Field(ge=1, description="The ITEM number given in the letter excerpt.")
    _lower_case = field_validator("generic_name", check_fields=False)(_Semantic._lower_case.__func__)  # type: ignore[attr-defined]


class _CascadeLetter(_Answer):
    """The base of a ``cascade`` answer: the items asked, and the letter fields in doubt added to it."""

    _state_codes = field_validator("reviewer_licensure", check_fields=False)(LetterAnswer._state_codes.__func__)  # type: ignore[attr-defined]


@cache
def cascade_schema(item_fields: tuple[str, ...], letter_fields: tuple[str, ...] = ()) -> type[BaseModel]:
    """The ``cascade`` answer's schema: only the fields in doubt (each as ``hybrid`` and ``llm`` ask it),
    so the question and its answer are as small as the doubt. One class per set of fields (cached),
    so its schema hash, and the cache key, are stable."""
    asked: dict[str, Any] = {n: (FilledItem.model_fields[n].annotation, FilledItem.model_fields[n]) for n in item_fields}
    item = create_model("CascadeItem", __base__=_CascadeItem, **asked)
    letter: dict[str, Any] = {n: (LetterAnswer.model_fields[n].annotation, LetterAnswer.model_fields[n])
                              for n in letter_fields}
    return create_model("CascadeAnswer", __base__=_CascadeLetter, items=(list[item], Field(default_factory=list)),  # type: ignore[valid-type]
                        **letter)


def item_model(schema: type[BaseModel]) -> type[BaseModel]:
    """The model of one item of an answer schema (``items: list[X]`` -> ``X``)."""
    return get_args(schema.model_fields["items"].annotation)[0]  # type: ignore[no-any-return]


@dataclass
class Salvaged:
    """What an answer that failed validation as a whole still holds that is valid on its own."""

    fields: dict[str, Any] = field(default_factory=dict)
    items: list[BaseModel] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def salvage(raw: str | None, schema: type[BaseModel]) -> Salvaged | None:
    """Each item, and each letter-level field, of ``raw`` validated on its own: one bad item costs
    only itself. None when ``raw`` holds no JSON object at all."""
    data = _json_object(raw or "")
    if data is None:
        return None
    one_item = item_model(schema)
    found = Salvaged()
    for name, value in data.items():
        if name == "items" or name not in schema.model_fields:
            continue
        try:
            found.fields[name] = getattr(schema.model_validate({name: value, "items": []}), name)
        except ValidationError as e:
            found.errors.append(f"{name}: {_first_error(e)}")
    items = data.get("items")
    for n, value in enumerate(items[:LIST_CAPS["items"]] if isinstance(items, list) else []):
        try:
            found.items.append(one_item.model_validate(value))
        except ValidationError as e:
            found.errors.append(f"items[{n}]: {_first_error(e)}")
    return found


def _json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text``: bare, fenced in markdown, or between the first ``{`` and the last ``}``."""
    start, end = text.find("{"), text.rfind("}")
    for candidate in (text, text[start : end + 1] if 0 <= start < end else ""):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _first_error(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@cache
def schema_hash(model: type[BaseModel]) -> str:
    """A short digest of the JSON schema, so a schema change never reuses a cached answer."""
    schema = json.dumps(model.model_json_schema(), sort_keys=True)
    return hashlib.sha256(schema.encode()).hexdigest()[:16]


# Gold labels the model is not asked for: the parser derives them from the request (``parse.drugclass``).
_NOT_ASKED = ("drug_class", "compounded")
_FILLED = ("decision", "treatment", "category", "generic_name", "strength", "quantity",
           "claims_administrator_guidelines", "reviewer_guidelines", "reasons")


def answer_from_gold(gold: dict[str, object], backend: str) -> LetterAnswer | FillAnswer:
    """The answer a correct model gives for a gold-labelled letter: few-shot examples and test fixtures."""
    if backend == "llm":
        letter = {k: v for k, v in gold.items() if k not in ("document_id", "layout")}
        assert isinstance(letter["items"], list)
        letter["items"] = [{k: v for k, v in item.items() if k not in _NOT_ASKED} for item in letter["items"]]
        return LetterAnswer.model_validate(letter)
    items = gold["items"]
    assert isinstance(items, list)
    return FillAnswer.model_validate({
        "diagnoses": gold["diagnoses"],
        "items": [{"item": n, **{k: item[k] for k in _FILLED}} for n, item in enumerate(items, start=1)],
    })
