"""Normalising single values as the contract prescribes: dates, state codes, case numbers, strengths.

The parser, the model's answers and the eval harness's gold loader all go through these, so a
value means the same wherever it was read.
"""

from __future__ import annotations

import datetime as dt
import re

from .. import lazy_re

DATE_PATTERN = r"\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})(?!\d)"
_NUMERIC_DATE = lazy_re.compile(r"(\d{1,2})[/-](\d{1,2})[/-](\d{4}|\d{2})(?!\d)")
_ISO_DATE = lazy_re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"], start=1)}
_WORD_DATE = lazy_re.compile(r"([A-Za-z]+)\.? (\d{1,2}),? (\d{4})")

STATES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI", "minnesota": "MN",
    "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
    "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
    "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
    "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "puerto rico": "PR",
}
_STATE_CODES = set(STATES.values())
STATE_NAME_PATTERN = "|".join(sorted((re.escape(n) for n in STATES), key=len, reverse=True))


def parse_date(value: str | dt.date | None, *, reference: dt.date | None = None) -> dt.date | None:
    """``10-13-16``, ``10/13/2016``, ``2016-10-13``, ``October 13, 2016`` -> a date; None if not a date.

    A two-digit year is 20xx unless that is after ``reference`` (the letter's date, else today),
    then 19xx.
    """
    if value is None or isinstance(value, dt.date):
        return value
    s = value.strip()
    try:
        if m := _ISO_DATE.fullmatch(s):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _NUMERIC_DATE.fullmatch(s):
            year = int(m[3])
            if len(m[3]) == 2:
                year += 2000
                if dt.date(year, 1, 1) > (reference or dt.date.today()):
                    year -= 100
            return dt.date(year, int(m[1]), int(m[2]))
        if (m := _WORD_DATE.fullmatch(s)) and m[1].lower() in _MONTHS:
            return dt.date(int(m[3]), _MONTHS[m[1].lower()], int(m[2]))
    except ValueError:
        return None
    return None


def state_code(name: str) -> str | None:
    """``New York`` or ``NY`` -> ``NY``; None for anything else."""
    s = " ".join(name.replace(".", "").split())
    if s.upper() in _STATE_CODES:
        return s.upper()
    return STATES.get(s.lower())


def case_number(value: str | None) -> str | None:
    """As printed, upper case, no spaces."""
    if value is None:
        return None
    s = "".join(value.split()).upper()
    return s or None


def strength_key(value: str | None) -> str | None:
    """A strength with spaces and case dropped, so ``5mcg/hr`` and ``5 mcg/hr`` compare equal."""
    if value is None:
        return None
    return "".join(value.split()).lower()
