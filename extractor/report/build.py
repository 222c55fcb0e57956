"""The report: headline figures and one table (and chart) per grouping, in the shape of DWC's annual IMR report
and CWCI's studies; a page per table row listing the items behind it, each linking to its letter's review page
with the item's request highlighted. Every figure is SQL over ``review.tables`` (corpus scale); only the listed
items and their letters come into Python.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from markupsafe import Markup

from ..review import charts
from ..review.stats import GROUPS, UNKNOWN, YEAR, Group, RateRow, Stats, group_query, rate_rows, stats_from
from ..review.tables import connect, dict_rows, records_for

Format = Literal["html", "md"]
ITEM_COLUMNS = ("document_id", "case_number", "decision_date", "request", "category", "drug_class", "compounded",
                "decision")


@dataclass(frozen=True)
class Figure:
    """One table of the report: a grouping, its rows (largest first) and the note that says how to read it."""

    slug: str
    title: str
    group: Group
    rows: list[RateRow]
    note: str = ""

    @property
    def items(self) -> int:
        return sum(r.items for r in self.rows)


# (slug, title, grouping, note): the report's tables in order; the groupings of ``stats`` by their name.
_FIGURES: list[tuple[str, str, Group | str, str]] = [
    ("all", "All decisions", Group("'all items'"), "Every item (one treatment decision) of every letter."),
    ("year", "Decisions by year", YEAR, "By the year of the decision date."),
    ("dwc-category", "Decisions by DWC service category", "DWC category",
     "The service categories of DWC's annual IMR reports (docs/dwc-categories.md)."),
    ("drug-class", "The pharmaceutical mix: decisions by drug group", "drug class",
     "Medication items only; the share is of all medication items."),
    ("compounded", "Compounded medications", Group("CASE WHEN compounded THEN 'compounded' ELSE 'not compounded' END",
                                                   "compounded IS NOT NULL"),
     "Medication items: pharmacy compounds and compounding kits against every other medication."),
    ("drug", "Top drugs", "generic drug", "By generic name as read from the request."),
    ("category", "Decisions by treatment category", "category", "This project's categories (docs/record-format.md)."),
    ("guideline-source", "Decisions by the guideline source the reviewer cited", "guideline source",
     "An item citing two sources counts under both."),
    ("specialty", "Decisions by reviewer specialty", "reviewer specialty", ""),
    ("items-per-letter", "Items per letter", Group("CAST(count(*) OVER (PARTITION BY source_path) AS VARCHAR)"),
     "Items of the letters that decided that many items."),
]


def build_report(source: str | Path, out_dir: str | Path, *, fmt: Format = "html", top: int = 20,
                 listed: int = 50) -> dict[str, Any]:
    """Write the report of the records at ``source`` into ``out_dir``; return its headline figures.

    Each table shows its ``top`` largest rows; each row's page lists up to ``listed`` of its items (all of them when
    there are no more), a sample in a fixed order of letters (by a hash of the letter's key) that every figure shares,
    so the listed items of all the figures fall in few letters and the letter pages stay few at corpus scale."""
    out = Path(out_dir)
    (out / "items").mkdir(parents=True, exist_ok=True)
    with connect(source) as con:
        stats = stats_from(con)
        figures = [Figure(slug, title, group if isinstance(group, Group) else GROUPS[group],
                          _ordered(slug, _rows(con, group, stats)), note) for slug, title, group, note in _FIGURES]
        _sample_letters(con, stats.items)
        lists = {f.slug: _listed(con, f.group, f.rows[:top], listed) for f in figures}
        pages = _letter_pages(lists)
        headline = _headline(stats, figures)
        if fmt == "md":
            _write_markdown(out, headline, figures, lists, top)
        else:
            _write_html(out, headline, stats, figures, lists, pages, top)
            _write_letters(out, con, source, pages)
    return headline


def _rows(con: Any, group: Group | str, stats: Stats) -> list[RateRow]:
    return stats.by_group[group] if isinstance(group, str) else rate_rows(con, group)


def _ordered(slug: str, rows: list[RateRow]) -> list[RateRow]:
    """Years and items per letter in their own order; every other grouping largest first (as computed)."""
    if slug == "year":
        return sorted(rows, key=lambda r: (r.key == UNKNOWN, r.key))
    if slug == "items-per-letter":
        return sorted(rows, key=lambda r: int(r.key))
    return rows


# The listing reads first a sample of whole letters (those whose key hashes lowest, about this many items), which
# fills most rows, then, for the rows still short, all their items: the corpus is scanned, never sorted.
_SAMPLE_ITEMS = 20_000


def _sample_letters(con: Any, items: int) -> None:
    """``sample``: the items of the letters whose key hashes below the share of the hash range that holds about
    ``_SAMPLE_ITEMS`` items (the same letters for every figure)."""
    below = min(1.0, _SAMPLE_ITEMS / items) if items else 1.0
    con.execute("CREATE OR REPLACE TEMP TABLE sample AS SELECT * FROM item_facts WHERE hash(source_path) <= ?",
                [int(below * (2**64 - 1))])


def _listed(con: Any, group: Group, rows: list[RateRow], limit: int) -> dict[str, list[dict[str, Any]]]:
    """Up to ``limit`` items of each row, in the shared sample order (the hash of the letter's key)."""
    listed = _sample(con, group, [r.key for r in rows], limit, "sample")
    short = [r.key for r in rows if len(listed[r.key]) < min(limit, r.items)]
    return listed | (_sample(con, group, short, limit, "item_facts") if short else {})


def _sample(con: Any, group: Group, keys: list[str], limit: int, facts: str) -> dict[str, list[dict[str, Any]]]:
    import pyarrow as pa

    con.register("shown", pa.table({"key": pa.array(keys, pa.string())}))
    try:
        rows = dict_rows(
            con, "SELECT l.*, i.request, i.treatment FROM (SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY key "
                 f"ORDER BY hash(source_path), source_path, item_index) AS rn FROM ({group_query(group, facts)}) "
                 "WHERE CAST(key AS VARCHAR) IN (SELECT key FROM shown)) WHERE rn <= ?) l "
                 "JOIN items_reviewed i USING (source_path, item_index) ORDER BY key, rn", [limit])
    finally:
        con.unregister("shown")
    listed: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    for row in rows:
        listed[str(row["key"])].append(row)
    return listed


def letter_page(source_path: str, document_id: str | None) -> str:
    """A letter's page name: its id made safe for any file system, and a hash of its key so two never collide."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", document_id or "").strip("._") or "letter"
    return f"{base[:80]}-{hashlib.sha256(source_path.encode()).hexdigest()[:10]}.html"


def _letter_pages(lists: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, str]:
    return {row["source_path"]: letter_page(row["source_path"], row["document_id"])
            for by_key in lists.values() for rows in by_key.values() for row in rows}


def _headline(stats: Stats, figures: list[Figure]) -> dict[str, Any]:
    by_slug = {f.slug: f for f in figures}
    medication = by_slug["drug-class"].items
    pharma = next((r.items for r in by_slug["dwc-category"].rows if r.key == "pharmaceuticals"), 0)
    compounded = next((r.items for r in by_slug["compounded"].rows if r.key == "compounded"), 0)
    opioids = next((r.items for r in by_slug["drug-class"].rows if r.key == "opioid"), 0)
    letters = stats.letters - stats.errors

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {"letters": stats.letters, "errors": stats.errors, "items": stats.items,
            "items_per_letter": round(stats.items / letters, 2) if letters else None,
            "overturned": stats.overturned, "overturn_rate": share(stats.overturned, stats.items),
            "upheld_rate": share(stats.items - stats.overturned, stats.items),
            "pharmaceutical_share": share(pharma, stats.items), "medication_items": medication,
            "opioid_share_of_medications": share(opioids, medication),
            "compounded_share_of_medications": share(compounded, medication)}


def _write_html(out: Path, headline: dict[str, Any], stats: Stats, figures: list[Figure],
                lists: dict[str, dict[str, list[dict[str, Any]]]], pages: dict[str, str], top: int) -> None:
    env = _environment()
    item_page = env.get_template("report_items.html.j2")
    chart: dict[str, Markup] = {}
    for f in figures:
        if f.slug == "items-per-letter" and stats.items_per_letter:
            chart[f.slug] = charts.items_per_letter_chart(stats)
        elif f.rows and f.slug != "all":
            chart[f.slug] = charts.rate_chart(f.title, f.rows)
        for i, row in enumerate(f.rows[:top]):
            (out / "items" / f"{f.slug}-{i}.html").write_text(item_page.render(
                figure=f, row=row, items=lists[f.slug].get(row.key, []), pages=pages), encoding="utf-8")
    month = charts.month_chart(stats) if [m for m in stats.by_month if m != UNKNOWN] else None
    (out / "index.html").write_text(env.get_template("report.html.j2").render(
        headline=headline, figures=figures, charts=chart, month_chart=month, stats=stats, top=top), encoding="utf-8")


def _write_letters(out: Path, con: Any, source: str | Path, pages: dict[str, str]) -> None:
    """A review page per listed letter (the review site's page, its text marked), under ``letters/``."""
    from ..review.site import write_letter_page

    (out / "letters").mkdir(exist_ok=True)
    template = _environment().get_template("report_letter.html.j2")
    for key, record in records_for(con, source, pages):
        write_letter_page(record, out / "letters" / pages[key], template)


def _environment() -> Any:
    """The review site's environment (its CSS, script, policy and letter page) with the report's templates first."""
    from jinja2 import BaseLoader, ChoiceLoader, PackageLoader

    from ..review.site import environment

    env = environment()
    review: BaseLoader = env.loader  # type: ignore[assignment]
    env.loader = ChoiceLoader([PackageLoader("extractor.report", "templates"), review])
    env.globals["pct"] = lambda share: "-" if share is None else f"{share * 100:.1f}%"
    return env


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def md(value: Any) -> str:
    """A value as Markdown text: its special characters escaped, its lines joined (letter text is data)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str("" if value is None else value).split()))


def _write_markdown(out: Path, headline: dict[str, Any], figures: list[Figure],
                    lists: dict[str, dict[str, list[dict[str, Any]]]], top: int) -> None:
    lines = ["# IMR decisions: the report", "", *(f"- {k.replace('_', ' ')}: {md(v)}" for k, v in headline.items())]
    for f in figures:
        lines += ["", f"## {f.title}", "", md(f.note), "", "| group | items | share | overturned | rate | items behind it |",
                  "|---|---:|---:|---:|---:|---|"]
        for i, row in enumerate(f.rows[:top]):
            lines.append(f"| {md(row.key)} | {row.items} | {row.items / f.items:.1%} | {row.overturned} | {row.rate:.1%} "
                         f"| [list](items/{f.slug}-{i}.md) |")
            listed = lists[f.slug].get(row.key, [])
            page = [f"# {md(f.title)}: {md(row.key)}", "", f"{row.items} item(s), {row.overturned} overturned; "
                    f"{'all of them' if len(listed) == row.items else f'a sample of {len(listed)}'}.", "", "| " + " | ".join(ITEM_COLUMNS) + " | source |",
                    "|" + "---|" * (len(ITEM_COLUMNS) + 1)]
            page += ["| " + " | ".join(md(item[c]) for c in ITEM_COLUMNS) + f" | {md(item['source_path'])} |"
                     for item in listed]
            (out / "items" / f"{f.slug}-{i}.md").write_text("\n".join(page) + "\n", encoding="utf-8")
        if len(f.rows) > top:
            lines.append(f"\n{len(f.rows) - top} smaller group(s) not shown.")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
