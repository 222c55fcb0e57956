"""Writing records as they complete: a kill at any moment loses at most the letters in flight, and
after any number of ``--resume`` runs each letter has exactly one record.

Every sink keys a letter by its source path and knows, through ``completed()``, which letters it
already holds without error (path -> content SHA-256), so a resumed run skips exactly those. A
letter written again (a retried failure, a changed file) replaces its earlier record: the latest
record of a path wins, and the superseded one is dropped when the sink opens and when it closes.

The output's suffix picks the sink: ``.jsonl`` (``jsonl``), ``.parquet`` (``parquet``, a folder of
parts), ``.duckdb`` (``duckdb``, normalised tables with views).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigurationError, OutputInUseError
from .base import Sink, record_key
from .jsonl import JsonlSink
from .parquet import ParquetSink

__all__ = ["SINKS", "JsonlSink", "ParquetSink", "Sink", "open_sink", "output_lock", "record_key"]


def _duckdb(path: Path, *, resume: bool = False) -> Sink:
    from .duckdb import DuckDbSink  # duckdb loads only for a store

    return DuckDbSink(path, resume=resume)


SINKS: dict[str, Callable[..., Sink]] = {".jsonl": JsonlSink, ".ndjson": JsonlSink, ".parquet": ParquetSink,
                                         ".duckdb": _duckdb}


def open_sink(path: str | Path, *, resume: bool = False) -> Sink:
    """A sink for the output's type: ``.jsonl``, ``.parquet`` (a directory of parts) or ``.duckdb`` (a store)."""
    p = _usable(path)
    return SINKS[p.suffix.lower()](p, resume=resume)


def _usable(path: str | Path) -> Path:
    """The output path, if a sink can be made there; else a ``ConfigurationError`` saying why."""
    p = Path(path)
    if p.suffix.lower() not in SINKS:
        raise ConfigurationError(f"{p}: output must end in .jsonl, .parquet or .duckdb")
    if not p.parent.is_dir():
        raise ConfigurationError(f"{p}: the folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise ConfigurationError(f"{p}: the folder {p.parent} cannot be written")
    return p


@contextmanager
def output_lock(path: str | Path) -> Iterator[None]:
    """Hold ``<output>.lock`` for the run: a second run on the same output stops at once."""
    p = _usable(path)
    lock = p.with_name(p.name + ".lock")
    try:
        handle = lock.open("a")
    except OSError as e:
        raise ConfigurationError(f"{p}: cannot create the lock file {lock}: {e.strerror or e}") from e
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputInUseError(f"{p}: another imr-extract run is writing this output; wait for it to end "
                                   f"or choose another --output") from None
        yield
