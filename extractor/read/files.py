"""Reading letter files (.pdf, .txt) into text, with a clear error for anything that is not a letter's text."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


def read_letter(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LetterText:
    """Read a ``.pdf`` or ``.txt`` letter; raise a ``LetterError`` naming the file and the reason."""
    p = Path(path)
    if p.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UnreadableFileError(p, f"unsupported file type {p.suffix or '(none)'!r}; expected .pdf or .txt")
    data = _read_bytes(p, max_bytes)
    if not data.strip():
        raise UnreadableFileError(p, "file is empty")
    digest = hashlib.sha256(data).hexdigest()
    if p.suffix.lower() == ".pdf":
        text, pages = _pdf_text(p, data)
        warnings: list[str] = []
    else:
        text, warnings = _decode_text(p, data)
        pages = text.count(PAGE_BREAK) + 1
    if not text.strip():
        raise UnreadableFileError(p, "file has no text")
    return LetterText(path=display_path(p), text=text, sha256=digest, pages=pages, warnings=warnings)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; only a regular file, and never more than ``max_bytes`` of it (a symlink to
    a device or a FIFO would otherwise hang or never end)."""
    limit = f"over the {max_bytes / 1e6:.1f} MB limit for one letter (max_file_mb)"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(path, "not a regular file (a directory, FIFO or device?)")
        if info.st_size > max_bytes:
            raise UnreadableFileError(path, f"file is {info.st_size / 1e6:.1f} MB, {limit}")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise UnreadableFileError(path, f"cannot read file: {e.strerror or e}") from e
    if len(data) > max_bytes:
        raise UnreadableFileError(path, f"file grew while read, {limit}")
    return data


def _pdf_text(path: Path, data: bytes) -> tuple[str, int]:
    if not data.lstrip().startswith(b"%PDF"):
        raise CorruptPdfError(path, "not a PDF file (no %PDF header)")
    texts = pdf_pages(path, data)
    pages = len(texts)
    text = PAGE_BREAK.join(texts)
    if not text.strip():
        raise NoTextLayerError(path, f"PDF has {pages} page(s) but no text layer (a scanned image?); run OCR on it first")
    return text, pages


def _decode_text(path: Path, data: bytes) -> tuple[str, list[str]]:
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
