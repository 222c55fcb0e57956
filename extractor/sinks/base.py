"""What every sink is: the protocol the runner writes to, and the key a letter is stored under."""

from __future__ import annotations

from typing import Any, Protocol

from ..models import Flag, Record


class Sink(Protocol):
    def completed(self) -> dict[str, str]:
        """source_path -> source_sha256 of the letters stored for good (``Record.final``): without error,
        and not awaiting answers nor short of the ones a failed endpoint did not give (``NOT_FINAL``: done
        again by ``--resume``, like an error record)."""
        ...

    def write(self, record: Record) -> None: ...
    def close(self) -> None: ...


def record_key(record: Record) -> str:
    """The key a sink stores a letter under: its source path (its id, for a record without one)."""
    return record.provenance.source_path or record.document_id


def trust_columns(pa: Any) -> list[tuple[str, Any]]:
    """The Arrow columns of an item's (or letter's) doubts: ``flags`` (field, code, message), ``confidence``
    (field -> probability) and ``confidence_min`` (the lowest, to order rows by doubt). ``pa``: pyarrow,
    imported by the sink that uses it."""
    flag = pa.struct([("field", pa.string()), ("code", pa.string()), ("message", pa.string())])
    return [("flags", pa.list_(flag)), ("confidence", pa.map_(pa.string(), pa.float64())),
            ("confidence_min", pa.float64())]


def trust_values(flags: list[Flag], confidence: dict[str, float]) -> dict[str, Any]:
    """The values of ``trust_columns`` for one item or letter."""
    return {"flags": [{"field": f.field, "code": f.code, "message": f.message} for f in flags],
            "confidence": list(confidence.items()), "confidence_min": min(confidence.values(), default=None)}
