"""One run at a time on an output, whatever name each run gives it: a symlink, a relative path, a
symlinked folder or a hard link is the same output, for every sink (issue 15: two runs on one JSONL
through a symlink both exited 0 and the file held 51 of the first run's 60 records)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.errors import OutputInUseError
from extractor.sinks import lock_file, output_lock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_letters import unique_letters  # noqa: E402 - benchmarks/ is not a package

CLI = [sys.executable, "-c", "from extractor.cli import main; main()"]
LETTER = ROOT / "evals" / "letters" / "imr-000.txt"
IN_USE = "another imr-extract run is writing this output"


def _symlink(real: Path, tmp: Path) -> Path:
    alias = tmp / "elsewhere" / f"alias{real.suffix}"
    alias.parent.mkdir(exist_ok=True)
    alias.symlink_to(os.path.relpath(real, alias.parent))  # a relative symlink, from another folder
    return alias


def _folder_link(real: Path, tmp: Path) -> Path:
    (tmp / "linked").symlink_to(real.parent, target_is_directory=True)
    return tmp / "linked" / real.name


def _relative(real: Path, tmp: Path) -> Path:
    os.chdir(tmp / "elsewhere")
    return Path("..") / real.parent.name / real.name


def _hard_link(real: Path, tmp: Path) -> Path:
    alias = tmp / "elsewhere" / f"hard{real.suffix}"
    os.link(real, alias)
    return alias


ALIASES: dict[str, Callable[[Path, Path], Path]] = {"symlink": _symlink, "symlinked folder": _folder_link,
                                                    "relative path": _relative, "hard link": _hard_link}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".duckdb"])
@pytest.mark.parametrize("alias", list(ALIASES))
def test_every_name_of_an_output_is_the_same_lock(tmp_path: Path, suffix: str, alias: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    real = tmp_path / "out" / f"records{suffix}"
    if alias == "hard link":
        if suffix == ".parquet":
            pytest.skip("a Parquet output is a folder: no hard link can name it")
        real.write_bytes(b"")
    other = ALIASES[alias](real, tmp_path)
    with output_lock(real):
        with pytest.raises(OutputInUseError, match=IN_USE), output_lock(other):
            pass
        result = CliRunner().invoke(app, ["extract", str(LETTER), "-o", str(other)])
        assert result.exit_code == 2 and IN_USE in result.output
    with output_lock(other):  # free again once the first run ends
        pass


def test_a_second_run_through_any_alias_stops_and_the_first_keeps_every_record(tmp_path: Path) -> None:
    letters = unique_letters(tmp_path / "letters", 600)
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "out" / "records.jsonl"
    first = subprocess.Popen([*CLI, "extract", str(tmp_path / "letters"), "-o", str(out), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_text().count("\n") >= 5):
            assert first.poll() is None and time.monotonic() < deadline, "the first run ended before it could be paused"
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # the first run holds the output, mid-way
        aliases = [_symlink(out, tmp_path), _hard_link(out, tmp_path), Path("..") / "out" / "records.jsonl"]
        for alias in aliases:
            second = subprocess.run([*CLI, "extract", str(LETTER), "-o", str(alias)], capture_output=True, text=True,
                                    timeout=120, cwd=tmp_path / "elsewhere")
            assert second.returncode == 2 and IN_USE in second.stderr, (alias, second.stderr)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["provenance"]["source_path"] for r in records) == sorted(map(str, letters))
    assert all(r["error"] is None for r in records)


def test_a_second_batch_submit_on_one_folder_stops_before_sending_anything(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    assert CliRunner().invoke(app, ["batch", "prepare", str(LETTER), "-o", str(batch)]).exit_code == 0
    alias = tmp_path / "alias"
    alias.symlink_to(batch, target_is_directory=True)
    env = {"IMR_BASE_URL": "http://127.0.0.1:1/v1", "IMR_API_KEY": "sk-unused-here-0000"}
    with lock_file(batch / ".submit.lock", "held by the first submit"):  # the first submit, uploading
        result = CliRunner().invoke(app, ["batch", "submit", str(alias)], env=env)
    assert result.exit_code == 2 and "another imr-extract run is submitting this batch" in result.output
    assert not (batch / "submitted.json").exists()
