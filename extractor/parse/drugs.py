"""Medications in a request: generic names, strength and quantity.

Brand -> generic comes from drug-named-entity-recognition (offline, through the compact index in
``lexicon``); a small table covers workers' comp products it lacks (combination opioids, compounded kits).
"""

from __future__ import annotations

import re

from .. import lazy_re
from . import lexicon

# Products drug-named-entity-recognition does not know, or names only as a class.
EXTRA_GENERICS = {
    "norco": "hydrocodone/acetaminophen",
    "vicodin": "hydrocodone/acetaminophen",
    "lortab": "hydrocodone/acetaminophen",
    "percocet": "oxycodone/acetaminophen",
    "endocet": "oxycodone/acetaminophen",
    "ultracet": "tramadol/acetaminophen",
    "fioricet": "butalbital/acetaminophen/caffeine",
    "duexis": "ibuprofen/famotidine",
    "colace": "docusate",
    "lidopro": "capsaicin/lidocaine/menthol/methyl salicylate",
    "terocin": "capsaicin/lidocaine/menthol/methyl salicylate",
    "synapryn": "tramadol",
    "tabradol": "cyclobenzaprine",
    "deprizine": "ranitidine",
    "fanatrex": "gabapentin",
    "dicopanol": "diphenhydramine",
    "ketophene": "ketoprofen",
    "trezix": "acetaminophen/caffeine/dihydrocodeine",
    "fexmid": "cyclobenzaprine",
    "nalfon": "fenoprofen",
    "theramine": "medical food",
    "salonpas": "methyl salicylate/menthol",
    "anecream": "lidocaine",
    "lorzone": "chlorzoxazone",
    "cyclophene": "cyclobenzaprine",
    "menthol": "menthol",
    "capsaicin": "capsaicin",
    "camphor": "camphor",
    "glucosamine": "glucosamine",
    "chondroitin": "chondroitin",
    "biofreeze": "menthol",
}
_FORM_WORDS = lazy_re.compile(
    r"\s+(?:patch(?:es)?|pads?|tablets?|tabs?|capsules?|caps?|cream|gel|ointment|lotion|solution|suspension|spray|films?|"
    r"oral|topical|transdermal|grams?|gm|ml)\b",
    re.I,
)
_STRENGTH = lazy_re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?(?:\s*[/-]\s*\d+(?:\.\d+)?)*)\s*(mcg/hr|mcg/h|mg/ml|mg/g|mg/\d+\s*ml|mcg|mg|gm|g|ml|%|iu)(?![\w])",
    re.I,
)
# "8mg/2mg" is one strength, "8/2 mg": the unit printed before the slash goes.
_UNIT_BETWEEN = lazy_re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg)\s*/\s*(?=\d+(?:\.\d+)?\s*\2\b)", re.I)
_QUANTITY = lazy_re.compile(r"#\s*(\d+)")
# A word that is surely not a drug, though the NER lexicon may say otherwise.
_NOT_DRUGS = {"oxygen", "water", "ice", "heat", "gym", "pool", "massage", "nurse", "unit", "home"}


def _drug_hits(words: list[str]) -> list[tuple[int, int, str]]:
    """(first word, end word, generic) for each drug among ``words``: the table's products, then the lexicon's."""
    hits = [(i, i + 1, g) for i, w in enumerate(words) if (g := EXTRA_GENERICS.get(w.lower()))]
    known = {i for i, _, _ in hits}
    candidates = [w if i not in known and w.lower() not in _NOT_DRUGS else "-" for i, w in enumerate(words)]
    for entry, start, end in lexicon.find(candidates):
        name = _FORM_WORDS.sub("", entry.name or "").strip().lower()
        if name and name != "stool softeners":
            hits.append((start, end, name))
    return sorted(hits)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z\-]+", text)


def generic_names(text: str) -> list[str]:
    """Lower-case generic names of the drugs ``text`` names, in the order written; a name whose ingredients are all
    named already adds nothing ("Hydrocodone/APAP (Norco)" -> hydrocodone, acetaminophen)."""
    found: list[str] = []
    for _, _, name in _drug_hits(_words(text)):
        named = {part for f in found for part in f.split("/")}
        if not set(name.split("/")) <= named:
            found.append(name)
    return found


def names_a_drug(name: str) -> bool:
    """True if every part of a drug name (``A/B``) is one word or holds a drug the lexicon knows."""
    return all(len(part.split()) == 1 or _drug_hits(_words(part)) for part in name.split("/"))


def strength(text: str) -> str | None:
    """``5mcg/hr`` -> ``5 mcg/hr``; ``10/325MG`` and ``10-325mg`` -> ``10/325 mg``; several percentages joined: ``10/5 %``."""
    text = _UNIT_BETWEEN.sub(r"\1/", text)
    found = [(re.sub(r"\s+", "", m[1]).replace("-", "/"), re.sub(r"/(\d+)\s*ml", r"/\1 ml", m[2].lower()))
             for m in _STRENGTH.finditer(text)]
    found = [(n, u) for n, u in found if not (u in ("g", "gm", "ml") and len(found) > 1)]
    if not found:
        return None
    units = {u for _, u in found}
    if len(found) > 1 and units == {"%"}:
        return "/".join(n for n, _ in found) + " %"
    return " ".join(f"{number} {unit}" for number, unit in found)


def without_strength(text: str) -> str:
    """``text`` with its strengths taken out: "Kenalog 40mg injection" -> "Kenalog injection"."""
    return " ".join(_STRENGTH.sub(" ", text).split())


def quantity(text: str) -> int | None:
    """The dispensed count after ``#``."""
    m = _QUANTITY.search(text)
    return int(m.group(1)) if m else None


# Where a drug's name ends: directions for use, frequency, route, quantity, refills, purpose.
_NAME_STOP = lazy_re.compile(
    r"\s*(?:#|\(|\[|\bwith\b|\bx\s*\d|\bper\b|\bqty\b|\bquantity\b|\bDOS\b|\bin\s+(?:a\s+)?(?:cream|gel)\b|"
    r"\d+\s*refills?|\brefills?\b|\bfor\b|\bby\s+mouth\b|\b(?:once|twice|three times|four times)\b|\b(?:daily|nightly|weekly)\b|"
    r"\bq\.?\s?\d|\bq\.?\s?(?:d|hs|am|pm|day|[2-8]h)\b|\b(?:b\.?i\.?d|t\.?i\.?d|q\.?i\.?d|p\.?r\.?n|RN|h\.?s|p\.?o)\b\.?|"
    r"\b(?:take|taken|apply|applied|use|sig|dispense|disp|orally|topically|sublingually|every|as needed|as directed|at bedtime|"
    r"at night|before|after|up to|SL)\b|\b\d+\s*(?:hours?|hrs?)\b|"
    r"\b(?:\d+(?:-\d+)?|one|two|half|1/2)\s+(?:tabs?|tablets?|caps?|capsules?|pills?|puffs?|drops?|patch(?:es)?|by)\b|"
    r"\b\d+\s*(?:days?|weeks?|months?)\b)", re.I)
# Words that belong to a drug's name after it: salts and release forms ("Oxycodone HCL ER", "Naproxen sodium").
_NAME_SUFFIX = lazy_re.compile(
    r"^(?:HCL|hydrochloride|sod|sodium|potassium|calcium|magnesium|ER|XR|DR|CR|SR|XL|LA|IR|ODT|DS|EC|extended|delayed|"
    r"sustained|controlled|immediate|release|forte|plus|PM|\w+ate|\w+ide)$", re.I)
# A name printed in parentheses right after a drug's name stays with it: "Diazepam (Valium)", "Meloxicam (Mobic)".
_ALIAS = lazy_re.compile(r"\s*\(\s*([A-Za-z][A-Za-z /-]*?)\s*\)")
_NAME_SPLIT = lazy_re.compile(r"\s*(?:/|\+|,|\band\b)\s*")
_FILLER = lazy_re.compile(r"^(?:(?:\w+\s+){0,3}supply\s+of\s+|(?:\w+\s+)?(?:containers?|refills?|bottles?|tubes?|boxes?)\s+of\s+|compound(?:ed)?\s+)", re.I)


def _through_last_drug(piece: str) -> str:
    """A name part up to its last known drug and that drug's salt or release words: "Motrin po tid" -> "Motrin"."""
    words = piece.split()
    hits = _drug_hits(words) if len(words) > 1 else []
    if not hits:
        return piece
    end = max(e for _, e, _ in hits)
    while end < len(words) and _NAME_SUFFIX.match(words[end]):
        end += 1
    return " ".join(words[:end])


def before_directions(text: str) -> str:
    """``text`` up to where directions for use, purpose, frequency or quantity begin: what names the drug
    ("Diazepam 5mg take 1 tab orally before exam" -> "Diazepam 5mg")."""
    return _NAME_STOP.split(text, maxsplit=1)[0]


def drug_name(request: str) -> str:
    """The drug name(s) as written, joined with "/": strengths, forms, directions, quantities and refills removed;
    a brand or generic name printed in parentheses right after it stays."""
    name = without_strength(_FILLER.sub("", request.strip()))
    stop = _NAME_STOP.search(name)
    while stop and stop[0].strip().lower() == "with" and _drug_hits(_words(name[stop.end():])[:1]):
        stop = _NAME_STOP.search(name, stop.end())
    alias = _ALIAS.match(name, stop.start()) if stop else None
    alias_text = f" ({alias[1]})" if alias and (_drug_hits(_words(alias[1])) or alias[1].isupper()) else ""
    name = name[: stop.start()] if stop else name
    names = []
    for piece in _NAME_SPLIT.split(name):
        piece = _FORM_WORDS.sub("", " " + piece).strip()
        piece = re.sub(r"\d+(?:\.\d+)?\s*(?:grams?|gr|gm|g|ml)\b|\b(?:\d+(?:\.\d+)?|cream base|base|compound(?:ed)?)\b",
                       " ", piece, flags=re.I)
        piece = _through_last_drug(" ".join(piece.split()).strip(" -,.%"))
        if piece:
            names.append(piece)
    return "/".join(names) + alias_text if names else ""
