"""What every sink is: the protocol the runner writes to, and the key a letter is stored under."""

from __future__ import annotations

from typing import Protocol

from ..models import Record


class Sink(Protocol):
    def completed(self) -> dict[str, str]:
        """source_path -> source_sha256 of the letters stored for good: without error, and not awaiting
        answers (``AWAITING_ANSWERS``: done again by ``--resume``, like an error record)."""
        ...

    def write(self, record: Record) -> None: ...
    def close(self) -> None: ...


def record_key(record: Record) -> str:
    """The key a sink stores a letter under: its source path (its id, for a record without one)."""
    return record.provenance.source_path or record.document_id


def final(record: Record) -> bool:
    """Whether ``--resume`` may skip the letter: its record has no error and awaits no answer."""
    return record.ok and not record.awaiting_answers
