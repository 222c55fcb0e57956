"""Inputs written by someone else, and outputs that cannot be written: one line naming the file and
the reason, never a traceback (hostile input, round three)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

from extractor.cli import app
from extractor.review.site import page_names

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "evals" / "letters" / "imr-000.txt"
runner = CliRunner()


def _one_line(result: Result, *words: str, code: int = 2) -> None:
    """Exit ``code``, no traceback, and one line of the output that holds every word."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (KeyError, AttributeError, OSError))
    assert any(all(w in line for w in words) for line in result.output.splitlines()), result.output


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A JSONL file and a DuckDB store of two letters, as extract writes them."""
    folder = tmp_path_factory.mktemp("outputs")
    letters = [str(EXAMPLE), str(ROOT / "evals" / "letters" / "imr-002.txt")]
    for name in ("records.jsonl", "store.duckdb"):
        done = runner.invoke(app, ["extract", *letters, "-o", str(folder / name), "-b", "offline", "-q"])
        assert done.exit_code == 0, done.output
    return {"jsonl": folder / "records.jsonl", "duckdb": folder / "store.duckdb"}


@pytest.mark.parametrize("command", ["review", "stats"])
def test_a_records_file_that_is_not_utf8_or_is_a_folder_is_one_line(tmp_path: Path, outputs: dict[str, Path],
                                                                     command: str) -> None:
    text = outputs["jsonl"].read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(text[:200] + b"\xff\xfe" + text[200:])
    folder = tmp_path / "x.jsonl"
    folder.mkdir()
    extra = ["-o", str(tmp_path / "site")] if command == "review" else []
    _one_line(runner.invoke(app, [command, str(bad), *extra]), str(bad), "line 1", "not UTF-8")
    _one_line(runner.invoke(app, [command, str(folder), *extra]), str(folder), "a folder, not a records file")


def _cut_short(store: Path, to: Path) -> Path:
    data = store.read_bytes()
    to.write_bytes(data[: len(data) * 4 // 5])
    return to


@pytest.mark.parametrize("command", ["review", "stats", "resume", "extract"])
def test_a_duckdb_store_cut_short_is_one_line(tmp_path: Path, outputs: dict[str, Path], command: str) -> None:
    store = _cut_short(outputs["duckdb"], tmp_path / "cut.duckdb")
    args = {"review": ["review", str(store), "-o", str(tmp_path / "site")], "stats": ["stats", str(store)],
            "resume": ["extract", str(EXAMPLE), "-o", str(store), "-b", "offline", "--resume"],
            "extract": ["extract", str(EXAMPLE), "-o", str(store), "-b", "offline"]}[command]
    _one_line(runner.invoke(app, args), str(store), "DuckDB store")


@pytest.mark.parametrize("record", ["{not json", '{"document_id": 5}', None])
def test_a_stored_record_that_is_not_a_record_is_one_line_naming_the_letter(tmp_path: Path, outputs: dict[str, Path],
                                                                            record: str | None) -> None:
    """Stop with one line (as a bad JSONL line does) rather than show figures without the letter."""
    store = tmp_path / "bad.duckdb"
    shutil.copy(outputs["duckdb"], store)
    with duckdb.connect(str(store)) as con:
        first = con.execute("SELECT min(source_path) FROM letters").fetchone()[0]  # type: ignore[index]
        con.execute("UPDATE letters SET record = ? WHERE source_path = ?", [record, first])
    # stats is SQL over the store's columns and never reads the stored record; the site is built from the records
    _one_line(runner.invoke(app, ["review", str(store), "-o", str(tmp_path / "site")]), str(store), first, "not a record")


def test_a_document_id_of_300_characters_gets_a_short_unique_page(tmp_path: Path, outputs: dict[str, Path]) -> None:
    lines = outputs["jsonl"].read_text().splitlines()
    records = []
    for n, line in enumerate(lines):
        data = json.loads(line)
        data["document_id"] = "A" * 299 + str(n)  # the same 299 first characters: unique only by the end
        records.append(json.dumps(data))
    long = tmp_path / "long.jsonl"
    long.write_text("\n".join(records) + "\n")
    done = runner.invoke(app, ["review", str(long), "-o", str(tmp_path / "site")])
    assert done.exit_code == 0, done.output
    pages = sorted((tmp_path / "site" / "letters").iterdir())
    assert len(pages) == 2 and all(len(p.name.encode()) <= 255 for p in pages)
    from extractor.review.load import load_records

    assert page_names(load_records(long)) == page_names(load_records(long))  # stable from run to run


def test_review_onto_a_file_is_refused_before_the_work(tmp_path: Path, outputs: dict[str, Path]) -> None:
    target = tmp_path / "afile"
    target.write_text("mine")
    _one_line(runner.invoke(app, ["review", str(outputs["jsonl"]), "-o", str(target)]), str(target), "not a folder")
    _one_line(runner.invoke(app, ["review", str(outputs["jsonl"]), "-o", str(target / "site")]), "not a folder")
    assert target.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_review_into_a_read_only_folder_is_refused(tmp_path: Path, outputs: dict[str, Path]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _one_line(runner.invoke(app, ["review", str(outputs["jsonl"]), "-o", str(locked / "site")]), "cannot be written")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("option", ["--report-json", "--report-html"])
@pytest.mark.parametrize("where", ["missing", "folder", "file_parent"])
def test_eval_outputs_are_checked_before_the_eval_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       option: str, where: str) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the eval ran before its outputs were checked")

    monkeypatch.setattr("extractor.pipeline.extract_many", never)  # the command imports it when it runs
    (tmp_path / "afile").write_text("")
    target = {"missing": tmp_path / "no-such-folder" / "r.out", "folder": tmp_path,
              "file_parent": tmp_path / "afile" / "r.out"}[where]
    done = runner.invoke(app, ["eval", "--letters", str(ROOT / "evals" / "letters"), "--gold", str(ROOT / "evals" / "gold"),
                               "-b", "offline", option, str(target)])
    _one_line(done, str(target))


def test_a_gold_file_without_a_letter_is_named(tmp_path: Path) -> None:
    gold, letters = tmp_path / "gold", tmp_path / "letters"
    gold.mkdir()
    letters.mkdir()
    for name in ("imr-000", "imr-002"):
        shutil.copy(ROOT / "evals" / "gold" / f"{name}.json", gold)
    shutil.copy(EXAMPLE, letters)
    done = runner.invoke(app, ["eval", "--letters", str(letters), "--gold", str(gold), "-b", "offline", "-q"])
    assert done.exit_code == 0, done.output
    named = [line for line in done.output.splitlines() if "imr-002.json" in line]
    assert len(named) == 1 and "no letter" in named[0] and str(letters) in named[0], done.output


def test_cache_stats_and_clear_on_a_file_say_it_is_not_a_folder_and_keep_it(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    monkeypatch.setenv("IMR_CACHE_DIR", str(mine))
    stats = runner.invoke(app, ["cache", "stats"])
    assert stats.exit_code == 0 and "not a folder" in stats.output and "cache clear" not in stats.output, stats.output
    _one_line(runner.invoke(app, ["cache", "clear"]), str(mine), "not a folder")
    assert mine.read_text() == "my notes"


def test_cache_clear_never_removes_a_folder_of_other_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that is not a cache (a corrupt cache.db among someone's files) is left as it is."""
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"not a database at all" * 100)
    (folder / "thesis.tex").write_text("years of work")
    monkeypatch.setenv("IMR_CACHE_DIR", str(folder))
    _one_line(runner.invoke(app, ["cache", "clear"]), str(folder), "holds other files")
    assert (folder / "thesis.tex").read_text() == "years of work"


def test_what_no_command_foresaw_is_still_one_line(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The console script's last resort, in addition to each command's own messages."""
    from extractor import cli
    from extractor.models import Record

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something\nnobody expected")

    monkeypatch.setattr(Record, "model_json_schema", broken)
    monkeypatch.setattr("sys.argv", ["imr-extract", "schema"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected RuntimeError: something nobody expected" in err
    monkeypatch.setenv("IMR_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main()


def test_the_installed_command_is_that_last_resort() -> None:
    """The ``imr-extract`` script users run calls ``main`` (its one-line last resort, its quick start), not
    the typer app, whose unforeseen errors are tracebacks."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["imr-extract"] == "extractor.cli:main"


def test_a_parquet_part_cut_short_is_one_line_on_resume_and_review(tmp_path: Path) -> None:
    out = tmp_path / "items.parquet"
    assert runner.invoke(app, ["extract", str(EXAMPLE), "-o", str(out), "-b", "offline", "-q"]).exit_code == 0
    part = next(out.glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:300])
    _one_line(runner.invoke(app, ["extract", str(EXAMPLE), "-o", str(out), "-b", "offline", "--resume"]), str(part),
              "not a readable part")
    _one_line(runner.invoke(app, ["stats", str(out)]), str(out), "not a readable Parquet")
