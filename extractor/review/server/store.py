"""The review server's view of a DuckDB store: the queue of flagged values, items and letters with
their corrections applied, and the one way a correction is made (validated, checked against the
value the reviewer saw, appended).

The server holds the store's output lock for its whole life, so nothing else writes the store while
it runs: the queue is read once when it opens and kept up to date as corrections are made. One lock
serialises every use of the DuckDB connection, so the version check and the append are atomic.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from ...errors import ConfigurationError, ImrExtractError
from ...models import Item, Record
from ...parse.values import STATES
from ...sinks.corrections import (
    ACTIONS,
    ITEM_FIELDS,
    LETTER_FIELDS,
    add_correction,
    apply_corrections,
    create_review_schema,
)

_STATE_CODES = frozenset(STATES.values())
Versions = dict[int | None, dict[str, int]]  # item index (None: the letter) -> field -> id of its latest correction


class NotFound(ImrExtractError):
    """No such letter or item in the store."""


class Invalid(ImrExtractError):
    """A correction the record's model refuses (the message says why); nothing is stored."""


class Conflict(ImrExtractError):
    """A correction made against a stale version: someone else decided first."""

    def __init__(self, current: dict[str, Any]) -> None:
        self.current = current
        super().__init__("this was changed since you loaded it; the current values are attached")


@dataclass
class QueueEntry:
    """One flagged value a person should decide."""

    letter_sha256: str
    source_path: str
    document_id: str
    item_index: int | None
    item_key: str | None
    field: str
    code: str
    message: str
    values: dict[str, Any]
    category: str | None
    decision: str | None
    confidence: float | None
    resolved: bool = False

    @property
    def key(self) -> tuple[str, str | None, str]:
        return self.letter_sha256, self.item_key, self.field

    @property
    def target(self) -> str:
        """The id of the item (``sha-index``) or letter (``sha``) the entry is about."""
        return self.letter_sha256 if self.item_index is None else f"{self.letter_sha256}-{self.item_index}"


class ReviewStore:
    """A DuckDB store opened for review: reads with corrections applied, and appends corrections."""

    def __init__(self, path: str | Path, reviewer: str) -> None:
        self.path = Path(path)
        self.reviewer = reviewer
        self._lock = threading.Lock()
        if not self.path.is_file():
            raise ConfigurationError(f"{self.path}: no such DuckDB store (write one with `imr-extract extract ... -o {self.path.name}`)")
        try:
            self._con = duckdb.connect(str(self.path))
            tables = {r[0] for r in self._con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            if not {"letters", "items"} <= tables:
                raise ConfigurationError(f"{self.path}: not an imr-extract store (no letters and items tables)")
            create_review_schema(self._con)
        except duckdb.Error as e:
            raise ConfigurationError(f"{self.path}: cannot open as a DuckDB store ({e})") from e
        self.queue = self._load_queue()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # --- reading -------------------------------------------------------------------------------

    def _load_queue(self) -> list[QueueEntry]:
        """Every flag of every letter and item, most doubtful first (lowest confidence, then unscored)."""
        keys = {(p, i): k for p, i, k in self._con.execute("SELECT source_path, item_index, item_key FROM item_keys").fetchall()}
        decided = {(s, k, f) for s, k, f in self._con.execute("SELECT DISTINCT letter_sha256, item_key, field FROM corrections").fetchall()}
        entries: list[QueueEntry] = []
        rows = self._con.execute("SELECT source_path, source_sha256, record FROM letters "
                                 "WHERE error_type IS NULL AND source_sha256 IS NOT NULL ORDER BY source_path").fetchall()
        for path, sha, text in rows:
            data = json.loads(text)
            for flag in _flags(data):
                entries.append(QueueEntry(sha, path, data["document_id"], None, None, flag["field"], flag["code"],
                                          flag["message"], flag.get("values") or {}, None, None,
                                          (data.get("confidence") or {}).get(flag["field"])))
            for index, item in enumerate(data.get("items") or []):
                confidence = item.get("confidence") or {}
                for flag in _flags(item):
                    entries.append(QueueEntry(
                        sha, path, data["document_id"], index, keys.get((path, index)), flag["field"], flag["code"],
                        flag["message"], flag.get("values") or {}, item.get("category"), item.get("decision"),
                        confidence.get(flag["field"], min(confidence.values(), default=None))))
        for entry in entries:
            entry.resolved = entry.key in decided
        entries.sort(key=lambda e: (e.confidence is None, e.confidence or 0.0, e.source_path, e.item_index or -1, e.field))
        return entries

    def filtered_queue(self, *, field: str | None = None, reason: str | None = None, category: str | None = None,
                       decision: str | None = None, status: str = "open", max_confidence: float | None = None
                       ) -> list[QueueEntry]:
        """The queue under the reviewer's filters (``status``: open, resolved or all)."""
        return [e for e in self.queue
                if (field is None or e.field == field) and (reason is None or e.code == reason)
                and (category is None or e.category == category) and (decision is None or e.decision == decision)
                and (status == "all" or e.resolved == (status == "resolved"))
                and (max_confidence is None or (e.confidence is not None and e.confidence <= max_confidence))]

    def letter(self, sha: str) -> tuple[Record, Versions]:
        """The letter's record with its corrections applied, and each decided field's version."""
        with self._lock:
            return self._letter(sha)

    def _letter(self, sha: str) -> tuple[Record, Versions]:
        row = self._con.execute("SELECT source_path, record FROM letters WHERE source_sha256 = ? AND error_type IS NULL "
                                "ORDER BY source_path LIMIT 1", [sha]).fetchone()
        if row is None:
            raise NotFound(f"no letter {sha}")
        path, text = row
        latest = self._con.execute(
            "SELECT k.item_index, c.field, c.new_value, c.id FROM latest_corrections c JOIN item_keys k "
            "ON k.source_sha256 = c.letter_sha256 AND k.item_key = c.item_key WHERE k.source_path = ? "
            "UNION ALL SELECT NULL, field, new_value, id FROM latest_corrections WHERE letter_sha256 = ? AND item_key IS NULL",
            [path, sha]).fetchall()
        corrections: dict[int | None, dict[str, Any]] = {}
        versions: Versions = {}
        for index, name, value, version in latest:
            corrections.setdefault(index, {})[name] = json.loads(value)
            versions.setdefault(index, {})[name] = int(version)
        return apply_corrections(Record.model_validate_json(text), corrections), versions

    def item(self, item_id: str) -> dict[str, Any]:
        """One item as the API gives it."""
        sha, index = _split_id(item_id)
        with self._lock:
            record, versions = self._letter(sha)
        return _item_json(record, versions, sha, index)

    def letter_json(self, sha: str) -> dict[str, Any]:
        """A letter's fields as the API gives them (its items by id)."""
        with self._lock:
            record, versions = self._letter(sha)
        return _letter_json(record, sha, versions) | {"items": [f"{sha}-{i}" for i in range(len(record.items))]}

    def items(self, *, needs_review: bool | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """A page of items (source-path and item order), and how many match in all."""
        where = "" if needs_review is None else f"WHERE i.needs_review = {bool(needs_review)}"
        with self._lock:
            total = self._con.execute(f"SELECT count(*) FROM items i {where}").fetchone()
            rows = self._con.execute(
                f"SELECT l.source_sha256, i.item_index FROM items i JOIN letters l USING (source_path) {where} "
                "ORDER BY i.source_path, i.item_index LIMIT ? OFFSET ?", [limit, offset]).fetchall()
            letters = {sha: self._letter(sha) for sha in dict.fromkeys(sha for sha, _ in rows)}
        page = [_item_json(*letters[sha], sha=sha, index=index) for sha, index in rows]
        return page, int(total[0] if total else 0)

    def _item_key(self, sha: str, index: int) -> str:
        row = self._con.execute("SELECT item_key FROM item_keys WHERE source_sha256 = ? AND item_index = ? LIMIT 1",
                                [sha, index]).fetchone()
        if row is None:
            raise NotFound(f"no item {sha}-{index}")
        return str(row[0])

    # --- writing -------------------------------------------------------------------------------

    def correct(self, target: str, field_name: str, *, action: str = "correct", value: Any = None,
                version: int | None = None, note: str | None = None, reviewer: str | None = None) -> dict[str, Any]:
        """Decide one field of an item (``sha-index``) or letter (``sha``): validated by the record's own
        model, refused if ``version`` is not the current one, then appended. The item or letter as it is now."""
        if action not in ACTIONS:
            raise Invalid(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        index: int | None
        sha, index = _split_id(target) if "-" in target else (target, None)
        with self._lock:
            record, versions = self._letter(sha)
            if index is not None and not 0 <= index < len(record.items):
                raise NotFound(f"no item {target}")
            if version is not None and int(version) != versions.get(index, {}).get(field_name, 0):
                raise Conflict(_current(record, sha, index, versions))
            owner: Item | Record = record if index is None else record.items[index]
            flags = [f for f in owner.flags if f.field == field_name]
            correctable = LETTER_FIELDS if index is None else ITEM_FIELDS
            if field_name not in correctable and not (action == "accept" and (flags or field_name in _flag_fields(owner))):
                raise Invalid(f"unknown field {field_name!r}: one of {', '.join(correctable)} (or accept a flagged field)")
            old = owner.model_dump(mode="json").get(field_name)
            if action == "accept":
                new = old
            elif action in ("parser", "model"):
                offered = [f.values[action] for f in flags if action in f.values]
                if not offered:
                    raise Invalid(f"{field_name}: no {action} value to take (no flag offers one)")
                new = _validated(record, index, field_name, offered[0])
            else:
                new = _validated(record, index, field_name, value)
            add_correction(self._con, letter_sha256=sha, item_key=None if index is None else self._item_key(sha, index),
                           item_index=index, field=field_name, old_value=old, new_value=new, action=action,
                           reviewer=reviewer or self.reviewer, note=note)
            record, versions = self._letter(sha)
        for entry in self.queue:
            if entry.letter_sha256 == sha and entry.item_index == index and entry.field == field_name:
                entry.resolved = True
        return _current(record, sha, index, versions)

    def history(self, sha: str) -> list[dict[str, Any]]:
        """Every correction of a letter and its items, oldest first: the audit trail as stored."""
        with self._lock:
            cursor = self._con.execute("SELECT id, item_key, item_index, field, old_value, new_value, action, reviewer, "
                                       "corrected_at, note FROM corrections WHERE letter_sha256 = ? ORDER BY id", [sha])
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, r, strict=True)) | {"corrected_at": r[8].isoformat()} for r in rows]


def _flags(data: dict[str, Any]) -> list[dict[str, Any]]:
    """An item's or letter's flags; for a record made before structured flags, one per review reason,
    its field read from the reason's ``field:`` prefix where it names one."""
    if data.get("flags"):
        return list(data["flags"])
    if "items" in data or not data.get("needs_review"):
        return []
    flags = []
    for reason in data.get("review_reasons") or []:
        head = reason.split(":", 1)[0].strip()
        flags.append({"field": head if head in ITEM_FIELDS else "item", "code": "review", "message": reason})
    return flags


def _flag_fields(owner: Item | Record) -> set[str]:
    return {f.field for f in owner.flags} | ({"item"} if isinstance(owner, Item) and owner.needs_review else set())


def _split_id(item_id: str) -> tuple[str, int]:
    sha, _, index = item_id.rpartition("-")
    if not sha or not index.isdigit():
        raise NotFound(f"no item {item_id}: an item id is <letter sha256>-<item index>")
    return sha, int(index)


def _validated(record: Record, index: int | None, field_name: str, value: Any) -> Any:
    """The value as the record's model reads it (JSON form), or ``Invalid`` with the model's reason."""
    try:
        if index is None:
            if field_name == "reviewer_licensure" and (not isinstance(value, list)
                                                       or any(v not in _STATE_CODES for v in value)):
                raise Invalid(f"reviewer_licensure: a list of two-letter state codes (e.g. [\"CA\"]), not {value!r}")
            data = record.model_dump(mode="json") | {field_name: value}
            return Record.model_validate(data).model_dump(mode="json")[field_name]
        data = record.items[index].model_dump(mode="json") | {field_name: value}
        return Item.model_validate(data).model_dump(mode="json")[field_name]
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or field_name
        raise Invalid(f"{where}: {first['msg']} (got {json.dumps(value, default=str)[:80]})") from None


def _item_json(record: Record, versions: Versions, sha: str, index: int) -> dict[str, Any]:
    """An item as the API gives it: its fields, flags and confidences, what was corrected and each field's version."""
    if not 0 <= index < len(record.items):
        raise NotFound(f"no item {sha}-{index}")
    decided = versions.get(index, {})
    return {"id": f"{sha}-{index}", "document_id": record.document_id, "item_index": index,
            **record.items[index].model_dump(mode="json", exclude={"spans"}),
            "corrected_fields": sorted(decided), "versions": decided}


def _letter_json(record: Record, sha: str, versions: Versions) -> dict[str, Any]:
    decided = versions.get(None, {})
    return {"id": sha, **record.model_dump(mode="json", include={"document_id", *LETTER_FIELDS, "diagnoses", "needs_review",
                                                                 "review_reasons", "flags", "confidence"}),
            "corrected_fields": sorted(decided), "versions": decided}


def _current(record: Record, sha: str, index: int | None, versions: Versions) -> dict[str, Any]:
    return _letter_json(record, sha, versions) if index is None else _item_json(record, versions, sha, index)
