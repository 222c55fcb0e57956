"""Starting is cheap: the package, `--help`, `schema` and `cache stats` load only what they use, and
the PDF reader's helper process loads PDFium and not the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from extractor.read import pdf

HEAVY = {"matplotlib", "pyarrow", "duckdb", "instructor", "openai", "jinja2", "fastapi", "uvicorn", "playwright",
         "drug_named_entity_recognition", "pypdfium2"}
# The modules a process has loaded, printed when it ends (after typer's SystemExit too).
SHOW_MODULES = "import atexit, json, sys; atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr)); "


def _loaded(code: str, *args: str, tmp_path: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", SHOW_MODULES + code, *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    return {name.split(".")[0] for name in json.loads(done.stderr.strip().splitlines()[-1])}


def test_importing_the_package_and_the_command_line_loads_nothing_heavy(tmp_path: Path) -> None:
    loaded = _loaded("import extractor, extractor.cli", tmp_path=tmp_path)
    assert not loaded & (HEAVY | {"pydantic", "rapidfuzz"}), loaded & (HEAVY | {"pydantic", "rapidfuzz"})


def test_the_reading_package_loads_no_models_until_its_text_names_are_used(tmp_path: Path) -> None:
    """The command starts the PDF reader's helper from ``extractor.read`` before pydantic loads; the
    normalising names are still there for whoever imports them."""
    assert "pydantic" not in _loaded("import extractor.read.pdf", tmp_path=tmp_path)
    assert "pydantic" in _loaded("from extractor.read import normalise, CleanText, collapse", tmp_path=tmp_path)


def test_an_offline_batch_over_workers_loads_no_model_stack(tmp_path: Path) -> None:
    """Each worker process runs the pipeline and the sharding: the model client (openai, instructor,
    httpx) is 40 MB a process that an offline batch does not use."""
    loaded = _loaded("import extractor.pipeline, extractor.run.shards", tmp_path=tmp_path)
    assert not loaded & (HEAVY | {"httpx", "httpx2", "diskcache"}), loaded & (HEAVY | {"httpx", "httpx2", "diskcache"})


@pytest.mark.parametrize("command", [["--help"], ["extract", "--help"], ["schema"], ["cache", "stats"]])
def test_light_commands_load_only_what_they_use(command: list[str], tmp_path: Path) -> None:
    loaded = _loaded("from extractor.cli import main; main()", *command, tmp_path=tmp_path)
    assert not loaded & HEAVY, loaded & HEAVY


def test_the_pdf_helper_does_not_load_the_package(tmp_path: Path) -> None:
    """Its start costs Python and PDFium: the record models (pydantic) are never mapped into it."""
    reader = pdf.PdfReader()
    letter = Path(__file__).resolve().parent.parent / "extractor" / "examples" / "CM16-0230548.pdf"
    try:
        assert reader.pages(letter, letter.read_bytes())
        assert reader._process is not None
        maps = Path(f"/proc/{reader._process.pid}/maps").read_text()
    finally:
        reader._stop(timed_out=True)
    assert "pdfium" in maps and "pydantic_core" not in maps


def test_an_offline_extract_into_a_log_loads_no_rich_and_no_model_stack(tmp_path: Path) -> None:
    """One letter's run, as a queue worker or a script starts it (stderr to a file): rich is for terminals."""
    letter = Path(__file__).resolve().parent.parent / "extractor" / "examples" / "CM16-0230548.pdf"
    out = tmp_path / "records.jsonl"
    loaded = _loaded("from extractor.cli import main; main()", "extract", "-b", "offline", "-q", "-o", str(out), str(letter),
                     tmp_path=tmp_path)
    assert out.read_text().count("\n") == 1
    unwanted = (HEAVY - {"drug_named_entity_recognition"}) | {"rich", "httpx", "diskcache"}  # a new HOME: the lexicon's first use
    assert not loaded & unwanted, loaded & unwanted
