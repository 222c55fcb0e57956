"""Dashboard charts: matplotlib drawn to inline SVG (text as paths, so no font or network is needed to view them)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
from markupsafe import Markup  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .stats import RateRow, Stats  # noqa: E402

_UPHELD, _OVERTURNED = "#8c96a3", "#d9822b"


def _svg(fig: plt.Figure) -> Markup:
    """The figure as an ``<svg>`` element (the XML prolog dropped) for inlining in a page."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "imr-extract"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return Markup(svg[svg.index("<svg"):])  # matplotlib's own output; every label is drawn as a path


def rate_chart(title: str, rows: Sequence[RateRow], *, top: int = 12) -> Markup:
    """Horizontal bars: overturn rate of the ``top`` groups with the most items, items counted on each bar."""
    shown = list(rows[:top])[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(shown) + 0.9))
    # Positions, not category names: two long keys cut to the same label must stay two bars.
    bars = ax.barh(range(len(shown)), [r.rate * 100 for r in shown], color=_OVERTURNED)
    ax.set_yticks(range(len(shown)), labels=[r.key if len(r.key) <= 40 else r.key[:39] + "…" for r in shown])
    ax.bar_label(bars, labels=[f"{r.overturned}/{r.items}" for r in shown], padding=3, fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("overturned, % of items")
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def month_chart(stats: Stats) -> Markup:
    """Stacked bars of upheld and overturned items per month of the decision date."""
    months = list(stats.by_month)
    upheld = [stats.by_month[m]["upheld"] for m in months]
    overturned = [stats.by_month[m]["overturned"] for m in months]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ax.bar(months, upheld, color=_UPHELD, label="upheld")
    ax.bar(months, overturned, bottom=upheld, color=_OVERTURNED, label="overturned")
    ax.set_ylabel("items")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Decisions by month", loc="left", fontsize=11)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def items_per_letter_chart(stats: Stats) -> Markup:
    """How many letters have 1, 2, ... items."""
    counts = sorted(stats.items_per_letter.items())
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.bar([str(n) for n, _ in counts], [c for _, c in counts], color=_UPHELD)
    ax.set_xlabel("items in the letter")
    ax.set_ylabel("letters")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Items per letter", loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)
