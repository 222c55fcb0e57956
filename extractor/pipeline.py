"""One letter's way through the system: read -> normalise -> parse -> (model -> check -> ground)
-> record. This module composes the stages; nothing below imports it."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING

from .errors import ConfigurationError
from .models import Record
from .parse import clean_letter, parse_letter
from .read import LetterSource, LetterText, read_letter
from .read.ahead import read_ahead
from .read.pdf import READERS
from .record import error_record, parser_record
from .settings import Settings

if TYPE_CHECKING:
    import httpx2

BACKENDS = ("offline", "llm", "hybrid", "cascade")


def extract(
    source: LetterSource,
    *,
    name: str | None = None,
    backend: str | None = None,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Record:
    """The record of one letter: a path, or its bytes (``bytes`` or a binary file object) with the
    ``name`` it goes by (its document id is the name's stem). Raises a ``LetterError`` naming the
    letter if it cannot give one (and a ``ModelError`` if the model fails for it). ``transport``: the
    HTTP transport to the model endpoint, for tests and stubs."""
    settings = settings or Settings()
    chosen = resolve_backend(backend or settings.backend, settings)
    letter = read_letter(source, name=name, max_bytes=settings.max_file_bytes)
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
        from .run.stream import extract_one

        return extract_one(letter, backend=backend, settings=settings or Settings(), transport=transport)
    return parser_record(letter, parse_letter(clean_letter(letter)), backend)


def extract_many(
    sources: Iterable[LetterSource],
    *,
    backend: str | None = None,
    settings: Settings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Generator[Record, None, None]:
    """Records in input order; a letter that fails, for whatever reason, gives an error record and
    the batch goes on: this never raises for a letter. ``sources``: paths, ``(name, bytes)`` or
    ``(name, binary file)`` pairs, or binary file objects with a ``name``. The model backends work on
    ``settings.max_concurrency`` letters at once."""
    settings = settings or Settings()
    chosen = resolve_backend(backend or settings.backend, settings)
    if settings.workers > 1 and transport is None:
        from .run.shards import extract_sharded

        yield from extract_sharded(sources, backend=chosen, settings=settings, run=_in_this_process)
        return
    yield from _in_this_process(sources, backend=chosen, settings=settings, transport=transport, ahead=READERS)


def _in_this_process(
    sources: Iterable[LetterSource],
    *,
    backend: str,
    settings: Settings,
    transport: httpx2.AsyncBaseTransport | None = None,
    ahead: int = 0,
) -> Iterator[Record]:
    """The batch in this process (and in each worker's). ``ahead``: offline, letters read while one is
    parsed; none in a worker, so that a worker that dies costs only the letter it was on."""
    if backend != "offline":
        from .run.stream import iter_records

        yield from iter_records(sources, backend=backend, settings=settings, transport=transport)
        return
    for source, letter in read_ahead(sources, max_bytes=settings.max_file_bytes, ahead=ahead):
        try:
            if isinstance(letter, Exception):
                raise letter
            record = extract_text(letter, backend=backend, settings=settings)
        except Exception as e:  # noqa: BLE001 - one letter's failure, whatever it is, must not end the batch
            record = error_record(source, e, backend)
        yield record


def resolve_backend(name: str, settings: Settings | None = None) -> str:
    """``auto`` -> ``hybrid`` when ``settings`` configure a model endpoint, else ``offline``;
    anything else must be a known backend."""
    if name == "auto":
        return "hybrid" if settings is not None and settings.endpoint_configured else "offline"
    if name not in BACKENDS:
        raise ConfigurationError(f"unknown backend {name!r}; choose one of auto, {', '.join(BACKENDS)}")
    return name
