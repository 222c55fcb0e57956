"""Reading letter files (.pdf, .txt) into text, with a clear error for anything that is not a letter's text."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium

from .errors import CorruptPdfError, NoTextLayerError, UnreadableFileError

SUPPORTED_SUFFIXES = (".pdf", ".txt")
PAGE_BREAK = "\f"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# PDFium is not thread-safe: one PDF at a time per process, whichever thread asks.
_PDFIUM = threading.Lock()


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
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise UnreadableFileError(
                p, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit for one letter (max_file_mb)"
            )
        data = p.read_bytes()
    except OSError as e:
        raise UnreadableFileError(p, f"cannot read file: {e.strerror or e}") from e
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
    return LetterText(path=str(p), text=text, sha256=digest, pages=pages, warnings=warnings)


def _pdf_text(path: Path, data: bytes) -> tuple[str, int]:
    if not data.lstrip().startswith(b"%PDF"):
        raise CorruptPdfError(path, "not a PDF file (no %PDF header)")
    with _PDFIUM:
        return _pdfium_text(path, data)


def _pdfium_text(path: Path, data: bytes) -> tuple[str, int]:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise CorruptPdfError(path, f"PDF cannot be opened: {e}") from e
    try:
        texts = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        pages = len(pdf)
    except pdfium.PdfiumError as e:
        raise CorruptPdfError(path, f"PDF text cannot be read: {e}") from e
    finally:
        pdf.close()
    text = PAGE_BREAK.join(texts)
    if not text.strip():
        raise NoTextLayerError(path, f"PDF has {pages} page(s) but no text layer (a scanned image?); run OCR on it first")
    return text, pages


def _decode_text(path: Path, data: bytes) -> tuple[str, list[str]]:
    """Decode UTF-8 (or UTF-16 with a BOM); fall back to Windows-1252 with a warning rather than fail."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), []
    if b"\x00" in data[:4096]:
        raise UnreadableFileError(path, "binary file (NUL bytes), not a text letter")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as e:
        text = data.decode("cp1252", errors="replace")
        return text, [f"text is not valid UTF-8 (byte {e.start}); decoded as Windows-1252"]
