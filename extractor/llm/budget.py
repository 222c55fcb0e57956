"""The context budget: how many tokens a prompt and its answer take, and how a letter is split
into parts (groups of items) that each fit the model's context window with room for the answer.

No tokenizer is at hand for an arbitrary served model, so tokens are estimated from characters,
on the safe side: letters run at about 3.4 characters a token with SmolLM2's tokenizer and with
cl100k; we count 3.0. The answer's schema is counted too, since tools and JSON modes put it in
the prompt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel

from ..settings import Settings
from .prompt import Prompt

CHARS_PER_TOKEN = 3.0
DEFAULT_CONTEXT = 8192  # what a server that does not say is assumed to hold
OPENAI_CONTEXT = 128_000  # every OpenAI model the price table knows
_ANSWER_BASE = 160  # braces, diagnoses, header fields
_ANSWER_PER_ITEM = 320  # one item's judgement fields with a few citations, as small models space them
_VERBATIM_MARGIN = 1.15  # copying a rationale verbatim takes about its own tokens, and a little more
_CONTEXT_MARGIN = 0.95  # chat templates add tokens of their own


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


@cache
def _schema_tokens(model: type[BaseModel]) -> int:
    return estimate_tokens(json.dumps(model.model_json_schema()))


def prompt_tokens(prompt: Prompt, schema: type[BaseModel]) -> int:
    """The prompt's tokens, the schema that rides along with it included."""
    return sum(estimate_tokens(m["content"]) for m in prompt.messages) + _schema_tokens(schema)


def answer_tokens(items: int, verbatim: str = "") -> int:
    """The bound for an answer about ``items`` items that also copies ``verbatim`` text."""
    return _ANSWER_BASE + _ANSWER_PER_ITEM * items + int(estimate_tokens(verbatim) * _VERBATIM_MARGIN)


@dataclass(frozen=True)
class Part:
    """One request of a letter: the items it asks about (0-based), its prompt and its answer bound."""

    items: tuple[int, ...]
    prompt: Prompt
    max_tokens: int


class TooLong(Exception):
    """Item ``item`` (0-based) cannot fit the context even alone."""

    def __init__(self, item: int, needed: int, context: int) -> None:
        self.item = item
        super().__init__(f"item {item + 1} needs about {needed} tokens with its answer; the context holds {context}")


def plan_parts(
    items: Sequence[int],
    build: Callable[[Sequence[int]], Prompt],
    bound: Callable[[Sequence[int]], int],
    schema: type[BaseModel],
    settings: Settings,
    context: int,
) -> list[Part]:
    """Consecutive groups of ``items``, each as large as fits ``context`` with its answer bound
    (``settings.max_tokens`` where set, else ``bound(group)``); in letter order. ``TooLong`` names
    the first item that fits nowhere."""
    room = int(context * _CONTEXT_MARGIN)

    def part(group: Sequence[int]) -> tuple[Part, int]:
        max_tokens = settings.max_tokens or bound(group)
        prompt = build(group)
        return Part(tuple(group), prompt, max_tokens), prompt_tokens(prompt, schema) + max_tokens

    whole, needed = part(items)
    if needed <= room or not items:
        return [whole]
    parts: list[Part] = []
    group: list[int] = []
    best: Part | None = None
    for i in items:
        candidate, needed = part([*group, i])
        if needed <= room:
            group, best = [*group, i], candidate
            continue
        if best is None:
            raise TooLong(i, needed, context)
        parts.append(best)
        alone, needed = part([i])
        if needed > room:
            raise TooLong(i, needed, context)
        group, best = [i], alone
    if best is not None:
        parts.append(best)
    return parts
