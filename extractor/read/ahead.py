"""Letters read ahead of the one being parsed: PDFium works in the reader's helper processes while
this process parses, so on two cores a batch costs about what the slower of the two does, not their
sum; two letters read at once keep a helper busy while the other's text crosses to this process."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from .files import LetterSource, LetterText, read_letter
from .pdf import READERS

# Long-lived threads, one per PDF reader helper (a helper lives as long as the thread that started it).
_reader = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="imr-extract-read-ahead")


def read_ahead(sources: Iterable[LetterSource], *, max_bytes: int,
               ahead: int = 1) -> Iterator[tuple[LetterSource, LetterText | Exception]]:
    """Each source with its letter, or with the exception reading it raised, in order; the next
    ``ahead`` letters are read while the caller works on this one (taken from ``sources`` early)."""

    def read(source: LetterSource) -> LetterText | Exception:
        try:
            return read_letter(source, max_bytes=max_bytes)
        except Exception as e:  # noqa: BLE001 - handed to the caller with its letter
            return e

    queue: deque[tuple[LetterSource, Future[LetterText | Exception]]] = deque()
    for source in sources:
        queue.append((source, _reader.submit(read, source)))
        if len(queue) > ahead:
            done, letter = queue.popleft()
            yield done, letter.result()
    while queue:
        done, letter = queue.popleft()
        yield done, letter.result()
