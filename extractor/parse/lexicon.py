"""The drug lexicon as a small on-disk index: drug-named-entity-recognition stays the source of
truth, but loading it costs 3 s and 350 MB per process, and the parser needs only its names.

The first use after an install or upgrade of the dependency reads its dictionary once (those 3 s)
and writes what ``find`` needs (every one- and two-word name or synonym, with the drug's name, brand
flag and identifiers) to a SQLite file in the user's cache directory, named after the dependency's
files and this index's format, so an upgrade builds a new one. The file is written
under a temporary name and renamed, so processes starting together each see a whole index; every
later process opens it read-only in a millisecond, and worker processes share its pages through the
OS page cache instead of each holding a copy. Where the cache cannot be written, the index is built
in a private temporary folder for this process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)
SOURCE = "drug_named_entity_recognition"
FORMAT = 1  # bump when what the index holds or how it is built changes
_CHUNK = 500  # names per query (SQLite's bound on parameters is far above)
_REMEMBERED = 100_000  # names whose entries a process keeps (a few MB)


@dataclass(frozen=True)
class Entry:
    """What the lexicon says of one name: the drug's name as it prints it, whether the name is a
    brand, and the drug's identifiers (None where it has none)."""

    name: str | None
    is_brand: bool | None
    drugbank_id: str | None
    mesh_id: str | None


def find(tokens: Sequence[str]) -> list[tuple[Entry, int, int]]:
    """``(entry, first token, end token)`` for each drug named among ``tokens``, as
    ``drug_named_entity_recognition.find_drugs(tokens)`` finds them (exact matching, any case): two
    tokens that name a drug together first, then single tokens not already part of one."""
    lowered = [t.lower() for t in tokens]
    pairs = [f"{a} {b}" for a, b in zip(lowered, lowered[1:], strict=False)]
    known = _index().lookup({*pairs, *lowered})
    hits: list[tuple[Entry, int, int]] = []
    taken: set[int] = set()
    for i, pair in enumerate(pairs):
        if entries := known.get(pair):
            hits += [(e, i, i + 2) for e in entries]
            taken.update((i, i + 1))
    for i, token in enumerate(lowered):
        if i not in taken and (entries := known.get(token)):
            hits += [(e, i, i + 1) for e in entries]
    return hits


class Index:
    """A read-only connection to a built index; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # immutable: no locks and no journal, so a read-only or shared file is fine
        self._db = sqlite3.connect(f"{path.absolute().as_uri()}?immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[Entry, ...]] = {}

    def lookup(self, names: set[str]) -> dict[str, list[Entry]]:
        """The entries of each of ``names`` the lexicon knows, in the lexicon's order. Names seen
        before are answered from memory: requests repeat the same few hundred words."""
        with self._lock:
            if len(self._seen) + len(names) > _REMEMBERED:
                self._seen.clear()
            wanted = sorted(n for n in names if n not in self._seen)
            self._seen.update(dict.fromkeys(wanted, ()))
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                rows = self._db.execute(
                    f"SELECT variant, name, is_brand, drugbank_id, mesh_id FROM variants "  # noqa: S608 - placeholders only
                    f"WHERE variant IN ({','.join('?' * len(chunk))}) ORDER BY variant, seq", chunk)
                for variant, name, brand, drugbank, mesh in rows:
                    self._seen[variant] += (Entry(name, None if brand is None else bool(brand), drugbank, mesh),)
            return {name: list(self._seen[name]) for name in names if self._seen.get(name)}


@lru_cache(maxsize=1)
def _index() -> Index:
    """This process's index: the cached one, built first if the dependency changed since."""
    target = cache_root() / "imr-extract-lexicon" / f"drugs-{_fingerprint()}.sqlite"
    if not target.is_file():
        try:
            build(target)
        except OSError as e:
            private = Path(tempfile.mkdtemp(prefix="imr-extract-lexicon-")) / target.name
            log.warning("the drug lexicon index cannot be written to %s (%s); building it for this process only in %s",
                        target.parent, e.strerror or e, private.parent)
            build(private)
            target = private
    return Index(target)


def cache_root() -> Path:
    """The user's cache directory: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _fingerprint() -> str:
    """The installed lexicon's identity: the size and time of its data file and of the module that reads
    it (an install or upgrade writes both anew), and this index's format. Two ``stat`` calls, where the
    package's version would cost its metadata's parsing (the ``email`` package) at every start."""
    spec = importlib.util.find_spec(SOURCE)  # finds the package without importing it (the import is the 3 s)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{SOURCE} is not installed; reinstall imr-extract")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = [(folder / name).stat() for name in ("drug_ner_dictionary.pkl.bz2", "drugs_finder.py")]
    identity = hashlib.blake2b(repr([(f.st_size, f.st_mtime_ns) for f in files]).encode(), digest_size=8).hexdigest()
    return f"{identity}-f{FORMAT}"


def build(target: Path) -> None:
    """Write the index to ``target`` whole: built under a temporary name beside it, then renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        with sqlite3.connect(temporary) as db:
            db.execute("CREATE TABLE variants (variant TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT, is_brand INTEGER, "
                       "drugbank_id TEXT, mesh_id TEXT, PRIMARY KEY (variant, seq)) WITHOUT ROWID")
            db.executemany("INSERT INTO variants VALUES (?, ?, ?, ?, ?, ?)", _rows())
        db.close()
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _rows() -> Iterator[tuple[str, int, str | None, int | None, str | None, str | None]]:
    """One row per (name, drug) the lexicon can match in a list of words: names of one or two words."""
    from drug_named_entity_recognition import drugs_finder as lexicon

    for variant, canonicals in lexicon.drug_variant_to_canonical.items():
        if len(variant.split(" ")) > 2:  # find_drugs looks up single words and pairs of words only
            continue
        for seq, canonical in enumerate(canonicals):
            data = dict(lexicon.drug_canonical_to_data.get(canonical, {})) | lexicon.drug_variant_to_variant_data.get(variant, {})
            brand = data.get("is_brand")
            yield variant, seq, data.get("name"), None if brand is None else int(brand), data.get("drugbank_id"), data.get("mesh_id")
