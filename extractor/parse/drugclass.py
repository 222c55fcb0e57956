"""A medication's drug group and whether it is a pharmacy compound, from two data tables.

``data/drug_classes.csv`` gives each active ingredient's group by route (taken by mouth or injected, or applied to
the skin), with its FDA Established Pharmacologic Class and USP category written beside it; ``data/drug_products.csv``
gives the products whose group or compounding the ingredients do not tell (compounding kits, manufactured topicals,
transdermal opioids, medical foods). The order of the decision is the labelling guide's (``evals/LABELING.md``):
a product applied to the skin is ``topical`` unless it acts through the skin (a transdermal opioid stays ``opioid``);
then anything holding an opioid is ``opioid``; then the principal ingredient's group.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast, get_args

from .. import lazy_re
from ..models import Category, DrugClass
from .dwc import dwc_category

_DATA = Path(__file__).resolve().parent / "data"
# The words that say a product is applied to the skin; so does a strength in percent (a tablet's is in mg).
_ON_SKIN = lazy_re.compile(r"\b(?:patch(?:es)?|pads?|gel|cream|creme|lotion|ointment|balm|liniment|roll-?on|foam|topical(?:ly)?|"
                           r"transdermal|dermal|liquid\s+bandage|spray\s+on|salve)\b|\d\s*%", re.I)
# The words that say a pharmacy made it: "compound cream", "compounded", "in cream base".
_COMPOUND = lazy_re.compile(r"\bcompound(?:ed|ing)?\b|\b(?:cream|gel|lipoderm|versapro|pcca)\s+base\b|\bin\s+base\b", re.I)
# Salts and forms the lexicon may leave on an ingredient's name ("diclofenac sodium", "tramadol hcl").
_SALT = lazy_re.compile(r"\s+(?:hcl|hydrochloride|sodium|potassium|epolamine|bitartrate|tartrate|succinate|besylate|"
                        r"maleate|mesylate|sulfate|citrate|magnesium|calcium|er|xr|cr|sr|ir|dr)$")
# Manufactured topical analgesics combine these (Salonpas, BenGay, EMLA): several of them alone is no compound.
_OTC_SKIN = {"menthol", "methyl salicylate", "camphor", "capsaicin", "lidocaine", "prilocaine", "trolamine salicylate"}
# In a combination the group of the principal ingredient wins; a stomach protectant beside an NSAID is not principal.
_SECONDARY = {"gastrointestinal", "other"}
_CLASSES = set(get_args(DrugClass))


@dataclass(frozen=True)
class Ingredient:
    """One row of ``drug_classes.csv``."""

    drug_class: DrugClass
    on_skin: DrugClass  # the group of a product applied to the skin that holds it


@dataclass(frozen=True)
class Product:
    """One row of ``drug_products.csv``."""

    drug_class: DrugClass | None
    compounded: bool
    on_skin: bool


def _rows(name: str) -> Iterable[dict[str, str]]:
    with (_DATA / name).open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(line for line in f if not line.startswith("#"))


def _group(value: str, where: str) -> DrugClass:
    if value not in _CLASSES:
        raise ValueError(f"{where}: {value!r} is not a drug class ({', '.join(sorted(_CLASSES))})")
    return cast(DrugClass, value)


@lru_cache(maxsize=1)
def ingredients() -> dict[str, Ingredient]:
    """The ingredient table: lower-case generic name -> its groups by route."""
    table = {}
    for row in _rows("drug_classes.csv"):
        name = row["ingredient"].strip().lower()
        group = _group(row["drug_class"], f"drug_classes.csv, {name}")
        table[name] = Ingredient(group, _group(row["on_skin"] or "topical", f"drug_classes.csv, {name}"))
    return table


@lru_cache(maxsize=1)
def products() -> dict[str, Product]:
    """The product table: a product's one-word name as printed -> its group, compounding and route."""
    return {row["product"].strip().lower(): Product(
        _group(row["drug_class"], f"drug_products.csv, {row['product']}") if row["drug_class"] else None,
        row["compounded"] == "true", row["on_skin"] == "true") for row in _rows("drug_products.csv")}


def ingredient(name: str) -> Ingredient | None:
    """The table's row for a generic name as the lexicon writes it: a salt, release form, qualifier in parentheses
    or grade number dropped ("diclofenac sodium", "buprenorphine buccal (chronic pain)", "polyethylene glycol 3350")."""
    words = re.sub(r"\([^)]*\)|\d+", " ", name.lower()).split()
    table = ingredients()
    while words and _SALT.fullmatch(" " + words[-1]):
        words.pop()
    for end in range(len(words), 0, -1):  # the longest leading name the table knows
        if row := table.get(" ".join(words[:end])):
            return row
    return None


def classify(request: str, generic_name: str | None) -> tuple[DrugClass, bool]:
    """A medication's drug group and whether it is compounded, from its request and its generic name(s)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]*", request)}
    named = [p for w in sorted(words) if (p := products().get(w))]
    parts = [p.strip() for p in (generic_name or "").split("/") if p.strip()]
    rows = [row for part in parts if (row := ingredient(part))]
    on_skin = (bool(_ON_SKIN.search(request)) or any(p.on_skin for p in named)
               or bool(rows) and all(r.drug_class == "topical" for r in rows))
    compounded = any(p.compounded for p in named) or bool(_COMPOUND.search(request)) or (
        on_skin and len(parts) > 1 and not set(parts) <= _OTC_SKIN)
    return _drug_class(named, rows, on_skin), compounded


def _drug_class(named: list[Product], rows: list[Ingredient], on_skin: bool) -> DrugClass:
    if on_skin:
        through_skin = [r.on_skin for r in rows if r.on_skin != "topical"]
        brand = next((p.drug_class for p in named if p.drug_class), None)
        return brand or (through_skin[0] if through_skin and len(rows) == 1 else "topical")
    if any(r.drug_class == "opioid" for r in rows) or any(p.drug_class == "opioid" for p in named):
        return "opioid"
    if brand := next((p.drug_class for p in named if p.drug_class), None):
        return brand
    groups = [r.drug_class for r in rows]
    principal = next((g for g in groups if g not in _SECONDARY), None)
    return principal or (groups[0] if groups else "other")


def item_groups(request: str, category: str | Category, generic_name: str | None) -> dict[str, object]:
    """The record's grouping fields of an item: ``drug_class`` and ``compounded`` (medications only, else null)
    and ``dwc_category``; every backend's items get them from here."""
    medication = Category(category) is Category.medication
    drug_class, compounded = classify(request, generic_name) if medication else (None, None)
    return {"drug_class": drug_class, "compounded": compounded, "dwc_category": dwc_category(category)}
