"""The gold file's types, as the contract (docs/record-format.md) gives them, checked before scoring.

A gold file is written by a person or another tool: a field of the wrong type (``case_number`` a
number, ``items`` a string, ``pages`` of objects) is one line naming the file and the field, never a
traceback deep in the scorer. Only types are checked, and every field may be absent (the scorer
scores only what a gold file has); values keep the scorer's leniency (dates in any printed form,
licensure as state names, enums in any case), extra keys are ignored, and a file that passes is
scored exactly as it is read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError


class _Gold(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class GoldCitation(_Gold):
    source: StrictStr | None = None
    guideline: StrictStr | None = None
    topic: StrictStr | None = None
    pages: list[StrictInt] = []


class GoldItem(_Gold):
    request: StrictStr | None = None
    original_request: StrictStr | None = None
    retrospective: StrictBool | None = None
    date_of_service: StrictStr | None = None
    treatment: StrictStr | None = None
    category: StrictStr | None = None
    generic_name: StrictStr | None = None
    strength: StrictStr | None = None
    quantity: StrictInt | None = None
    decision: StrictStr | None = None
    claims_administrator_guidelines: list[GoldCitation] = []
    reviewer_guidelines: list[GoldCitation] = []
    rationale: StrictStr | None = None
    reasons: list[StrictStr] = []


class GoldLetter(_Gold):
    document_id: StrictStr | None = None
    layout: StrictStr | None = None
    case_number: StrictStr | None = None
    date_assigned: StrictStr | None = None
    decision_date: StrictStr | None = None
    ur_denial_date: StrictStr | None = None
    application_received_date: StrictStr | None = None
    priority: StrictStr | None = None
    date_of_injury: StrictStr | None = None
    patient_sex: StrictStr | None = None
    patient_age: StrictInt | None = None
    reviewer_specialty: StrictStr | None = None
    reviewer_licensure: list[StrictStr] = []
    diagnoses: list[StrictStr] = []
    items: list[GoldItem] = []


def gold_problem(data: object) -> str | None:
    """Why ``data`` is not a gold object (the first field of a wrong type and what it should be), or None."""
    if not isinstance(data, dict):
        return f"a gold file holds one JSON object, not {type(data).__name__}"
    try:
        GoldLetter.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        return f"{_where(first['loc'])}: {first['msg']} (got {_kind(first['input'])})"
    return None


def _where(loc: tuple[int | str, ...]) -> str:
    """``items[0].pages[1]`` from pydantic's ``('items', 0, 'pages', 1)``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(the file)"


def _kind(value: object) -> str:
    return "null" if value is None else {bool: "true/false", int: "a number", float: "a number", str: "a string",
                                         list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
