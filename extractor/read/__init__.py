"""Reading: letter files (.pdf through an isolated PDFium process, .txt in any common encoding) into
text, and that text normalised with a map back to the original offsets."""

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
from .text import CleanText, collapse, normalise

__all__ = ["DEFAULT_MAX_BYTES", "PAGE_BREAK", "SUPPORTED_SUFFIXES", "CleanText", "LetterSource", "LetterText",
           "collapse", "iter_letter_paths", "normalise", "portable", "read_letter", "source_name"]
