from pathlib import Path

import pytest

from extractor.read.files import read_letter
from extractor.read.text import collapse, normalise

LETTERS = sorted((Path(__file__).resolve().parent.parent / "evals" / "letters").glob("*.*"))
LETTERS = [p for p in LETTERS if p.suffix in (".pdf", ".txt")]


@pytest.mark.parametrize("path", LETTERS, ids=lambda p: p.stem)
def test_every_clean_character_maps_back_to_itself(path: Path) -> None:
    raw = read_letter(path).text
    clean = normalise(raw)
    odd = {"\ufffe": "-", "\u00a0": " ", "\t": " ", "\u2009": " ", "\u00ad": "-"}
    for i, ch in enumerate(clean.text):
        if ch == "\n":
            continue
        assert odd.get(raw[clean.raw_offset(i)], raw[clean.raw_offset(i)]) == ch, (i, ch)


def test_page_breaks_blank_lines_and_margins_go() -> None:
    raw = " Decision rationale: Butrans is \n\n\n\n recommended\fas an option. \r\n"
    assert normalise(raw).text == "Decision rationale: Butrans is\nrecommended\nas an option."


def test_hyphenation_across_a_line_end_is_joined_and_spans_still_point_at_the_text() -> None:
    raw = "the treat-\nment was denied"
    clean = normalise(raw)
    assert clean.text == "the treatment was denied"
    start = clean.text.index("treatment")
    span = clean.span(start, start + len("treatment"))
    assert raw[span.start : span.end] == "treat-\nment"


def test_collapse() -> None:
    assert collapse("  a \n b\t c  ") == "a b c"


def test_pdfs_can_be_read_from_many_threads_at_once() -> None:
    """PDFium is not thread-safe; reading must be, or a batch's reader thread crashes the process."""
    from concurrent.futures import ThreadPoolExecutor

    pdfs = [p for p in LETTERS if p.suffix == ".pdf"][:12] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda p: read_letter(p).text, pdfs))
    assert texts == [read_letter(p).text for p in pdfs]
