"""The service category of the DWC's annual IMR reports for an item, from our treatment category
(``data/dwc_categories.csv``; the mapping and what it cannot tell are documented in ``docs/dwc-categories.md``)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import cast, get_args

from ..models import Category, DwcCategory

_TABLE = Path(__file__).resolve().parent / "data" / "dwc_categories.csv"


@lru_cache(maxsize=1)
def mapping() -> dict[str, DwcCategory]:
    """Our category -> the DWC's; every category of the contract has one."""
    allowed = set(get_args(DwcCategory))
    with _TABLE.open(encoding="utf-8", newline="") as f:
        rows = {row["category"]: row["dwc_category"]
                for row in csv.DictReader(line for line in f if not line.startswith("#"))}
    wrong = {k: v for k, v in rows.items() if v not in allowed or k not in Category.__members__}
    missing = set(Category.__members__) - rows.keys()
    if wrong or missing:
        raise ValueError(f"{_TABLE.name}: unknown rows {wrong} or categories without a DWC category {sorted(missing)}")
    return {k: cast(DwcCategory, v) for k, v in rows.items()}


def dwc_category(category: str | Category) -> DwcCategory:
    """The DWC report's service category of an item of ``category``."""
    return mapping()[Category(category).value]
