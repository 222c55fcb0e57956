"""Bad input: a clear error naming the file and the reason; the batch goes on; nothing finished is lost."""

from pathlib import Path

import pytest

from extractor import LetterError, extract, extract_many

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "evals" / "letters" / "CM16-0230548.pdf"

EXPECTED = {
    "empty": ("UnreadableFileError", "empty"),
    "binary": ("UnreadableFileError", "binary"),
    "not_imr": ("NotAnImrLetterError", "not an IMR"),
    "corrupt_pdf": ("CorruptPdfError", "PDF"),
    "not_a_pdf": ("CorruptPdfError", "not a PDF"),
    "unsupported": ("UnreadableFileError", "unsupported file type"),
    "huge": ("UnreadableFileError", "limit"),
    "scanned_pdf": ("NoTextLayerError", "no text layer"),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_bad_input_raises_a_clear_error(kind: str, bad_inputs: dict[str, Path]) -> None:
    path = bad_inputs[kind]
    with pytest.raises(LetterError) as info:
        extract(path)
    error_type, words = EXPECTED[kind]
    assert type(info.value).__name__ == error_type
    assert str(path) in str(info.value) and words in str(info.value)


def test_a_batch_survives_every_bad_input_in_order(bad_inputs: dict[str, Path]) -> None:
    paths = [GOOD, *[bad_inputs[k] for k in sorted(bad_inputs)], GOOD]
    records = list(extract_many(paths))
    assert [r.provenance.source_path for r in records] == [str(p) for p in paths]
    assert records[0].ok and records[-1].ok and len(records[-1].items) == 2
    assert [r.error.type for r in records[1:-1] if r.error] == [EXPECTED[k][0] for k in sorted(bad_inputs)]


def test_mis_encoded_text_is_read_with_a_warning(tmp_path: Path) -> None:
    text = (ROOT / "evals" / "letters" / "imr-000.txt").read_text().replace("Butrans", "Butrans\u00ae", 1)
    path = tmp_path / "cp1252.txt"
    path.write_bytes(text.encode("cp1252"))
    record = extract(path)
    assert len(record.items) == 3
    assert any(w.code == "encoding" for w in record.warnings)
    assert "Butrans\u00ae" in record.items[0].request
