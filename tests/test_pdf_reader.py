"""The isolated PDF reader: a PDF that crashes, exhausts or stalls it costs that PDF only."""

import threading
from pathlib import Path

import pytest
from poison import pdf_bomb

from extractor.errors import PdfReaderError
from extractor.read.pdf import PdfReader

GOOD = Path(__file__).resolve().parent.parent / "evals" / "letters" / "CM16-0230548.pdf"


def test_a_pdf_over_the_memory_limit_costs_only_itself(tmp_path: Path) -> None:
    reader = PdfReader(memory_limit=512 * 1024 * 1024)
    bomb = pdf_bomb(tmp_path / "bomb.pdf", inflated_mb=700)
    with pytest.raises(PdfReaderError) as info:
        reader.pages(bomb, bomb.read_bytes())
    assert str(bomb) in str(info.value) and "512 MB" in str(info.value)
    assert "CM16-0230548" in "".join(reader.pages(GOOD, GOOD.read_bytes()))  # a new helper took over


def test_a_pdf_over_the_time_limit_is_stopped() -> None:
    reader = PdfReader(time_limit=0.001)
    with pytest.raises(PdfReaderError, match="took over"):
        reader.pages(GOOD, GOOD.read_bytes())


def test_the_helper_outlives_a_thread_that_started_it() -> None:
    reader = PdfReader()
    data = GOOD.read_bytes()
    first = threading.Thread(target=reader.pages, args=(GOOD, data))
    first.start()
    first.join()  # the kernel now ends the helper that thread started
    assert reader.pages(GOOD, data)


def test_a_reader_started_ahead_can_be_stopped_and_starts_again_when_needed() -> None:
    """The command starts the helper before it knows whether worker processes will read the PDFs; a run
    that turns out to use them ends it, and a later PDF starts it again."""
    from extractor.read import pdf

    pdf.start_reader()
    started = pdf._readers[0]._process
    assert started is not None and started.poll() is None
    pdf.stop_readers()
    assert pdf._readers[0]._process is None and started.poll() is not None
    assert "CM16-0230548" in "".join(pdf.pdf_pages(GOOD, GOOD.read_bytes()))
