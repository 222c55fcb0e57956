"""The figures about a set of records, computed once here for the dashboard page and the ``stats`` command.

Every figure is a DuckDB query over the relations of ``tables.connect`` (never every record in Python), so the
same code answers for three letters and for the 660,000 of the published corpus.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..models import Record

if TYPE_CHECKING:
    import duckdb

UNKNOWN = "(none)"


@dataclass(frozen=True)
class RateRow:
    """Items in a group and how many were overturned."""

    key: str
    items: int
    overturned: int

    @property
    def rate(self) -> float:
        return _share(self.overturned, self.items)


@dataclass(frozen=True)
class Group:
    """A way of grouping items: the SQL expression of an item's key(s) over ``item_facts``, and which items count."""

    key: str
    where: str = "true"


# The groupings of the dashboard, ``stats`` and the report. An item citing MTUS and ODG counts under both sources.
GROUPS: dict[str, Group] = {
    "category": Group("category"),
    "DWC category": Group("dwc_category", "dwc_category IS NOT NULL"),
    "drug class": Group("drug_class", "drug_class IS NOT NULL"),
    "generic drug": Group("generic_name", "generic_name IS NOT NULL"),
    "guideline source": Group(f"unnest(CASE WHEN len(reviewer_sources) = 0 THEN ['{UNKNOWN}'] ELSE reviewer_sources END)"),
    "reviewer specialty": Group(f"coalesce(reviewer_specialty, '{UNKNOWN}')"),
}
YEAR = Group(f"coalesce(year, '{UNKNOWN}')")


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass
class Stats:
    """Overturn rates by group, decisions by month, items per letter, and how much is flagged for review and why."""

    letters: int = 0
    errors: int = 0
    items: int = 0
    overturned: int = 0
    letters_flagged: int = 0
    items_flagged: int = 0
    by_group: dict[str, list[RateRow]] = field(default_factory=dict)
    by_month: dict[str, Counter[str]] = field(default_factory=dict)
    items_per_letter: Counter[int] = field(default_factory=Counter)
    flags: list[tuple[str, str, int]] = field(default_factory=list)
    confidence: list[tuple[str, int]] = field(default_factory=list)

    @property
    def overturn_rate(self) -> float:
        return _share(self.overturned, self.items)

    @property
    def share_letters_flagged(self) -> float:
        """Of the letters that gave a record (error records have nothing to review)."""
        return _share(self.letters_flagged, self.letters - self.errors)

    @property
    def share_items_flagged(self) -> float:
        return _share(self.items_flagged, self.items)


def letter_flagged(record: Record) -> bool:
    """A letter needs a person if it or any of its items is flagged."""
    return record.needs_review or any(i.needs_review for i in record.items)


def group_query(group: Group, facts: str = "item_facts") -> str:
    """The items of a grouping with their key (``key``), one row per key an item has (from ``facts``: the items,
    or a sample of whole letters of them)."""
    return f"SELECT {group.key} AS key, * FROM {facts} WHERE {group.where}"


def rate_rows(con: duckdb.DuckDBPyConnection, group: Group) -> list[RateRow]:
    """Items and overturns per key, the largest first."""
    rows = con.execute(f"SELECT key, count(*), count(*) FILTER (WHERE decision = 'overturned') FROM ({group_query(group)}) "
                       "GROUP BY key ORDER BY 2 DESC, key").fetchall()
    return [RateRow(str(k), n, o) for k, n, o in rows]


def stats_from(con: duckdb.DuckDBPyConnection) -> Stats:
    """Every figure of the dashboard, from a connection of ``tables.connect`` (error records count only as errors)."""
    stats = Stats()
    stats.letters, stats.errors = _one(con, "SELECT count(*), count(*) FILTER (WHERE error_type IS NOT NULL) "
                                            "FROM letters_reviewed")
    stats.items, stats.overturned, stats.items_flagged = _one(
        con, "SELECT count(*), count(*) FILTER (WHERE decision = 'overturned'), count(*) FILTER (WHERE needs_review) "
             "FROM item_facts")
    (stats.letters_flagged,) = _one(
        con, "SELECT count(*) FROM letters_reviewed WHERE error_type IS NULL AND (needs_review OR source_path IN "
             "(SELECT source_path FROM item_facts WHERE needs_review))")
    stats.by_group = {name: rate_rows(con, group) for name, group in GROUPS.items()}
    for month, decision, n in con.execute(f"SELECT coalesce(month, '{UNKNOWN}') AS m, decision, count(*) FROM item_facts "
                                          "GROUP BY ALL ORDER BY m").fetchall():
        stats.by_month.setdefault(month, Counter())[decision] += n
    stats.items_per_letter = Counter(dict(con.execute("SELECT items, letters FROM items_per_letter").fetchall()))
    stats.flags = [(f, c, n) for f, c, n in con.execute(
        "SELECT flag.field, flag.code, count(*) FROM (SELECT unnest(flags) AS flag FROM item_facts) "
        "GROUP BY ALL ORDER BY 3 DESC, 1, 2").fetchall()]
    stats.confidence = [(f"{lo:.1f}-{lo + 0.1:.1f}", n) for lo, n in con.execute(
        "SELECT least(floor(confidence_min * 10), 9) / 10 AS lo, count(*) FROM item_facts "
        "WHERE confidence_min IS NOT NULL GROUP BY ALL ORDER BY lo").fetchall()]
    return stats


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


def compute_stats(source: str | Path | Iterable[Record]) -> Stats:
    """The figures of an output of ``imr-extract extract`` (a path), or of records in hand (put in a scratch store)."""
    from .tables import connect

    if isinstance(source, str | Path):
        with connect(source) as con:
            return stats_from(con)
    with tempfile.TemporaryDirectory(prefix="imr-stats-") as scratch:
        return compute_stats(scratch_store(source, Path(scratch) / "records.jsonl"))


def scratch_store(records: Iterable[Record], path: Path) -> Path:
    """Records in hand written as an output of ``extract`` (JSONL keeps every field; DuckDB has the views), so they
    are counted by the same SQL as any output."""
    from ..sinks import open_sink

    sink = open_sink(path)
    try:
        for record in records:
            sink.write(record)
    finally:
        sink.close()
    return path


def print_stats(stats: Stats, console: Console, *, top: int = 15) -> None:
    """The same figures as the dashboard, as terminal tables (the ``top`` largest groups of each)."""
    console.print(f"{stats.letters} letter(s), {stats.errors} error(s), {stats.items} item(s); "
                  f"overturned {stats.overturned} ({stats.overturn_rate:.1%}); flagged for review: "
                  f"{stats.letters_flagged} letter(s) ({stats.share_letters_flagged:.1%}), "
                  f"{stats.items_flagged} item(s) ({stats.share_items_flagged:.1%})", markup=False, highlight=False)
    for name, rows in stats.by_group.items():
        table = Table(title=f"Overturn rate by {name}", title_justify="left")
        for column in (name, "items", "overturned", "rate"):
            table.add_column(column, justify="left" if column == name else "right")
        for row in rows[:top]:
            table.add_row(Text(row.key), str(row.items), str(row.overturned), f"{row.rate:.1%}")
        if len(rows) > top:
            table.caption = f"{len(rows) - top} more"
        console.print(table)
    _counts(console, "Decisions by month", ("month", "upheld", "overturned"),
            [(m, c["upheld"], c["overturned"]) for m, c in stats.by_month.items()])
    _counts(console, "Items per letter", ("items", "letters"), sorted(stats.items_per_letter.items()))
    _counts(console, "Flags by field and reason", ("field", "code", "items"), stats.flags[:top])
    _counts(console, "Lowest field confidence per item", ("confidence", "items"), stats.confidence)


def _counts(console: Console, title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 or column == "code" else "right")
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row))  # letter text is data, never markup
    console.print(table)
