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
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..errors import ConfigurationError, OutputInUseError
from .base import Sink, record_key
from .jsonl import JsonlSink
from .parquet import ParquetSink

__all__ = ["SINKS", "JsonlSink", "ParquetSink", "Sink", "lock_file", "open_sink", "output_lock", "record_key"]


def _duckdb(path: Path, *, resume: bool = False) -> Sink:
    from .duckdb import DuckDbSink  # duckdb loads only for a store

    return DuckDbSink(path, resume=resume)


SINKS: dict[str, Callable[..., Sink]] = {".jsonl": JsonlSink, ".ndjson": JsonlSink, ".parquet": ParquetSink,
                                         ".duckdb": _duckdb}
EMPTY_IS_VALID = (".jsonl", ".ndjson")  # outputs that an empty file is a valid start of


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
    """Hold the output for the run, whatever name it is given, so that a second run on it stops at
    once: ``<output>.lock`` beside the real output (a symlink, a relative path or a symlinked folder
    lead to the same one) and, when the output exists, a lock on the output itself (a hard link is
    another name for the same file)."""
    p = _usable(path)
    real = p.resolve()
    busy = f"{p}: another imr-extract run is writing this output; wait for it to end or choose another --output"
    with ExitStack() as held:
        held.enter_context(lock_file(real.with_name(real.name + ".lock"), busy))
        # The output itself, whatever it is (a file, a Parquet folder; O_NONBLOCK: a FIFO would block). A
        # JSONL output is made now, empty, so that a hard link made to it during the run is held too.
        create = os.O_CREAT if real.suffix.lower() in EMPTY_IS_VALID else 0
        try:
            itself = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | create, 0o644)
        except OSError:
            pass  # not there yet (a store: DuckDB locks it once made) or not readable: the lock file holds it
        else:
            held.enter_context(_locked(itself, busy))
        yield


@contextmanager
def lock_file(lock: Path, busy: str) -> Iterator[None]:
    """Hold the file ``lock`` (made if need be) for the block; ``OutputInUseError(busy)`` if another run does."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise ConfigurationError(f"cannot create the lock file {lock}: {e.strerror or e}") from e
    with _locked(fd, busy):
        yield


@contextmanager
def _locked(fd: int, busy: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``fd`` for the block (closed after), or ``OutputInUseError``."""
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputInUseError(busy) from None
        yield
    finally:
        os.close(fd)
