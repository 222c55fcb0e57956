"""imr-extract: structured records from California workers' comp IMR final determination letters.

    from extractor import extract, extract_many
    record = extract("letter.pdf")              # offline unless an LLM endpoint is configured
    for rec in extract_many(paths):             # a failed letter gives an error record; the batch goes on
        ...
"""

from .errors import (
    ConfigurationError,
    CorruptPdfError,
    ImrExtractError,
    LetterError,
    ModelError,
    NotAnImrLetterError,
    NoTextLayerError,
    UnreadableFileError,
    WorkerError,
)
from .evaluation import EvalReport, evaluate, load_gold, score
from .models import Category, Citation, ErrorInfo, ExtractionWarning, Item, Provenance, Reason, Record, Span, Usage
from .pipeline import extract, extract_many
from .read import LetterText, iter_letter_paths, read_letter
from .settings import Settings

__all__ = [
    "Category",
    "Citation",
    "ConfigurationError",
    "CorruptPdfError",
    "ErrorInfo",
    "EvalReport",
    "ExtractionWarning",
    "ImrExtractError",
    "Item",
    "LetterError",
    "LetterText",
    "ModelError",
    "NoTextLayerError",
    "NotAnImrLetterError",
    "Provenance",
    "Reason",
    "Record",
    "Settings",
    "Span",
    "UnreadableFileError",
    "Usage",
    "WorkerError",
    "evaluate",
    "extract",
    "extract_many",
    "iter_letter_paths",
    "load_gold",
    "read_letter",
    "score",
]
