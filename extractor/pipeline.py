"""One letter's way through the system: read -> normalise -> parse -> (model) -> record."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Iterator
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigurationError, LetterError, NotAnImrLetterError, display_path
from .models import ErrorInfo, ExtractionWarning, Provenance, Record
from .parse import ParsedLetter, parse_letter
from .read import SUPPORTED_SUFFIXES, LetterText, read_letter
from .segment import looks_like_imr
from .settings import Settings
from .text import CleanText, normalise

if TYPE_CHECKING:
    import httpx2

BACKENDS = ("offline", "llm", "hybrid")


@lru_cache(maxsize=1)
def package_version() -> str:
    try:
        return version("imr-extract")
    except PackageNotFoundError:
        return "0+unknown"


def extract(
    path: str | Path,
    *,
    backend: str | None = None,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Record:
    """The record of one letter. Raises a ``LetterError`` naming the file if it cannot give one
    (and a ``ModelError`` if the model fails for it). ``transport``: the HTTP transport to the model
    endpoint, for tests and stubs."""
    settings = settings or Settings()
    chosen = resolve_backend(backend or settings.backend, settings)
    letter = read_letter(path, max_bytes=settings.max_file_bytes)
    return extract_text(letter, backend=chosen, settings=settings, transport=transport)


def extract_text(
    letter: LetterText,
    *,
    backend: str = "offline",
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Record:
    """The record of a letter already read."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "offline":
        from .llm.batch import extract_one

        return extract_one(letter, backend=backend, settings=settings or Settings(), transport=transport)
    return parser_record(letter, parse_letter(clean_letter(letter)), backend)


def parser_record(letter: LetterText, parsed: ParsedLetter, backend: str) -> Record:
    """The record as the parser read it: the offline backend's, and the model backends' floor."""
    warnings = [ExtractionWarning(code="encoding", message=w) for w in letter.warnings] + parsed.warnings
    return Record(
        document_id=letter.document_id,
        layout=parsed.layout,
        items=parsed.items,
        spans=parsed.spans,
        warnings=warnings,
        provenance=_provenance(letter.path, letter.sha256, backend),
        **parsed.fields,  # type: ignore[arg-type]
    )


def clean_letter(letter: LetterText) -> CleanText:
    """The letter's normalised text; ``NotAnImrLetterError`` if it carries no mark of an IMR letter."""
    clean = normalise(letter.text)
    if not looks_like_imr(clean.text):
        raise NotAnImrLetterError(letter.path, "no IMR letter headings or markers found: not an IMR determination letter")
    return clean


def extract_many(
    paths: Iterable[str | Path],
    *,
    backend: str | None = None,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Generator[Record, None, None]:
    """Records in input order; a letter that fails, for whatever reason, gives an error record and
    the batch goes on: this never raises for a letter. The model backends work on
    ``settings.max_concurrency`` letters at once."""
    settings = settings or Settings()
    chosen = resolve_backend(backend or settings.backend, settings)
    if settings.workers > 1 and transport is None:
        from .parallel import extract_sharded

        yield from extract_sharded(paths, backend=chosen, settings=settings)
        return
    if chosen != "offline":
        from .llm.batch import iter_records

        yield from iter_records(paths, backend=chosen, settings=settings, transport=transport)
        return
    for path in paths:
        try:
            record = extract(path, backend=chosen, settings=settings)
        except Exception as e:  # noqa: BLE001 - one letter's failure, whatever it is, must not end the batch
            record = error_record(path, e, chosen)
        yield record


def error_record(path: str | Path, error: Exception, backend: str) -> Record:
    """A record that carries only the letter's identity and why it gave no record."""
    reason = error.reason if isinstance(error, LetterError) else str(error) or "no message"
    if isinstance(error, MemoryError):
        reason = "ran out of memory on this letter"
    name = display_path(path)
    return Record(
        document_id=Path(name).stem,
        provenance=_provenance(name, None, backend),
        error=ErrorInfo(type=type(error).__name__, message=reason),
    )


def resolve_backend(name: str, settings: Settings | None = None) -> str:
    """``auto`` -> ``hybrid`` when ``settings`` configure a model endpoint, else ``offline``;
    anything else must be a known backend."""
    if name == "auto":
        return "hybrid" if settings is not None and settings.endpoint_configured else "offline"
    if name not in BACKENDS:
        raise ConfigurationError(f"unknown backend {name!r}; choose one of auto, {', '.join(BACKENDS)}")
    return name


def iter_letter_paths(inputs: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, and the letters (.pdf, .txt) inside directories, sorted, recursively.
    (A folder is listed as strings, not ``Path`` objects: a tenth of the memory for 100,000 letters.)"""
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = [os.path.join(root, name) for root, _, names in os.walk(p) for name in names
                     if os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES]
            found.sort(key=lambda f: f.split(os.sep))  # the order of sorted Paths: part by part
            yield from (Path(f) for f in found if os.path.isfile(f))
        else:
            yield p


def _provenance(path: str, sha256: str | None, backend: str) -> Provenance:
    return Provenance(backend=backend, package_version=package_version(), source_path=path, source_sha256=sha256)
