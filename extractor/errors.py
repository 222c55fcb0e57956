"""Errors, rooted in one base so callers can catch everything imr-extract raises.

    ImrExtractError
    ├── LetterError              one input file could not give a record (carries the path)
    │   ├── UnreadableFileError  missing, empty, too large, binary, unsupported type, undecodable
    │   ├── CorruptPdfError      the PDF library could not open it
    │   ├── EncryptedPdfError    a PDF that needs a password to open
    │   ├── PdfReaderError       reading the PDF crashed, ran out of memory or time (the batch goes on)
    │   ├── NoTextLayerError     a PDF with no text (a scan): OCR it first
    │   ├── NotAnImrLetterError  text with none of the marks of an IMR determination letter
    │   └── ChangedLetterError   batch collect: not the letter the batch's manifest names (SHA-256)
    ├── ConfigurationError       settings that cannot work (bad backend name, missing endpoint)
    ├── OutputInUseError         another run is writing the same output
    ├── ModelError               the LLM endpoint failed for one letter after all retries
    └── WorkerError              a worker process of a parallel batch stopped before its letters were done
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


def display_path(path: str | os.PathLike[str]) -> str:
    """The path as text that can always be printed and serialised: bytes of a file name that are
    not UTF-8 become ``\\xNN`` escapes (the same name always gives the same text)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def first_problem(error: ValidationError) -> str:
    """The first thing pydantic found wrong, as ``field.path: message``: one line for a person."""
    first = error.errors()[0]
    return f"{'.'.join(map(str, first['loc'])) or '(the whole)'}: {first['msg']}"


class ImrExtractError(Exception):
    """Base of every error imr-extract raises on purpose."""


class LetterError(ImrExtractError):
    """One letter could not be turned into a record; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = display_path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnreadableFileError(LetterError):
    """The file is missing, empty, too large, binary, of an unsupported type or undecodable."""


class CorruptPdfError(LetterError):
    """The PDF could not be opened."""


class EncryptedPdfError(LetterError):
    """The PDF needs a user password to be opened."""


class PdfReaderError(LetterError):
    """The isolated PDF reader crashed, ran out of memory or time on this file."""


class NoTextLayerError(LetterError):
    """The PDF has pages but no text layer (a scanned image)."""


class NotAnImrLetterError(LetterError):
    """The text does not look like an IMR final determination letter."""


class ChangedLetterError(LetterError):
    """``batch collect``: the letter's content is not the one the batch was prepared from."""


class ConfigurationError(ImrExtractError):
    """The settings cannot work as given."""


class OutputInUseError(ConfigurationError):
    """Another run holds the lock on the output: two writers would lose or tear records."""


class ModelError(ImrExtractError):
    """The model endpoint gave no usable answer for one request after every retry; carries what was spent.

    ``kind``: ``transport`` (429/5xx/connection after the retries), ``timeout``, ``invalid`` (an
    answer that fails the schema), ``cut_off`` (stopped at ``max_tokens``), ``mode`` (the server
    rejected the structured-output mode), ``too_long`` (the prompt cannot fit the context),
    ``deferred`` (``batch prepare``: the request went into a batch file), ``not_in_batch``
    (``batch collect``: the batch's results hold no answer to it, or hold its failure)."""

    def __init__(self, message: str, *, kind: str = "transport", attempts: int = 0, last_output: str | None = None,
                 prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        self.kind = kind
        self.attempts = attempts
        self.last_output = last_output
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        super().__init__(message)


class WorkerError(ImrExtractError):
    """A worker process of a parallel batch stopped before it finished its letters."""
