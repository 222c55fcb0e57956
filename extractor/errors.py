"""Errors, rooted in one base so callers can catch everything imr-extract raises.

    ImrExtractError
    ├── LetterError              one input file could not give a record (carries the path)
    │   ├── UnreadableFileError  missing, empty, too large, binary, unsupported type, undecodable
    │   ├── CorruptPdfError      the PDF library could not open it
    │   ├── NoTextLayerError     a PDF with no text (a scan): OCR it first
    │   └── NotAnImrLetterError  text with none of the marks of an IMR determination letter
    ├── ConfigurationError       settings that cannot work (bad backend name, missing endpoint)
    ├── ModelError               the LLM endpoint failed for one letter after all retries
    └── WorkerError              a worker process of a parallel batch stopped before its letters were done
"""

from __future__ import annotations

from pathlib import Path


class ImrExtractError(Exception):
    """Base of every error imr-extract raises on purpose."""


class LetterError(ImrExtractError):
    """One letter could not be turned into a record; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnreadableFileError(LetterError):
    """The file is missing, empty, too large, binary, of an unsupported type or undecodable."""


class CorruptPdfError(LetterError):
    """The PDF could not be opened."""


class NoTextLayerError(LetterError):
    """The PDF has pages but no text layer (a scanned image)."""


class NotAnImrLetterError(LetterError):
    """The text does not look like an IMR final determination letter."""


class ConfigurationError(ImrExtractError):
    """The settings cannot work as given."""


class ModelError(ImrExtractError):
    """The model endpoint gave no usable answer for one request after every retry; carries what was spent.

    ``kind``: ``transport`` (429/5xx/connection after the retries), ``timeout``, ``invalid`` (an
    answer that fails the schema), ``cut_off`` (stopped at ``max_tokens``), ``mode`` (the server
    rejected the structured-output mode), ``too_long`` (the prompt cannot fit the context)."""

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
