"""Reading: letter files (.pdf through an isolated PDFium process, .txt in any common encoding) into
text; ``text`` normalises it with a map back to the original offsets. Importing this package loads
neither the record models nor the parser, so a command can start the PDF reader's helper first."""

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

__all__ = ["DEFAULT_MAX_BYTES", "PAGE_BREAK", "SUPPORTED_SUFFIXES", "LetterSource", "LetterText", "iter_letter_paths",
           "portable", "read_letter", "source_name"]
