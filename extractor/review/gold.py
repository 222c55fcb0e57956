"""``imr-extract export-gold``: a DuckDB store's records, reviewers' corrections applied, as gold files in
the contract's format (``docs/record-format.md``, as ``evals/gold``), which ``imr-extract eval`` scores as they are."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigurationError
from ..models import Citation, Record

_LETTER = ("document_id", "layout", "case_number", "date_assigned", "decision_date", "ur_denial_date",
           "application_received_date", "priority", "date_of_injury", "patient_sex", "patient_age",
           "reviewer_specialty", "reviewer_licensure", "diagnoses")
_ITEM = ("request", "original_request", "retrospective", "date_of_service", "treatment", "category", "generic_name",
         "strength", "quantity", "decision", "claims_administrator_guidelines", "reviewer_guidelines", "rationale",
         "reasons")
_CITATION = {name for name in Citation.model_fields if name != "span"}


def gold_of(record: Record) -> dict[str, object]:
    """The record as a gold file holds it: the contract's fields only, citations without spans."""
    data = record.model_dump(mode="json", include=set(_LETTER))
    data["items"] = [item.model_dump(mode="json", include=set(_ITEM) - {"claims_administrator_guidelines", "reviewer_guidelines"})
                     | {name: [c.model_dump(mode="json", include=_CITATION) for c in getattr(item, name)]
                        for name in ("claims_administrator_guidelines", "reviewer_guidelines")}
                     for item in record.items]
    return {name: data[name] for name in (*_LETTER, "items")}


def export_gold(store: Path, out_dir: Path, *, reviewed_only: bool = False,
                overwrite: bool = False) -> tuple[int, list[str]]:
    """Write ``<document_id>.json`` per letter without error (only corrected letters with ``reviewed_only``);
    how many were written, and a line for each letter left out and for other gold files already in the folder.
    A gold file already there with other content (hand-labelled gold, say) is kept unless ``overwrite``."""
    import duckdb

    from ..sinks.duckdb import read_records

    if not out_dir.is_dir():
        if out_dir.exists() or not out_dir.parent.is_dir():
            raise ConfigurationError(f"{out_dir}: not a folder that can be written")
        out_dir.mkdir()
    reviewed: set[str] = set()
    if reviewed_only:
        try:
            with duckdb.connect(str(store), read_only=True) as con:
                if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'corrections'").fetchone() == (1,):
                    reviewed = {r[0] for r in con.execute("SELECT DISTINCT letter_sha256 FROM corrections").fetchall()}
        except duckdb.Error as e:
            raise ConfigurationError(f"{store}: cannot open as a DuckDB store ({e})") from e
    written: dict[str, str] = {}  # document id -> source, of every letter exported (or whose file was kept)
    skipped: list[str] = []
    kept = 0
    for record in read_records(store, refused=lambda line: skipped.append(f"{line}: left out")):
        source = record.provenance.source_path or record.document_id
        if not record.ok or (reviewed_only and record.provenance.source_sha256 not in reviewed):
            continue
        name = record.document_id
        if name in written or not _file_name(name):
            skipped.append(f"{source}: document id {name[:80]!r} " + ("already written from " + written[name]
                                                                       if name in written else "is not a file name"))
            continue
        target, text = out_dir / f"{name}.json", json.dumps(gold_of(record), indent=2, ensure_ascii=False) + "\n"
        tmp = out_dir / f".{name}.json.tmp"
        try:
            if not overwrite and target.exists() and target.read_bytes() != text.encode():
                skipped.append(f"{target}: already there with other content, kept (--overwrite replaces it)")
                written[name], kept = source, kept + 1
                continue
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except OSError as e:
            raise ConfigurationError(f"{out_dir}: cannot write {name}.json ({e.strerror or e})") from e
        written[name] = source
    others = sorted(p.name for p in out_dir.glob("*.json") if p.stem not in written)
    if others:  # left as they are (a person's files are not deleted), but eval --gold would score them too
        skipped.append(f"{out_dir}: {len(others)} other gold file(s) not written by this export, which eval would "
                       f"also score: {', '.join(others[:10])}{', ...' if len(others) > 10 else ''}")
    return len(written) - kept, skipped


def _file_name(name: str) -> bool:
    """Whether ``<name>.json`` (and its temporary ``.<name>.json.tmp``) is one plain file name on any
    common file system: no separator, no NUL, not hidden, within 255 bytes."""
    return (bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")
            and len(f".{name}.json.tmp".encode()) <= 255)
