"""Reading: letter files (.pdf through an isolated PDFium process, .txt in any common encoding) into
text; ``text`` normalises it with a map back to the original offsets. Importing this package loads
neither the record models nor the parser, so a command can start the PDF reader's helper first:
``text``'s names load on first use."""

from typing import Any

from .files import (
    DEFAULT_MAX_BYTES,
    PAGE_BREAK,
    SUPPORTED_SUFFIXES,
    LetterSource,
    LetterText,
    iter_letter_paths,
    portable,
    read_letter,
    source_name,
)

__all__ = ["DEFAULT_MAX_BYTES", "PAGE_BREAK", "SUPPORTED_SUFFIXES", "CleanText", "LetterSource", "LetterText",
           "collapse", "iter_letter_paths", "normalise", "portable", "read_letter", "source_name"]


def __getattr__(name: str) -> Any:
    if name in ("CleanText", "collapse", "normalise"):
        from . import text

        return getattr(text, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
