"""The record stage's two plain cases: the record as the parser read it (the offline backend's,
and the model backends' floor) and the record of a letter that gave none (why, and whose)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import __version__
from .errors import LetterError, display_path
from .models import ErrorInfo, ExtractionWarning, Provenance, Record
from .parse import ParsedLetter
from .read import LetterSource, LetterText, source_name
from .verify import verify


def parser_record(letter: LetterText, parsed: ParsedLetter, backend: str) -> Record:
    """The record as the parser read it, with its self-checks' flags and confidence: the offline backend's,
    and the model backends' floor."""
    warnings = [ExtractionWarning(code="encoding", message=w) for w in letter.warnings] + parsed.warnings
    return verify(Record(
        document_id=letter.document_id,
        layout=parsed.layout,
        items=parsed.items,
        spans=parsed.spans,
        warnings=warnings,
        provenance=provenance(letter.path, letter.sha256, backend),
        **parsed.fields,  # type: ignore[arg-type]
    ), letter.text)


def error_record(source: LetterSource, error: Exception, backend: str) -> Record:
    """A record that carries only the letter's identity (its path, or the name given with its bytes)
    and why it gave no record."""
    reason = error.reason if isinstance(error, LetterError) else str(error) or "no message"
    if isinstance(error, MemoryError):
        reason = "ran out of memory on this letter"
    try:
        name = display_path(source_name(source))
    except TypeError:  # bytes without a name: the error says so
        name = "(unnamed letter)"
    return Record(
        document_id=Path(name).stem,
        provenance=provenance(name, None, backend),
        error=ErrorInfo(type=type(error).__name__, message=reason),
    )


def provenance(path: str, sha256: str | None, backend: str, **model_run: Any) -> Provenance:
    """Where a record came from; ``model_run``: the model backends' prompt version, model and usage."""
    return Provenance(backend=backend, package_version=__version__, source_path=path, source_sha256=sha256,
                      **model_run)
