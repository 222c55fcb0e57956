"""The record: the contract's fields (docs/record-format.md) plus spans, warnings and provenance.

Every stage imports its types from here; nothing here imports a stage.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

Layout = Literal["A", "B", "C", "unknown"]
Decision = Literal["upheld", "overturned"]
Source = Literal["MTUS", "ODG", "ACOEM", "other"]
FieldSource = Literal["parser", "model", "agreed"]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
DrugClass = Literal["opioid", "muscle_relaxant", "nsaid", "topical", "anticonvulsant", "antidepressant", "sleep_aid",
                    "benzodiazepine", "gastrointestinal", "medical_food", "other"]
# The service categories of the DWC's annual IMR reports (docs/dwc-categories.md).
DwcCategory = Literal["pharmaceuticals", "rehabilitation", "diagnostic_testing", "dmepos", "evaluation_and_management",
                      "injections", "surgery", "behavioral_and_mental_health", "programs", "home_health", "other"]


class Category(str, Enum):
    """Treatment categories of the contract."""

    medication = "medication"
    imaging = "imaging"
    lab_test = "lab_test"
    diagnostic_test = "diagnostic_test"
    physical_therapy = "physical_therapy"
    chiropractic = "chiropractic"
    acupuncture = "acupuncture"
    injection = "injection"
    surgery = "surgery"
    equipment = "equipment"
    psychological = "psychological"
    functional_restoration = "functional_restoration"
    home_care = "home_care"
    consultation = "consultation"
    exercise_program = "exercise_program"
    other = "other"


class Reason(str, Enum):
    """Why an item was decided as it was (a judgement, scored softly)."""

    no_functional_improvement = "no_functional_improvement"
    no_pain_relief_documented = "no_pain_relief_documented"
    long_term_use_not_recommended = "long_term_use_not_recommended"
    not_recommended = "not_recommended"
    prerequisites_not_met = "prerequisites_not_met"
    indication_not_documented = "indication_not_documented"
    primary_treatment_not_necessary = "primary_treatment_not_necessary"
    guideline_criteria_met = "guideline_criteria_met"
    other = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class Span(_Model):
    """Half-open character range ``[start, end)`` in the letter's text as read (``read_letter(path).text``)."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Citation(_Model):
    """One cited guideline: ``Decision based on MTUS Low Back Complaints 2004, Section(s): Special Studies``."""

    source: Source
    guideline: str | None = None
    topic: str | None = None
    pages: list[int] = Field(default_factory=list)
    span: Span | None = None


class Flag(_Model):
    """One doubt a person should resolve: the field in doubt, why (a stable code), a line for people,
    and the competing readings. ``review_reasons`` holds the same lines, for readers of the contract."""

    field: str = Field(description="The field in doubt (`treatment`, `category`, ...), or `item` / `letter` for the whole.")
    code: str = Field(description="Why, as a stable code (`model_disagrees`, `words_before_drug`, ...): filters and stats group by it.")
    message: str = Field(description="The line a person reads; the same as the matching review_reasons entry.")
    values: dict[str, JsonValue] = Field(
        default_factory=dict, description="The competing readings by source, e.g. {'parser': 'coverage of Viagra', 'model': 'Viagra'}."
    )


class Item(_Model):
    """One disputed treatment or service and its decision."""

    request: str
    original_request: str | None = None
    retrospective: bool = False
    date_of_service: dt.date | None = None
    treatment: str
    category: Category = Category.other
    generic_name: str | None = None
    strength: str | None = None
    quantity: int | None = None
    decision: Decision
    claims_administrator_guidelines: list[Citation] = Field(default_factory=list)
    reviewer_guidelines: list[Citation] = Field(default_factory=list)
    rationale: str = ""
    reasons: list[Reason] = Field(default_factory=list)
    spans: dict[str, Span] = Field(
        default_factory=dict, description="Where each verbatim field (request, original_request, rationale) was read."
    )
    needs_review: bool = Field(default=False, description="A person should check this item: see review_reasons.")
    review_reasons: list[str] = Field(
        default_factory=list, description="Why: each names the field and, where the parser and model differ, both values."
    )
    sources: dict[str, FieldSource] = Field(
        default_factory=dict,
        description="Where each judgement field's value came from (parser, model, or both agreeing); "
        "empty when no model was asked (every value is the parser's).",
    )
    flags: list[Flag] = Field(default_factory=list, description="The item's doubts, one per field and reason.")
    confidence: dict[str, Confidence] = Field(
        default_factory=dict,
        description="How likely each field's value is right, calibrated on letters the rules were not written for: "
        "among values at 0.9, about 9 in 10 are right.",
    )
    drug_class: DrugClass | None = Field(default=None, description="A medication's drug group; null for other items.")
    compounded: bool | None = Field(
        default=None, description="A medication that is a pharmacy compound or compounding kit; null for other items."
    )
    dwc_category: DwcCategory | None = Field(default=None, description="The service category of DWC's annual IMR reports.")

    def with_flags(self, *flags: Flag) -> Item:
        """A copy with ``flags`` added: ``needs_review`` set and their lines appended to ``review_reasons``."""
        if not flags:
            return self
        return self.model_copy(update={"flags": [*self.flags, *flags], "needs_review": True,
                                       "review_reasons": [*self.review_reasons, *(f.message for f in flags)]})


# The warning on a record made without some of its model answers (``batch collect`` before the batch
# answered them, or where it failed them): the sinks keep it, and ``--resume`` does the letter again.
AWAITING_ANSWERS = "not_in_batch"
# The warning on a record some of whose questions the model endpoint failed (unreachable, timed out,
# an HTTP error after the retries): those fields kept the parser's values. The run says so and counts
# them, and ``--resume`` does the letter again.
ENDPOINT_FAILED = "endpoint_failed"
# The warnings of a record that ``--resume`` does again: it is stored, but not for good.
NOT_FINAL = (AWAITING_ANSWERS, ENDPOINT_FAILED)


class ExtractionWarning(_Model):
    """Something the reader should check: a field not found, a truncated letter, a disagreement."""

    code: str
    message: str
    item: int | None = Field(default=None, description="0-based item index the warning is about, if any.")


class ErrorInfo(_Model):
    """Why a letter produced no record: the record then carries only its identity and this."""

    type: str
    message: str


class Usage(_Model):
    """Tokens and estimated cost of the model calls behind one record."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    longest_answer: int = Field(default=0, description="Completion tokens of the longest single answer.")
    cost_usd: float | None = None


class Provenance(_Model):
    """How the record was made, so any row can be traced and reproduced."""

    backend: str
    package_version: str
    source_path: str | None = None
    source_sha256: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    usage: Usage | None = None
    items_asked: int | None = Field(
        default=None, description="`cascade`: how many items were asked of the model (the rest are the parser's alone).")
    fields_asked: int | None = Field(default=None, description="`cascade`: how many fields (items' and letter's) were asked.")


class Record(_Model):
    """One IMR final determination letter."""

    document_id: str
    layout: Layout = "unknown"
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
    reviewer_licensure: list[str] = Field(default_factory=list)
    diagnoses: list[str] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    spans: dict[str, Span] = Field(default_factory=dict, description="Where each letter-level field was read.")
    warnings: list[ExtractionWarning] = Field(default_factory=list)
    needs_review: bool = Field(default=False, description="Any item, or a letter-level check, needs a person's look.")
    review_reasons: list[str] = Field(default_factory=list, description="The letter-level reasons, then every item's.")
    flags: list[Flag] = Field(default_factory=list, description="The letter-level doubts (each item carries its own).")
    confidence: dict[str, Confidence] = Field(
        default_factory=dict, description="How likely each letter-level field's value is right (as Item.confidence)."
    )
    sources: dict[str, FieldSource] = Field(
        default_factory=dict,
        description="Where each letter-level field's value came from (parser, model, agreed); empty when no model was asked.",
    )
    provenance: Provenance
    error: ErrorInfo | None = Field(default=None, description="Set on an error record: the letter gave no record.")

    @property
    def ok(self) -> bool:
        """True unless this is an error record."""
        return self.error is None

    @property
    def awaiting_answers(self) -> bool:
        """Made without some of its model answers (``AWAITING_ANSWERS``): ``--resume`` does it again."""
        return any(w.code == AWAITING_ANSWERS for w in self.warnings)

    @property
    def final(self) -> bool:
        """Whether ``--resume`` may skip the letter: no error, and no warning of ``NOT_FINAL``."""
        return self.ok and not any(w.code in NOT_FINAL for w in self.warnings)

    @property
    def endpoint_failed(self) -> bool:
        """Some of its questions got no answer because the endpoint failed (``ENDPOINT_FAILED``)."""
        return any(w.code == ENDPOINT_FAILED for w in self.warnings)
