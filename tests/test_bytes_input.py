"""Letters from bytes (object storage, a database, a queue): the same record as from the file, the
same limits and errors, the name given in the record and in every error."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from extractor import CorruptPdfError, Settings, UnreadableFileError, extract, extract_many
from extractor.models import Record

ROOT = Path(__file__).resolve().parent.parent
PDF = ROOT / "evals" / "letters" / "CM16-0230548.pdf"
TXT = ROOT / "evals" / "letters" / "imr-000.txt"
NAME = "s3://imr-letters/2016/CM16-0230548.pdf"


def _without_source(record: Record) -> dict[str, Any]:
    dumped = record.model_dump()
    dumped["provenance"].pop("source_path")
    return dumped


def test_bytes_and_file_objects_give_the_files_record() -> None:
    from_file = extract(PDF)
    for source in (PDF.read_bytes(), io.BytesIO(PDF.read_bytes()), memoryview(PDF.read_bytes())):
        record = extract(source, name=NAME)
        assert record.document_id == "CM16-0230548" and record.provenance.source_path == NAME
        assert _without_source(record) == _without_source(from_file)
    with PDF.open("rb") as f:  # a file object names itself
        assert extract(f).model_dump() == from_file.model_dump()
    text = extract(TXT.read_bytes(), name="letters/imr-000")  # no suffix, no %PDF: text
    assert _without_source(text) == _without_source(extract(TXT))


def test_bytes_need_a_name() -> None:
    with pytest.raises(TypeError, match="name"):
        extract(PDF.read_bytes())


class _Endless(io.RawIOBase):
    """A stream that never ends; records how much was asked of it."""

    def __init__(self) -> None:
        self.asked = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "read everything from a stream that never ends"
        self.asked += size
        return b"%PDF" + b"x" * (size - 4)


def test_bytes_over_the_size_limit_are_refused_after_reading_one_byte_past_it() -> None:
    settings = Settings(max_file_mb=0.01)
    with pytest.raises(UnreadableFileError, match=re.escape(NAME) + ".*limit"):
        extract(b"x" * 20_000, name=NAME, settings=settings)
    stream = _Endless()
    with pytest.raises(UnreadableFileError, match="limit"):
        extract(stream, name=NAME, settings=settings)
    assert stream.asked == settings.max_file_bytes + 1


@pytest.mark.parametrize(("data", "error", "words"), [
    (b"%PDF-1.7 cut short", CorruptPdfError, "PDF cannot be opened"),
    (b"", UnreadableFileError, "empty"),
    (io.StringIO("text mode"), UnreadableFileError, "binary mode"),
])
def test_bad_bytes_raise_the_usual_error_naming_the_letter(data: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=re.escape(NAME) + ".*" + words):
        extract(data, name=NAME)


def test_a_batch_of_bytes_in_order_with_its_failures_named() -> None:
    sources: list[Any] = [(NAME, PDF.read_bytes()), ("db://letters/17", b"\x00\x01 binary"), ("q/imr-000.txt", io.BytesIO(TXT.read_bytes())),
                          b"no name", PDF]
    records = list(extract_many(sources))
    assert [r.provenance.source_path for r in records] == [NAME, "db://letters/17", "q/imr-000.txt", "(unnamed letter)", str(PDF)]
    assert [r.ok for r in records] == [True, False, True, False, True]
    assert records[1].error is not None and records[1].error.type == "UnreadableFileError"
    assert records[3].error is not None and "name" in records[3].error.message


def test_workers_take_bytes_and_file_objects_as_one_process_does() -> None:
    def sources() -> list[Any]:
        return [(NAME, PDF.read_bytes()), ("q/imr-000.txt", io.BytesIO(TXT.read_bytes())), b"no name",
                ("big.pdf", io.BytesIO(b"%PDF" + b"x" * 40_000))]

    settings = Settings(max_file_mb=0.03)
    one = [r.model_dump() for r in extract_many(sources(), settings=settings)]
    two = [r.model_dump() for r in extract_many(sources(), settings=settings.model_copy(update={"workers": 2}))]
    assert two == one
    assert [r["error"]["type"] if r["error"] else None for r in one] == [None, None, "TypeError", "UnreadableFileError"]


def test_the_readmes_ingestion_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Letters from bytes"):]
    snippet = section[section.index("```python") + len("```python"):section.index("```\n", section.index("```python") + 9)]
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - the README's own example
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["document_id"] for r in records] == sorted(p.stem for p in (ROOT / "extractor" / "examples").glob("*.pdf"))
    assert all(r["provenance"]["source_path"].startswith("s3://imr-letters/") and r["items"] for r in records)
    assert os.path.getsize(tmp_path / "records.jsonl") > 0
