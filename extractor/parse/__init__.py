"""The deterministic layout parser: segment the letter (layout A, B or C), then read the header, the
credentials, the case summary and each item's fields by rule. The ``offline`` backend stops here;
the model backends use it to split the letter and to check every model value."""

from .letter import ParsedLetter, clean_letter, parse_letter

__all__ = ["ParsedLetter", "clean_letter", "parse_letter"]
