"""When a model's value and the parser's are the same reading: the one place that says so.

A disagreement between them is flagged for review (``check``) unless the two name the same thing
under the labelling guide's normalisation (``evals/LABELING.md``): case, punctuation, spacing and
plurals; a surgery's or an injection's first procedure (what follows it, after ``with``, ``and``,
``vs``, ``possible``, a comma or a parenthesis, drops); the words the guide drops from a treatment's name (directions for use, route, frequency,
counts and durations, dosage forms, purchase or rental, contrast and view qualifiers,
``Prescription of``, strengths and quantities); and, for medications, a brand against its generic
(``Norco`` and ``hydrocodone/acetaminophen``), where nothing but drug names is left on either side.
What is left otherwise, such as ``coverage of`` in ``coverage of Viagra``, is a real difference.
"""

from __future__ import annotations

import re

from ..evaluation.scoring import FUZZY, similarity
from ..parse import drugs

# Words the guide's treatment rules drop (whole words, lower case, compared after singularising).
_DROPPED = frozenset({
    "a", "an", "the", "of", "for", "to", "with", "without", "per", "and", "or", "by", "in", "on", "at", "as",
    "from", "prescription", "request", "requested", "retrospective", "additional", "post", "op", "pre", "orally",
    "oral", "topically", "topical", "sublingually", "mouth", "take", "tab", "tabs", "apply", "use", "daily",
    "nightly", "weekly", "monthly", "once", "twice", "times", "time", "prn", "rn", "needed", "directed",
    "bedtime", "night", "hour", "hr", "day", "week", "month", "year", "one", "two", "three", "four", "five",
    "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "half", "supply", "container", "refill",
    "tablet", "capsule", "cap", "patch", "pad", "cream", "gel", "ointment", "lotion", "solution", "spray",
    "film", "purchase", "rental", "rent", "contrast", "view", "single", "positional", "mars", "iv", "session",
    "mg", "mcg", "ml", "gm", "cc", "percent", "kg"
})
_SUB_PROCEDURE = re.compile(r"\s*(?:\bwith\b|\band\b|\bvs\b\.?|\bpossible\b|,|\()", re.I)
_FIRST_PROCEDURE_ONLY = ("surgery", "injection")  # the categories whose name is their first procedure
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
# Salt and release words that stay with a drug's name (``Oxycodone HCL ER``): no difference on their own.
_DRUG_SUFFIXES = frozenset({"hcl", "hydrochloride", "sod", "sodium", "potassium", "er", "xr", "dr", "cr", "sr", "xl", "la", "ir", "odt", "ds", "ec"})


def same_treatment(a: str | None, b: str | None, category: str | None = None) -> bool:
    """Whether two treatment names are one reading under the labelling guide's normalisation (of an
    item of ``category``)."""
    if not a or not b:
        return not a and not b
    if similarity(a, b) >= FUZZY:  # what the eval scores as the same name
        return True
    if category in _FIRST_PROCEDURE_ONLY and similarity(_first_procedure(a), _first_procedure(b)) >= FUZZY:
        return True
    key_a, key_b = _key(a), _key(b)
    if key_a == key_b:
        return True
    return _only_drugs(key_a) and _only_drugs(key_b) and _generics(a) == _generics(b) != set()


def same_category(a: str | None, b: str | None) -> bool:
    """Whether two categories are one (the contract's enum: only case and spacing can differ)."""
    return (a or "").strip().lower() == (b or "").strip().lower()


def _first_procedure(name: str) -> str:
    return _SUB_PROCEDURE.split(name, maxsplit=1)[0]


def _key(name: str) -> list[str]:
    """The words of a name that the guide keeps, singular, lower case, without numbers."""
    words = [_singular(w) for w in _WORD.findall(name.lower()) if not w[0].isdigit()]
    return [w for w in words if w not in _DROPPED and len(w) > 1 or w in ("d", "c")]


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _only_drugs(words: list[str]) -> bool:
    """Every word left names a drug the lexicon knows, or is a salt or release word."""
    return bool(words) and all(w in _DRUG_SUFFIXES or drugs.generic_names(w) for w in words)


def _generics(name: str) -> set[str]:
    return {part for g in drugs.generic_names(name) for part in g.split("/")}
