"""Tokens and estimated cost: per call (into each record's provenance) and per run (the summary).

A record's ``usage`` says what its answer cost to make; ``requests`` counts the requests sent for
it in this run, so a record served from the cache has ``requests == 0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..models import Record, Usage

# USD per million (prompt, completion) tokens, list prices of mid-2025. Override or extend with
# Settings.prices (IMR_PRICES='{"my-model": [0.1, 0.4]}'); a model in neither table costs None.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


def price(model: str, overrides: Mapping[str, tuple[float, float]] | None = None) -> tuple[float, float] | None:
    """The model's price: an exact name first, then the longest known prefix (``gpt-4o-mini-2024-07-18``)."""
    table = {**PRICES, **(overrides or {})}
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name)]
    return table[max(prefixes, key=len)] if prefixes else None


BATCH_DISCOUNT = 0.5  # OpenAI's Batch API bills prompt and completion tokens at half the list price


def batch_prices(model: str, overrides: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """``overrides`` with ``model`` at its batch price (when it has a price at all)."""
    rates = price(model, overrides)
    discounted = {model: (rates[0] * BATCH_DISCOUNT, rates[1] * BATCH_DISCOUNT)} if rates else {}
    return {**(overrides or {}), **discounted}


def usage(model: str, prompt_tokens: int, completion_tokens: int, requests: int,
          overrides: Mapping[str, tuple[float, float]] | None = None) -> Usage:
    """A ``Usage`` with its estimated cost (None when the model has no known price)."""
    rates = price(model, overrides)
    cost = None if rates is None else round((prompt_tokens * rates[0] + completion_tokens * rates[1]) / 1e6, 6)
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, requests=requests,
                 longest_answer=completion_tokens, cost_usd=cost)


def add_usage(a: Usage, b: Usage) -> Usage:
    """Two calls' usage together; the cost is known only if it is for every call that spent tokens."""
    costs = [u.cost_usd for u in (a, b) if u.prompt_tokens or u.completion_tokens]
    cost = None if not costs or None in costs else round(sum(c for c in costs if c is not None), 6)
    return Usage(prompt_tokens=a.prompt_tokens + b.prompt_tokens, completion_tokens=a.completion_tokens + b.completion_tokens,
                 requests=a.requests + b.requests, longest_answer=max(a.longest_answer, b.longest_answer), cost_usd=cost)


@dataclass
class RunSummary:
    """What a run spent: what the CLI prints at the end of every run."""

    letters: int = 0
    errors: int = 0
    needs_review: int = 0
    cached: int = 0
    awaiting: int = 0  # letters made without some of their batch's answers (``batch collect``)
    endpoint_failed: int = 0  # letters that kept some parser values because the endpoint failed
    items: int = 0  # items of the ``cascade`` letters ...
    items_asked: int | None = None  # ... and how many of them were asked of the model (None: no cascade letter)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    def add(self, record: Record) -> None:
        """Count one record; tokens and cost count only where requests were sent in this run."""
        self.letters += 1
        self.errors += not record.ok
        self.needs_review += record.needs_review
        self.awaiting += record.awaiting_answers
        self.endpoint_failed += record.endpoint_failed
        asked = record.provenance.items_asked
        if asked is not None:
            self.items += len(record.items)
            self.items_asked = (self.items_asked or 0) + asked
        u = record.provenance.usage
        if u is None:
            return
        self.requests += u.requests
        if u.requests == 0:
            self.cached += not record.awaiting_answers and asked != 0  # a letter without doubt asked nothing
            return
        self.prompt_tokens += u.prompt_tokens
        self.completion_tokens += u.completion_tokens
        if u.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + u.cost_usd

    def line(self) -> str:
        """One line for the end of a run."""
        cost = "cost unknown" if self.cost_usd is None else f"~${self.cost_usd:.4f}"
        if self.requests == 0 and self.prompt_tokens == 0:
            cost = "$0"
        awaiting = f", {self.awaiting} awaiting batch answers" if self.awaiting else ""
        failed = f", {self.endpoint_failed} kept the parser's values because the endpoint failed" if self.endpoint_failed else ""
        asked = f"{self.items_asked} of {self.items} items asked of the model; " if self.items_asked is not None else ""
        return (f"{self.letters} letters ({self.errors} errors, {self.needs_review} to review{awaiting}{failed}); {asked}"
                f"{self.requests} requests, {self.cached} from cache; "
                f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens; {cost}")


def summarise(records: Iterable[Record]) -> RunSummary:
    """The summary of records already made."""
    summary = RunSummary()
    for record in records:
        summary.add(record)
    return summary
