"""The review site: an index of letters, a page per letter with its fields marked in its text, a dashboard.

Static files only (no server, no network): the CSS and JS bundled in this package are inlined in
every page, so a page opens from disk on its own. Jinja2 autoescapes everything; letter text
reaches a page only through ``highlight.mark_text``, which escapes it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from ..errors import ImrExtractError
from ..models import Record
from ..read.files import read_letter
from . import charts
from .highlight import Field, citation_text, fields_with_spans, mark_text
from .stats import Stats, compute_stats, letter_flagged

_STATIC = files("extractor.review") / "static"


def environment() -> Environment:
    """Templates from the package, autoescaped, with the bundled CSS and JS available to inline."""
    env = Environment(loader=PackageLoader("extractor.review", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["css"] = Markup((_STATIC / "review.css").read_text(encoding="utf-8"))
    js = (_STATIC / "review.js").read_text(encoding="utf-8")
    env.globals["js"] = Markup(js)
    # Only this script may run: the page's policy allows it by hash, so no inline script or handler else would.
    env.globals["js_hash"] = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    env.globals["citation_text"] = citation_text
    return env


@dataclass(frozen=True)
class LetterText:
    """A letter's text marked with its fields, or why there is no text to show."""

    html: Markup | None
    marked: frozenset[str]
    problem: str | None


def letter_text(record: Record, fields: list[Field]) -> LetterText:
    """Re-read the letter from its source path and mark every field; say why if it cannot be read."""
    path = record.provenance.source_path
    if not path:
        return LetterText(None, frozenset(), "The record names no source file, so the letter's text cannot be shown.")
    try:
        letter = read_letter(path)
    except ImrExtractError as e:
        return LetterText(None, frozenset(), f"The letter's text cannot be shown: {e}")
    html, marked = mark_text(letter.text, fields)
    changed = record.provenance.source_sha256 not in (None, letter.sha256)
    problem = f"{path} has changed since it was extracted: the marks may be off." if changed else None
    return LetterText(html, frozenset(marked), problem)


def page_names(records: list[Record]) -> list[str]:
    """A file name per record, safe on any file system and unique even if two ids clean to the same name."""
    names: list[str] = []
    seen: set[str] = set()
    for record in records:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", record.document_id).strip("._") or "letter"
        name, n = base, 1
        while name.lower() in seen:
            n += 1
            name = f"{base}-{n}"
        seen.add(name.lower())
        names.append(f"{name}.html")
    return names


def build_site(records: list[Record], out_dir: str | Path) -> dict[str, Any]:
    """Write ``index.html``, ``dashboard.html`` and ``letters/<id>.html``; return what was marked, per letter."""
    out = Path(out_dir)
    (out / "letters").mkdir(parents=True, exist_ok=True)
    env = environment()
    names = page_names(records)
    marked: dict[str, dict[str, int]] = {}
    letter_page = env.get_template("letter.html.j2")
    for record, name in zip(records, names, strict=True):
        fields = fields_with_spans(record)
        text = letter_text(record, fields)
        values = {f.path: {"value": f.value, "item": f.item, "source": f.source} for f in fields}
        (out / "letters" / name).write_text(
            letter_page.render(record=record, text=text, values=values, flagged=letter_flagged(record)),
            encoding="utf-8")
        marked[record.document_id] = {"fields": len(values), "marked": len(text.marked & values.keys())}
    rows = [{"record": r, "page": f"letters/{n}", "flagged": letter_flagged(r), "lowest": lowest_confidence(r)}
            for r, n in zip(records, names, strict=True)]
    categories = sorted({str(i.category) for r in records for i in r.items})
    layouts = sorted({r.layout for r in records})
    (out / "index.html").write_text(env.get_template("index.html.j2").render(
        rows=rows, categories=categories, layouts=layouts), encoding="utf-8")
    write_dashboard(compute_stats(records), out / "dashboard.html", env)
    return marked


def lowest_confidence(record: Record) -> tuple[float, int, str] | None:
    """The letter's most doubtful item field: (confidence, item index, field), to sort the index by doubt."""
    return min(((value, i, name) for i, item in enumerate(record.items) for name, value in item.confidence.items()),
               default=None)


def write_dashboard(stats: Stats, path: Path, env: Environment) -> None:
    """The dashboard page: headline figures, a chart and a table per grouping, decisions by month."""
    group_charts = {name: charts.rate_chart(f"Overturn rate by {name}", rows) for name, rows in stats.by_group.items()
                    if rows}
    path.write_text(env.get_template("dashboard.html.j2").render(
        stats=stats, group_charts=group_charts,
        month_chart=charts.month_chart(stats) if stats.by_month else None,
        items_chart=charts.items_per_letter_chart(stats) if stats.items_per_letter else None), encoding="utf-8")
