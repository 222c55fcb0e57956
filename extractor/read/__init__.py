"""Reading: letter files (.pdf through an isolated PDFium process, .txt in any common encoding) into
text, and that text normalised with a map back to the original offsets."""

from .files import DEFAULT_MAX_BYTES, PAGE_BREAK, SUPPORTED_SUFFIXES, LetterText, iter_letter_paths, read_letter
from .text import CleanText, collapse, normalise

__all__ = ["DEFAULT_MAX_BYTES", "PAGE_BREAK", "SUPPORTED_SUFFIXES", "CleanText", "LetterText", "collapse",
           "iter_letter_paths", "normalise", "read_letter"]
