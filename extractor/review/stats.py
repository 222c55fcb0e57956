"""The figures about a set of records, computed once here for the dashboard page and the ``stats`` command."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from ..models import Item, Record

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


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass
class Stats:
    """Overturn rates by group, decisions by month, items per letter, and how much is flagged for review."""

    letters: int = 0
    errors: int = 0
    items: int = 0
    overturned: int = 0
    letters_flagged: int = 0
    items_flagged: int = 0
    by_group: dict[str, list[RateRow]] = field(default_factory=dict)
    by_month: dict[str, Counter[str]] = field(default_factory=dict)
    items_per_letter: Counter[int] = field(default_factory=Counter)

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


def _category(_: Record, item: Item) -> Iterable[str]:
    return [str(item.category)]


def _generic(_: Record, item: Item) -> Iterable[str]:
    return [item.generic_name.lower()] if item.generic_name else []


def _guideline_source(_: Record, item: Item) -> Iterable[str]:
    """Each source the reviewer cited for the item (an item citing MTUS and ODG counts under both)."""
    return sorted({c.source for c in item.reviewer_guidelines}) or [UNKNOWN]


def _specialty(record: Record, _: Item) -> Iterable[str]:
    return [record.reviewer_specialty or UNKNOWN]


GROUPS: dict[str, Callable[[Record, Item], Iterable[str]]] = {
    "category": _category,
    "generic drug": _generic,
    "guideline source": _guideline_source,
    "reviewer specialty": _specialty,
}


def letter_flagged(record: Record) -> bool:
    """A letter needs a person if it or any of its items is flagged."""
    return record.needs_review or any(i.needs_review for i in record.items)


def compute_stats(records: Iterable[Record]) -> Stats:
    """Every figure of the dashboard, from the records (error records count only as errors)."""
    stats = Stats()
    groups: dict[str, dict[str, list[int]]] = {name: defaultdict(lambda: [0, 0]) for name in GROUPS}
    months: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        stats.letters += 1
        if not record.ok:
            stats.errors += 1
            continue
        stats.items_per_letter[len(record.items)] += 1
        stats.letters_flagged += letter_flagged(record)
        month = record.decision_date.strftime("%Y-%m") if record.decision_date else UNKNOWN
        for item in record.items:
            overturned = item.decision == "overturned"
            stats.items += 1
            stats.overturned += overturned
            stats.items_flagged += item.needs_review
            months[month][item.decision] += 1
            for name, keys in GROUPS.items():
                for key in keys(record, item):
                    counts = groups[name][key]
                    counts[0] += 1
                    counts[1] += overturned
    stats.by_group = {name: sorted((RateRow(k, n, o) for k, (n, o) in g.items()), key=lambda r: (-r.items, r.key))
                      for name, g in groups.items()}
    stats.by_month = dict(sorted(months.items()))
    return stats


def print_stats(stats: Stats, console: Console, *, top: int = 15) -> None:
    """The same figures as the dashboard, as terminal tables (the ``top`` largest groups of each)."""
    console.print(f"{stats.letters} letter(s), {stats.errors} error(s), {stats.items} item(s); "
                  f"overturned {stats.overturned} ({stats.overturn_rate:.1%}); flagged for review: "
                  f"{stats.letters_flagged} letter(s) ({stats.share_letters_flagged:.1%}), "
                  f"{stats.items_flagged} item(s) ({stats.share_items_flagged:.1%})")
    for name, rows in stats.by_group.items():
        table = Table(title=f"Overturn rate by {name}", title_justify="left")
        for column in (name, "items", "overturned", "rate"):
            table.add_column(column, justify="left" if column == name else "right")
        for row in rows[:top]:
            table.add_row(row.key, str(row.items), str(row.overturned), f"{row.rate:.1%}")
        if len(rows) > top:
            table.caption = f"{len(rows) - top} more"
        console.print(table)
    months = Table(title="Decisions by month", title_justify="left")
    for column in ("month", "upheld", "overturned"):
        months.add_column(column, justify="left" if column == "month" else "right")
    for month, counts in stats.by_month.items():
        months.add_row(month, str(counts["upheld"]), str(counts["overturned"]))
    console.print(months)
    per_letter = Table(title="Items per letter", title_justify="left")
    per_letter.add_column("items", justify="right")
    per_letter.add_column("letters", justify="right")
    for n, letters in sorted(stats.items_per_letter.items()):
        per_letter.add_row(str(n), str(letters))
    console.print(per_letter)
