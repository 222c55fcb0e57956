"""The messages sent to the model, built from the versioned templates in ``prompts/<version>/``.

The templates ship inside the wheel as ``extractor/prompts`` (pyproject force-include) and sit in
``prompts/`` at the top of a source checkout; ``prompts_root`` finds either. The letter goes in
the user message between fixed markers, as data; the system prompt says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from ..parse.letter import ParsedLetter
from ..parse.segment import Region, Segments
from ..read.text import CleanText

PROMPT_VERSION = "v1"
OPEN_MARKER = "<<<LETTER>>>"
CLOSE_MARKER = "<<<END LETTER>>>"
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Prompt:
    """The messages for one call, the template version and a digest of everything sent."""

    version: str
    messages: Messages

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.messages, sort_keys=True).encode()).hexdigest()


def prompts_root() -> Traversable:
    """``prompts/`` of the source checkout we run from, else ``extractor/prompts`` of the wheel.

    The checkout comes first: an editable install copies ``prompts/`` into site-packages once, and
    that copy goes stale as soon as a template is edited.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "prompts").is_dir():
        return checkout / "prompts"
    return files("extractor").joinpath("prompts")


@cache
def _template(version: str, name: str) -> Template:
    return Template(prompts_root().joinpath(version, name).read_text(encoding="utf-8"))


@cache
def _example(version: str, backend: str) -> dict[str, object]:
    text = prompts_root().joinpath(version, "examples", f"{backend}.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def letter_prompt(letter: str, version: str = PROMPT_VERSION, *, note: str | None = None) -> Prompt:
    """``llm`` backend: the whole (clean) letter, to be read into a ``LetterAnswer``."""
    return _prompt("llm", letter, version, note)


def fill_prompt(excerpt: str, version: str = PROMPT_VERSION, *, note: str | None = None) -> Prompt:
    """``hybrid`` backend: the parser's excerpt (``hybrid_excerpt``), to be read into a ``FillAnswer``."""
    return _prompt("hybrid", excerpt, version, note)


def cascade_prompt(excerpt: str, item_fields: Sequence[str], letter_fields: Sequence[str] = (),
                   version: str = PROMPT_VERSION, *, note: str | None = None) -> Prompt:
    """``cascade`` backend: the excerpt of the items in doubt (``cascade_excerpt``), to be read into the
    ``cascade_schema`` of the fields in doubt; the example is ``hybrid``'s, cut to those fields."""
    example = _example(version, "hybrid")
    items = [part for part in str(example["input"]).split("\n\n") if part.startswith("ITEM ")]
    output = example["output"]
    assert isinstance(output, dict)
    shown = {"items": [{k: v for k, v in item.items() if k == "item" or k in item_fields} for item in output["items"]]}
    letter_task = (" Also return, from the LETTER HEADER, only these letter fields: " + ", ".join(letter_fields) + "."
                   if letter_fields else "")
    return _prompt("cascade", excerpt, version, note, example={"input": "\n\n".join(items), "output": shown},
                   item_fields=", ".join(item_fields) or "none", letter_task=letter_task)


def _prompt(backend: str, data: str, version: str, note: str | None, example: dict[str, object] | None = None,
            **task_words: str) -> Prompt:
    """``note``: on a re-ask, what was wrong with the last answer (at temperature 0 the same prompt
    would only get the same answer), after the letter, outside its markers. ``example`` replaces the
    backend's few-shot example; ``task_words`` fill the task template's other placeholders."""
    example = example or _example(version, backend)
    task = _template(version, f"{backend}.txt").substitute(
        example_input=_delimit(str(example["input"])),
        example_output=json.dumps(example["output"], ensure_ascii=False),
        **task_words,
    )
    system = _template(version, "system.txt").substitute(open_marker=OPEN_MARKER, close_marker=CLOSE_MARKER, task=task)
    user = _template(version, "user.txt").substitute(
        open_marker=OPEN_MARKER, close_marker=CLOSE_MARKER, letter=_neutralise(data)
    )
    if note:
        user = f"{user.rstrip()}\n\n{_neutralise(note)}"
    return Prompt(version=version, messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])


def _delimit(data: str) -> str:
    return f"{OPEN_MARKER}\n{_neutralise(data)}\n{CLOSE_MARKER}"


def _neutralise(data: str) -> str:
    """A letter cannot close its own delimiter: the marker's ``<<<`` is broken up wherever it occurs."""
    return data.replace("<<<", "<< <").replace(">>>", "> >>").rstrip("\n")


def hybrid_excerpt(clean: CleanText, parsed: ParsedLetter, items: Sequence[int] | None = None, *,
                   summary: bool | None = None) -> str:
    """What ``hybrid`` shows the model: the case summary, then each item's heading (with its
    decision), guideline paragraphs and rationale, numbered as in the whole letter. Header,
    credentials and boilerplate stay out. ``items`` (0-based) asks for some items only, for a
    letter split to fit the context: the summary goes with the part that holds the first item
    (unless ``summary`` says whether to show it)."""
    seg = _segments(parsed)
    wanted = range(len(seg.items)) if items is None else items
    text = clean.text
    parts = []
    if summary is None:
        summary = not wanted or wanted[0] == 0
    if seg.summary and summary:
        parts.append("CASE SUMMARY:\n" + _of(text, seg.summary))
    for i in wanted:
        block = seg.items[i]
        line_end = text.find("\n", block.heading.end)
        heading = text[block.heading.start : line_end if line_end != -1 else len(text)].strip()
        lines = [f"ITEM {i + 1}:", heading]
        for label, region in (
            ("Claims Administrator guideline:", block.claims_administrator),
            ("Reviewer guideline:", block.reviewer),
            ("Decision rationale:", block.rationale),
        ):
            if region is not None:
                lines.append(f"{label} {_of(text, region)}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def cascade_excerpt(clean: CleanText, parsed: ParsedLetter, items: Sequence[int], *, header: bool) -> str:
    """What ``cascade`` shows the model: the header table when letter fields are in doubt, then the
    items in doubt as ``hybrid`` shows them (no case summary: no diagnoses are asked)."""
    seg = _segments(parsed)
    head = "LETTER HEADER:\n" + _of(clean.text, seg.header) if header and seg.header else ""
    return "\n\n".join(p for p in (head, hybrid_excerpt(clean, parsed, items, summary=False)) if p)


def letter_excerpt(clean: CleanText, parsed: ParsedLetter, items: Sequence[int]) -> str:
    """``llm`` on a letter split to fit the context: everything before the first item (header,
    credentials, case summary), then the text of the listed items (0-based) only."""
    seg = _segments(parsed)
    text = clean.text
    starts = [b.heading.start for b in seg.items]
    ends = starts[1:] + [seg.items_section.end if seg.items_section else len(text)]
    return "\n\n".join([text[: starts[0]].rstrip()] + [text[starts[i] : ends[i]].strip() for i in items])


def _segments(parsed: ParsedLetter) -> Segments:
    if parsed.segments is None:
        raise ValueError("the parsed letter carries no segments")
    return parsed.segments


def _of(text: str, region: Region) -> str:
    return region.of(text).strip()
