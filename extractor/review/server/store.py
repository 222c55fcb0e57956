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
from typing import Any, get_args

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
    item_keys_sql,
)

_STATE_CODES = frozenset(STATES.values())
Versions = dict[int | None, dict[str, int]]  # item index (None: the letter) -> field -> id of its latest correction


class NotFound(ImrExtractError):
    """No such letter or item in the store."""


class Invalid(ImrExtractError):
    """A correction the record's model refuses (the message says why); nothing is stored."""


class Unreadable(ImrExtractError):
    """A stored record that this version's model refuses (written by another version): extract it again."""


class Conflict(ImrExtractError):
    """A correction made against a stale version: someone else decided first."""

    def __init__(self, current: dict[str, Any]) -> None:
        self.current = current
        super().__init__("this was changed since you loaded it; the current values are attached")


@dataclass(frozen=True)
class Letter:
    """A letter as the server shows it: corrections applied, each decided field's version, its audit trail,
    and its items' keys (item_key -> index)."""

    record: Record
    versions: Versions
    history: list[dict[str, Any]]
    keys: dict[str, int]


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
            self.queue = self._load_queue()
        except duckdb.Error as e:  # not DuckDB, or cut short: its header reads, a page it lacks does not
            raise ConfigurationError(f"{self.path}: cannot open as a DuckDB store ({e})") from e
        # What the queue's filters offer (the flags do not change while the server runs).
        self.choices = {name: sorted({str(getattr(e, attr)) for e in self.queue if getattr(e, attr)})
                        for name, attr in (("field", "field"), ("reason", "code"), ("category", "category"),
                                           ("decision", "decision"))}

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
            for flag in flags_of(data):
                entries.append(QueueEntry(sha, path, data["document_id"], None, None, flag["field"], flag["code"],
                                          flag["message"], flag.get("values") or {}, None, None,
                                          (data.get("confidence") or {}).get(flag["field"])))
            for index, item in enumerate(data.get("items") or []):
                confidence = item.get("confidence") or {}
                for flag in flags_of(item):
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

    def letter(self, sha: str) -> Letter:
        """The letter with its corrections applied, each decided field's version, and its audit trail."""
        with self._lock:
            return self._letter(sha)

    def _letter(self, sha: str) -> Letter:
        letters = self._letters([sha])
        if sha not in letters:
            raise NotFound(f"no letter {sha}")
        return letters[sha]

    def _letters(self, shas: list[str]) -> dict[str, Letter]:
        """The letters found, in three queries however many: records, their items' keys, their corrections."""
        found: dict[str, tuple[str, str]] = {}
        for sha, path, text in self._con.execute(
                "SELECT source_sha256, source_path, record FROM letters WHERE source_sha256 IN (SELECT unnest(?)) "
                "AND error_type IS NULL ORDER BY source_path DESC", [shas]).fetchall():
            found[sha] = (path, text)  # the first path of a content stored twice, as everywhere
        keys: dict[str, dict[str, int]] = {}
        for path, index, key in self._con.execute(item_keys_sql("WHERE source_path IN (SELECT unnest(?))"),
                                                  [[path for path, _ in found.values()]]).fetchall():
            keys.setdefault(path, {})[key] = index
        cursor = self._con.execute("SELECT letter_sha256, id, item_key, item_index, field, old_value, new_value, action, "
                                   "reviewer, corrected_at, note FROM corrections WHERE letter_sha256 IN (SELECT unnest(?)) "
                                   "ORDER BY id", [list(found)])
        names = [d[0] for d in cursor.description][1:]
        histories: dict[str, list[dict[str, Any]]] = {}
        for sha, *row in cursor.fetchall():
            histories.setdefault(sha, []).append(dict(zip(names, row, strict=True)))
        letters = {}
        for sha, (path, text) in found.items():
            try:
                letters[sha] = _build(text, keys.get(path, {}), histories.get(sha, []))
            except ValidationError as e:
                first = e.errors()[0]
                raise Unreadable(f"{path}: the stored record is refused by this version's record model "
                                 f"({'.'.join(map(str, first['loc']))}: {first['msg']}); extract it again") from None
        return letters

    def item(self, item_id: str) -> dict[str, Any]:
        """One item as the API gives it."""
        sha, index = _split_id(item_id)
        with self._lock:
            letter = self._letter(sha)
        return _item_json(letter.record, letter.versions, sha, index)

    def letter_json(self, sha: str) -> dict[str, Any]:
        """A letter's fields as the API gives them (its items by id)."""
        with self._lock:
            letter = self._letter(sha)
        return _letter_json(letter.record, sha, letter.versions) | {
            "items": [f"{sha}-{i}" for i in range(len(letter.record.items))]}

    def items(self, *, needs_review: bool | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """A page of items (source-path and item order), and how many match in all."""
        where = "" if needs_review is None else f"WHERE i.needs_review = {bool(needs_review)}"
        with self._lock:
            total = self._con.execute(f"SELECT count(*) FROM items i {where}").fetchone()
            rows = self._con.execute(
                f"SELECT l.source_sha256, i.item_index FROM items i JOIN letters l USING (source_path) {where} "
                "ORDER BY i.source_path, i.item_index LIMIT ? OFFSET ?", [limit, offset]).fetchall()
            letters = self._letters(list(dict.fromkeys(sha for sha, _ in rows)))
        page = [_item_json(letters[sha].record, letters[sha].versions, sha, index) for sha, index in rows]
        return page, int(total[0] if total else 0)

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
            letter = self._letter(sha)
            record, versions = letter.record, letter.versions
            if index is not None and not 0 <= index < len(record.items):
                raise NotFound(f"no item {target}")
            if version is not None and int(version) != versions.get(index, {}).get(field_name, 0):
                raise Conflict(_current(record, sha, index, versions))
            owner = (record if index is None else record.items[index]).model_dump(mode="json")
            flags = [f for f in flags_of(owner) if f["field"] == field_name]
            correctable = LETTER_FIELDS if index is None else ITEM_FIELDS
            if field_name not in correctable and not (action == "accept" and flags):
                raise Invalid(f"unknown field {field_name!r}: one of {', '.join(correctable)} (or accept a flagged field)")
            old = owner.get(field_name)
            if action == "accept":
                new = old
            elif action in ("parser", "model"):
                offered = [f["values"][action] for f in flags if action in (f.get("values") or {})]
                if not offered:
                    raise Invalid(f"{field_name}: no {action} value to take (no flag offers one)")
                new = _validated(record, index, field_name, offered[0])
            else:
                new = _validated(record, index, field_name, value)
            key = None if index is None else next(k for k, i in letter.keys.items() if i == index)
            version = add_correction(self._con, letter_sha256=sha, item_key=key, item_index=index, field=field_name,
                                     old_value=old, new_value=new, action=action, reviewer=reviewer or self.reviewer,
                                     note=note)
        for entry in self.queue:
            if entry.letter_sha256 == sha and entry.item_index == index and entry.field == field_name:
                entry.resolved = True
        # What the store now reads, without reading it again: the new value on the record, the new version.
        versions = {**versions, index: {**versions.get(index, {}), field_name: version}}
        return _current(apply_corrections(record, {index: {field_name: new}}), sha, index, versions)


def _build(text: str, index_of: dict[str, int], history: list[dict[str, Any]]) -> Letter:
    """A stored record with its corrections (oldest first) applied where its items are found."""
    corrections: dict[int | None, dict[str, Any]] = {}
    versions: Versions = {}
    for h in history:
        h["corrected_at"] = h["corrected_at"].isoformat()
        if h["item_key"] is not None and h["item_key"] not in index_of:
            continue  # its item is not in this extraction (listed by the correction_drift view)
        index = None if h["item_key"] is None else index_of[h["item_key"]]
        corrections.setdefault(index, {})[h["field"]] = json.loads(h["new_value"])
        versions.setdefault(index, {})[h["field"]] = int(h["id"])
    # A stored correction the model refuses is not applied: the letter still opens and the field can be decided again.
    return Letter(apply_corrections(Record.model_validate_json(text), corrections, skip_refused=True),
                  versions, history, index_of)


def flags_of(data: dict[str, Any]) -> list[dict[str, Any]]:
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


def _split_id(item_id: str) -> tuple[str, int]:
    sha, _, index = item_id.rpartition("-")
    if not sha or not index.isdigit():
        raise NotFound(f"no item {item_id}: an item id is <letter sha256>-<item index>")
    return sha, int(index)


def _validated(record: Record, index: int | None, field_name: str, value: Any) -> Any:
    """The value as the record's model reads it (JSON form), or ``Invalid`` with the model's reason."""
    model: type[Record] | type[Item] = Record if index is None else Item
    annotation = model.model_fields[field_name].annotation
    if isinstance(value, bool) and annotation is not bool and bool not in get_args(annotation):
        # Pydantic reads true as 1 in lax mode; a reviewer's true is never a quantity or an age.
        raise Invalid(f"{field_name}: {json.dumps(value)} is not a {field_name} value")
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
