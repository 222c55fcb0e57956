"""PDF text in a separate, bounded process, so a PDF that crashes PDFium, exhausts memory or never
ends costs that one letter and not the batch.

Long-lived reader processes (at most ``READERS`` per parent process, each started on first use and
restarted when it dies) each read one PDF at a time under an address-space limit (``RLIMIT_AS``) and
a time limit. Their answers are plain data; the parent turns them into the usual ``LetterError``s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import CorruptPdfError, EncryptedPdfError, PdfReaderError

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024
TIME_LIMIT_SECONDS = 60.0
# The helper's start: this module alone (with ``errors`` and ``lifeline``), not the package's
# ``__init__``s, which load the record models and the parser the helper has no use for; it starts in
# the time Python and PDFium take (about 0.1 s) and holds about 20 MB.
_BOOT = """import sys, types
for name, path in (("extractor", sys.argv[1]), ("extractor.read", sys.argv[2])):
    sys.modules[name] = package = types.ModuleType(name)
    package.__path__ = [path]
from extractor.read.pdf import serve
serve(*map(int, sys.argv[3:]))
"""


class PdfReader:
    """Text of PDFs, one at a time (PDFium is not thread-safe), from a helper process."""

    def __init__(self, *, memory_limit: int = MEMORY_LIMIT_BYTES, time_limit: float = TIME_LIMIT_SECONDS) -> None:
        self.memory_limit = memory_limit
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._starter: threading.Thread | None = None

    def pages(self, path: str | Path, data: bytes, *, wait: bool = True) -> list[str] | None:
        """The text of each page; a ``LetterError`` naming ``path`` if the PDF cannot give it. None,
        without ``wait``, when the helper is reading another PDF."""
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            reply = self._ask(data)
            if reply[0] == "died" and self._starter is not None and not self._starter.is_alive():
                # The kernel ends the helper with the thread that started it (PR_SET_PDEATHSIG is
                # per thread): not this PDF's doing, so ask a new helper.
                self._stop(timed_out=False)
                reply = self._ask(data)
            if reply[0] in ("timeout", "died"):
                raise PdfReaderError(path, self._stop(timed_out=reply[0] == "timeout"))
        finally:
            self._lock.release()
        kind, value = reply
        if kind == "password":
            raise EncryptedPdfError(path, "PDF is password-protected; it cannot be read without the password")
        if kind == "corrupt":
            raise CorruptPdfError(path, f"PDF cannot be opened: {value}")
        if kind == "unreadable":
            raise CorruptPdfError(path, f"PDF text cannot be read: {value}")
        if kind == "memory":
            raise PdfReaderError(path, f"reading the PDF needs more than {self.memory_limit >> 20} MB; skipped")
        return list(value)

    def _ask(self, data: bytes) -> tuple[str, Any]:
        conn = self._connection()
        try:
            conn.send_bytes(data)
            if not conn.poll(self.time_limit):
                return "timeout", None
            reply: tuple[str, Any] = conn.recv()
        except (EOFError, OSError):
            return "died", None
        return reply

    def _connection(self) -> Connection:
        if self._process is None or self._process.poll() is not None or self._conn is None:
            ours, theirs = socket.socketpair()
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(Path(__file__).parent.parent), str(Path(__file__).parent),
                 str(theirs.fileno()), str(os.getpid()), str(self.memory_limit)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, close_fds=True,
            )
            theirs.close()
            self._conn = Connection(ours.detach())
            self._starter = threading.current_thread()
        return self._conn

    def _stop(self, *, timed_out: bool) -> str:
        """End the helper (it is restarted on the next PDF); the reason, for the letter's error."""
        assert self._process is not None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if timed_out:
            self._process.kill()
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        self._process = None
        if timed_out:
            return f"reading the PDF took over {self.time_limit:.0f} s; stopped"
        if code < 0:
            name = signal.Signals(-code).name
            return (f"the PDF reader crashed on this file ({name}; out of memory at the "
                    f"{self.memory_limit >> 20} MB limit, or a malformed PDF)")
        return f"the PDF reader stopped on this file (exit status {code})"


# At most this many helpers per process: a second lets two letters' PDFium work overlap (``read_ahead``
# on two cores), and each started only when two PDFs are read at once.
READERS = 2
_readers = [PdfReader() for _ in range(READERS)]


def start_reader() -> None:
    """Start this process's first reader helper now (if it is not running), so that it loads PDFium
    while the caller does other work; the calling thread should live as long as the process."""
    with _readers[0]._lock, contextlib.suppress(OSError):  # could not start: the first PDF says why
        _readers[0]._connection()


def stop_readers() -> None:
    """End this process's reader helpers now (they start again on the next PDF)."""
    for reader in _readers:
        with reader._lock:
            if reader._process is not None:
                reader._stop(timed_out=True)  # killed, as a stalled one is: one still loading PDFium would not hear EOF


def pdf_pages(path: str | Path, data: bytes) -> list[str]:
    """The text of each page of a PDF, read by the first of this process's reader helpers that is free
    (else the first, once it is)."""
    for reader in _readers:
        if (pages := reader.pages(path, data, wait=False)) is not None:
            return pages
    return _readers[0].pages(path, data)  # type: ignore[return-value]  # waiting, it always answers


def serve(fd: int, parent_pid: int, memory_limit: int) -> None:
    """The helper process: answer each PDF sent until the parent closes the connection."""
    import resource

    from ..lifeline import tie_to_parent

    tie_to_parent(parent_pid)
    conn = Connection(fd)
    import pypdfium2 as pdfium  # before the limit: loading the library maps more than it uses

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            reply = _read(pdfium, data)
        except MemoryError:
            reply = ("memory", None)
        conn.send(reply)


def _read(pdfium: Any, data: bytes) -> tuple[str, Any]:
    """``("ok", page texts)``, or the kind of failure and PDFium's message."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        return ("password" if "password" in str(e).lower() else "corrupt"), str(e)
    try:
        texts = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "ok", texts
    except pdfium.PdfiumError as e:
        return "unreadable", str(e)
    finally:
        pdf.close()

