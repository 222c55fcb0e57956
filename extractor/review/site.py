"""The review site: an index of letters, a page per letter with its fields marked in its text, a dashboard.

Static files only (no server, no network): the CSS and JS bundled in this package are inlined in
every page, so a page opens from disk on its own. Jinja2 autoescapes everything; letter text
reaches a page only through ``highlight.mark_text``, which escapes it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, get_args

from jinja2 import Environment, PackageLoader, Template
from markupsafe import Markup

from ..errors import ImrExtractError
from ..models import Category, Layout, Record
from ..read.files import LetterText as ReadLetter
from ..read.files import read_letter
from ..sinks import open_sink
from . import charts
from .highlight import Field, citation_text, fields_with_spans, mark_text
from .stats import Stats, compute_stats, letter_flagged

# Letters per index page: the index of a large corpus is paged (the review server is the way to browse it).
INDEX_PAGE = 500

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
    """The letter's text with every field marked, or why it is not shown."""
    letter, problem = source_letter(record)
    if letter is None:
        return LetterText(None, frozenset(), problem)
    html, marked = mark_text(letter.text, fields)
    return LetterText(html, frozenset(marked), None)


def source_letter(record: Record) -> tuple[ReadLetter | None, str | None]:
    """The letter the record was made from, re-read from its source path, only if the file is that
    letter (its SHA-256 is the record's): records can come from elsewhere, and a path can name any
    file by now (a symlink to /etc/passwd). Else None, and why its text is not shown."""
    path, expected = record.provenance.source_path, record.provenance.source_sha256
    if not path:
        return None, "The record names no source file, so the letter's text cannot be shown."
    if not expected:
        return None, f"The record holds no SHA-256 to check {path} against, so its text is not shown."
    try:
        letter = read_letter(path)
    except ImrExtractError as e:
        return None, f"The letter's text cannot be shown: {e}"
    if letter.sha256 != expected:
        return None, (f"{path} is not the file this record was made from (its SHA-256 differs: changed, replaced "
                      "or pointing elsewhere), so its text is not shown.")
    return letter, None


# A page name's stem at most (file systems allow 255 bytes): a longer id keeps its start and a hash of the whole.
MAX_NAME = 100


class PageNamer:
    """A file name per record, safe on any file system, short enough for any (a 300-character id is
    cut and keeps a hash of the whole id), and unique even if two ids clean to the same name."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, record: Record) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", record.document_id).strip("._") or "letter"
        if len(base) > MAX_NAME:
            digest = hashlib.sha256(record.document_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            base = f"{base[:MAX_NAME - 17]}-{digest}"
        name, n = base, 1
        while name.lower() in self._seen:
            n += 1
            name = f"{base}-{n}"
        self._seen.add(name.lower())
        return f"{name}.html"


def page_names(records: Iterable[Record]) -> list[str]:
    """The page name of each record, in order (as ``build_site`` names them)."""
    namer = PageNamer()
    return [namer(r) for r in records]


class _Index:
    """The letters' index, written ``per_page`` letters a page (``index.html``, ``index-2.html``, ...) as they come:
    only one page of rows is held, so a site of any size is built in bounded memory."""

    def __init__(self, out: Path, env: Environment, per_page: int) -> None:
        self._out, self._template, self._per_page = out, env.get_template("index.html.j2"), per_page
        self._rows: list[dict[str, Any]] = []
        self._page = 1
        self._first = 1

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) > self._per_page:  # a next page exists: this one can be written with its link
            self._write(self._rows[: self._per_page], last=False)
            self._rows = self._rows[self._per_page:]

    def close(self) -> None:
        self._write(self._rows, last=True)

    @staticmethod
    def name(page: int) -> str:
        return "index.html" if page == 1 else f"index-{page}.html"

    def _write(self, rows: list[dict[str, Any]], *, last: bool) -> None:
        (self._out / self.name(self._page)).write_text(self._template.render(
            rows=rows, first=self._first, categories=[c.value for c in Category], layouts=get_args(Layout),
            previous=self.name(self._page - 1) if self._page > 1 else None,
            next=None if last else self.name(self._page + 1)), encoding="utf-8")
        self._page += 1
        self._first += len(rows)


def build_site(records: Iterable[Record], out_dir: str | Path, *, stats: Stats | None = None,
               per_page: int = INDEX_PAGE) -> dict[str, Any]:
    """Write ``index.html`` (and its next pages), ``dashboard.html`` and ``letters/<id>.html``, taking the records
    one at a time; return what was marked, per letter page. ``stats``: the dashboard's figures if computed already
    (from the output, in SQL); else they are computed from the records as they pass."""
    out = Path(out_dir)
    (out / "letters").mkdir(parents=True, exist_ok=True)
    env = environment()
    namer = PageNamer()
    marked: dict[str, dict[str, int]] = {}
    letter_page = env.get_template("letter.html.j2")
    index = _Index(out, env, per_page)
    with tempfile.TemporaryDirectory(prefix="imr-review-") as scratch:
        seen = None if stats is not None else open_sink(Path(scratch) / "records.jsonl")
        for record in records:
            name = namer(record)
            marked[name] = write_letter_page(record, out / "letters" / name, letter_page)
            index.add({"record": record, "page": f"letters/{name}", "flagged": letter_flagged(record),
                       "lowest": lowest_confidence(record)})
            if seen is not None:
                seen.write(record)
        index.close()
        if seen is not None:
            seen.close()
            stats = compute_stats(Path(scratch) / "records.jsonl")
    write_dashboard(stats or Stats(), out / "dashboard.html", env)
    return marked


def write_letter_page(record: Record, path: Path, template: Template) -> dict[str, int]:
    """A letter's page: its text with every field marked where it was read; how many fields it has and marked."""
    fields = fields_with_spans(record)
    text = letter_text(record, fields)
    values = {f.path: {"value": f.value, "item": f.item, "source": f.source} for f in fields}
    path.write_text(template.render(record=record, text=text, values=values, flagged=letter_flagged(record)),
                    encoding="utf-8")
    return {"fields": len(values), "marked": len(text.marked & values.keys())}


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
