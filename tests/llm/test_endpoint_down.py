"""An endpoint that does not answer is said once, naming it (never its credentials), the letters that
kept the parser's values because of it are counted at the end, and the exit status tells (issue 15:
exit 0 and "2 letter(s) extracted", not a word about the endpoint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llm_fakes import ROOT, letter_path

CLI = [sys.executable, "-c", "from extractor.cli import main; main()"]


def test_an_unreachable_endpoint_is_said_once_counted_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMR_")}
    env = {**clean, "PYTHONPATH": str(ROOT), "IMR_BASE_URL": "http://someone:hunter2pass@127.0.0.1:1/v1?token=abc",
           "IMR_MAX_ATTEMPTS": "2", "IMR_CONTEXT_TOKENS": "128000", "IMR_CACHE_DIR": str(tmp_path / "cache")}
    letters = [letter_path("imr-000"), letter_path("imr-002")]
    result = subprocess.run([*CLI, "extract", *map(str, letters), "-o", str(out), "--backend", "hybrid"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1, result.stderr
    said = [line for line in result.stderr.splitlines() if "the model endpoint http://127.0.0.1:1/v1 failed" in line]
    assert len(said) == 1 and "could not connect" in said[0]
    assert "2 kept the parser's values because the endpoint failed" in result.stderr
    assert "hunter2pass" not in result.stderr + out.read_text() and "token=abc" not in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 2 and all(r["error"] is None and r["items"] for r in records)
    assert all(any(w["code"] == "endpoint_failed" for w in r["warnings"]) for r in records)
    again = subprocess.run([*CLI, "extract", *map(str, letters), "-o", str(out), "--backend", "hybrid", "--resume"],
                           capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 1 and "already done" not in again.stderr  # asked again: the endpoint may be back
    assert "2 kept the parser's values because the endpoint failed" in again.stderr
    assert len(out.read_text().splitlines()) == 2  # each letter once


def test_eval_says_it_too(tmp_path: Path) -> None:
    for folder in ("letters", "gold"):
        (tmp_path / folder).mkdir()
    letter = letter_path("imr-000")
    (tmp_path / "letters" / letter.name).write_bytes(letter.read_bytes())
    (tmp_path / "gold" / "imr-000.json").write_bytes((ROOT / "evals" / "gold" / "imr-000.json").read_bytes())
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMR_")}
    env = {**clean, "PYTHONPATH": str(ROOT), "IMR_BASE_URL": "http://127.0.0.1:1/v1", "IMR_MAX_ATTEMPTS": "1",
           "IMR_CONTEXT_TOKENS": "128000", "IMR_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([*CLI, "eval", "--letters", str(tmp_path / "letters"), "--gold", str(tmp_path / "gold"),
                             "--quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("the model endpoint http://127.0.0.1:1/v1 failed") == 1
    assert "1 kept the parser's values because the endpoint failed" in result.stderr
