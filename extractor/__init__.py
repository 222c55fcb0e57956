"""imr-extract: structured records from California workers' comp IMR final determination letters.

    from extractor import extract, extract_many
    record = extract("letter.pdf")              # offline unless an LLM endpoint is configured
    for rec in extract_many(paths):             # a failed letter gives an error record; the batch goes on
        ...
"""

import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"  # the package's one version (pyproject.toml reads it from here)

if _typing.TYPE_CHECKING:
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

# Where each public name lives: a module is imported when one of its names is first used, so that
# ``import extractor`` (and the command line's start, ``--help``) costs only what is used.
_HOMES = {
    **dict.fromkeys(["ConfigurationError", "CorruptPdfError", "ImrExtractError", "LetterError", "ModelError",
                     "NotAnImrLetterError", "NoTextLayerError", "UnreadableFileError", "WorkerError"], "errors"),
    **dict.fromkeys(["EvalReport", "evaluate", "load_gold", "score"], "evaluation"),
    **dict.fromkeys(["Category", "Citation", "ErrorInfo", "ExtractionWarning", "Item", "Provenance", "Reason", "Record",
                     "Span", "Usage"], "models"),
    **dict.fromkeys(["extract", "extract_many"], "pipeline"),
    **dict.fromkeys(["LetterText", "iter_letter_paths", "read_letter"], "read"),
    "Settings": "settings",
}


def __getattr__(name: str) -> _typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'extractor' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


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
