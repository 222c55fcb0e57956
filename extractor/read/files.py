"""Reading letter files (.pdf, .txt) into text, with a clear error for anything that is not a letter's text."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import CorruptPdfError, NoTextLayerError, UnreadableFileError, display_path
from .pdf import pdf_pages

SUPPORTED_SUFFIXES = (".pdf", ".txt")
PAGE_BREAK = "\f"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def file_sha256(path: str | Path) -> str | None:
    """The file's content hash; None for what is not a regular file (a FIFO would block) or cannot be read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class LetterText:
    """A letter's text as read: pages joined with a form feed. Record spans index into ``text``."""

    path: str
    text: str
    sha256: str
    pages: int
    warnings: list[str] = field(default_factory=list)

    @property
    def document_id(self) -> str:
        return Path(self.path).stem


# A letter as given: a path, or its bytes under a name (from object storage, a database, a queue):
# raw bytes, a ``(name, bytes)`` pair, a ``(name, binary file)`` pair or a binary file object.
LetterSource = str | os.PathLike[str] | bytes | bytearray | memoryview | tuple[str, Any] | BinaryIO


def read_letter(source: LetterSource, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> LetterText:
    """Read a ``.pdf`` or ``.txt`` letter, from a path or from bytes (``name`` says whose: it is the
    record's document id and source path, and every error names it); raise a ``LetterError`` naming
    the letter and the reason. Bytes are a PDF when ``name`` ends in ``.pdf`` or, for a name without
    ``.txt``, when they start with ``%PDF``; else text."""
    label, data = source_bytes(source, name=name, max_bytes=max_bytes)
    suffix = Path(label).suffix.lower()  # the label, not a Path, goes into errors: "s3://b/k" keeps its "//"
    if data is None:  # a path: source_bytes read everything else
        if suffix not in SUPPORTED_SUFFIXES:
            raise UnreadableFileError(label, f"unsupported file type {Path(label).suffix or '(none)'!r}; expected .pdf or .txt")
        assert isinstance(source, str | os.PathLike)
        data = _read_bytes(Path(source), label, max_bytes)  # the path as given: its label may have escaped bytes
    if not data.strip():
        raise UnreadableFileError(label, "file is empty")
    digest = hashlib.sha256(data).hexdigest()
    if suffix == ".pdf" or (suffix != ".txt" and data.lstrip()[:4] == b"%PDF"):
        text, pages = _pdf_text(label, data)
        warnings: list[str] = []
    else:
        text, warnings = _decode_text(label, data)
        pages = text.count(PAGE_BREAK) + 1
    if not text.strip():
        raise UnreadableFileError(label, "file has no text")
    return LetterText(path=display_path(label), text=text, sha256=digest, pages=pages, warnings=warnings)


def source_name(source: LetterSource, name: str | None = None) -> str:
    """The name a letter source goes by in records and errors: its path, or the name given with its bytes."""
    if name is not None:
        return name
    if isinstance(source, tuple):
        return str(source[0])
    if isinstance(source, str | os.PathLike):
        return display_path(os.fspath(source))
    given = getattr(source, "name", None)
    if isinstance(given, str | os.PathLike):
        return display_path(os.fspath(given))
    raise TypeError("a letter given as bytes needs a name: extract(data, name=...) or a (name, data) pair")


def source_bytes(source: LetterSource, *, name: str | None = None, max_bytes: int) -> tuple[str, bytes | None]:
    """``(name, bytes)`` of a letter given as bytes or a binary file (at most ``max_bytes``, else a
    ``LetterError``); ``(path, None)`` for a path, read later by ``read_letter``."""
    label = source_name(source, name)
    if isinstance(source, str | os.PathLike):
        return label, None
    data = _take(label, source[1] if isinstance(source, tuple) else source, max_bytes)
    if len(data) > max_bytes:
        raise UnreadableFileError(label, f"letter is over the {max_bytes / 1e6:.1f} MB limit for one letter (max_file_mb)")
    return label, data


def portable(source: LetterSource, *, max_bytes: int) -> str | tuple[str, bytes]:
    """A source another process can take: a path as text, else a ``(name, bytes)`` pair (a file
    object read here, at most one byte past the limit, so that the worker refuses it as usual)."""
    if isinstance(source, str | os.PathLike):
        return str(source)
    label = source_name(source)
    return label, _take(label, source[1] if isinstance(source, tuple) else source, max_bytes)


def _take(label: str, data: Any, max_bytes: int) -> bytes:
    """The bytes of ``data`` (bytes or a binary file), never reading more than one byte past ``max_bytes``."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data[: max_bytes + 1])
    if not callable(getattr(data, "read", None)):
        raise TypeError(f"{label}: a letter is a path, bytes or a binary file object, not {type(data).__name__}")
    try:
        read = data.read(max_bytes + 1)
    except (OSError, ValueError) as e:
        raise UnreadableFileError(label, f"cannot read the letter's bytes: {e}") from e
    if not isinstance(read, bytes):
        raise UnreadableFileError(label, "the file object gives text, not bytes: open it in binary mode")
    return read


def _read_bytes(path: Path, label: str, max_bytes: int) -> bytes:
    """The file's bytes; only a regular file, and never more than ``max_bytes`` of it (a symlink to
    a device or a FIFO would otherwise hang or never end)."""
    limit = f"over the {max_bytes / 1e6:.1f} MB limit for one letter (max_file_mb)"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(label, "not a regular file (a directory, FIFO or device?)")
        if info.st_size > max_bytes:
            raise UnreadableFileError(label, f"file is {info.st_size / 1e6:.1f} MB, {limit}")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise UnreadableFileError(label, f"cannot read file: {e.strerror or e}") from e
    if len(data) > max_bytes:
        raise UnreadableFileError(label, f"file grew while read, {limit}")
    return data


def _pdf_text(path: str, data: bytes) -> tuple[str, int]:
    if not data.lstrip().startswith(b"%PDF"):
        raise CorruptPdfError(path, "not a PDF file (no %PDF header)")
    texts = pdf_pages(path, data)
    pages = len(texts)
    text = PAGE_BREAK.join(texts)
    if not text.strip():
        raise NoTextLayerError(path, f"PDF has {pages} page(s) but no text layer (a scanned image?); run OCR on it first")
    return text, pages


def _decode_text(path: str, data: bytes) -> tuple[str, list[str]]:
    """Decode UTF-8 or UTF-16 (with or without a BOM); fall back to Windows-1252 with a warning
    rather than fail."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
        return text, ["text is not valid UTF-16; undecodable bytes replaced"] if "\ufffd" in text else []
    if b"\x00" in data[:4096]:
        encoding = _utf16_without_bom(data[:4096])
        if encoding is None:
            raise UnreadableFileError(path, "binary file (NUL bytes), not a text letter")
        return data.decode(encoding, errors="replace"), [f"text is {encoding.upper()} without a byte-order mark"]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as e:
        text = data.decode("cp1252", errors="replace")
        return text, [f"text is not valid UTF-8 (byte {e.start}); decoded as Windows-1252"]


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when the NUL bytes fall where ASCII text in UTF-16 puts them."""
    even, odd = head[0::2], head[1::2]
    for encoding, zeros, chars in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and chars.count(0) <= 0.1 * len(chars):
            return encoding
    return None


def iter_letter_paths(inputs: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, and the letters (.pdf, .txt) inside directories, sorted, recursively.
    (A folder is listed as strings, not ``Path`` objects: a tenth of the memory for 100,000 letters.)"""
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = [os.path.join(root, name) for root, _, names in os.walk(p) for name in names
                     if os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES]
            found.sort(key=lambda f: f.split(os.sep))  # the order of sorted Paths: part by part
            yield from (Path(f) for f in found if os.path.isfile(f))
        else:
            yield p
