"""The command line: the README's main job, exit codes, outputs, resume and eval."""

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from extractor.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_examples_extract_offline_and_say_so(tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    result = runner.invoke(app, ["extract", "--examples", "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and all(r["provenance"]["backend"] == "offline" for r in records)
    assert result.output.count("No LLM endpoint configured") == 1


def test_exit_codes_and_messages_name_the_file(tmp_path: Path, bad_inputs: dict[str, Path]) -> None:
    out = tmp_path / "out.jsonl"
    only_bad = runner.invoke(app, ["extract", str(bad_inputs["empty"]), "-o", str(out)])
    assert only_bad.exit_code == 2
    assert str(bad_inputs["empty"]) in only_bad.output and "file is empty" in only_bad.output
    mixed = runner.invoke(app, ["extract", str(ROOT / "evals/letters/imr-000.txt"), str(bad_inputs["scanned_pdf"]),
                                "-o", str(out)])
    assert mixed.exit_code == 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [bool(r["error"]) for r in lines] == [False, True]


def test_parquet_output_has_a_row_per_item(tmp_path: Path) -> None:
    out = tmp_path / "items.parquet"
    result = runner.invoke(app, ["extract", "--examples", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 2 + 2 + 2
    assert set(table.column("decision").to_pylist()) <= {"upheld", "overturned"}


def test_resume_skips_letters_already_done(tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    letters = ROOT / "evals" / "letters"
    runner.invoke(app, ["extract", str(letters / "imr-000.txt"), "-o", str(out)])
    result = runner.invoke(app, ["extract", str(letters / "imr-000.txt"), str(letters / "imr-002.txt"), "-o", str(out),
                                 "--resume"])
    assert result.exit_code == 0
    ids = [json.loads(line)["document_id"] for line in out.read_text().splitlines()]
    assert ids == ["imr-000", "imr-002"]
    assert "1 already done" in result.output


def test_eval_prints_a_table_and_writes_the_json_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", "--letters", str(ROOT / "evals/letters"), "--gold", str(ROOT / "evals/gold"),
                                 "--backend", "offline", "--report-json", str(report)])
    assert result.exit_code == 0, result.output
    assert "field_accuracy" in result.output
    data = json.loads(report.read_text())
    assert set(data["summary"]) >= {"item_recall", "item_precision", "decision_accuracy", "field_accuracy",
                                    "documents", "items"}
    assert set(data["layouts"]) == {"A", "B", "C"} and "rationale" in data["fields"]


def test_unknown_backend_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["extract", "--examples", "-o", str(tmp_path / "x.jsonl"), "--backend", "magic"])
    assert result.exit_code == 2 and "unknown backend 'magic'" in result.output


def test_cache_commands_use_the_configured_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IMR_CACHE_DIR", str(tmp_path / "cache"))
    stats = runner.invoke(app, ["cache", "stats"])
    assert stats.exit_code == 0 and str(tmp_path / "cache") in stats.output and "0 answer(s)" in stats.output
    cleared = runner.invoke(app, ["cache", "clear"])
    assert cleared.exit_code == 0 and "removed 0" in cleared.output


def test_extract_and_eval_against_an_endpoint_given_by_url(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The loopback stub endpoint answers with no items: the records come back, flagged for review,
    and the run ends with what it spent."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from llm_stub_server import StubServer

    monkeypatch.setenv("IMR_API_KEY", "sk-test-dummy")
    monkeypatch.setenv("IMR_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "records.jsonl"
    with StubServer(latency=0.01) as stub:
        result = runner.invoke(app, ["extract", "--examples", "-o", str(out), "--base-url", stub.url])
        assert result.exit_code == 0, result.output
        # per letter: the answer, then one re-ask saying what was missing; a third would repeat it, so is not sent
        assert stub.requests == 6
        again = runner.invoke(app, ["eval", "--letters", str(ROOT / "evals/letters"), "--gold", str(ROOT / "evals/gold"),
                                    "--base-url", stub.url, "--backend", "llm"])
        assert again.exit_code == 0, again.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["provenance"]["backend"] for r in records} == {"hybrid"}
    assert all(r["needs_review"] for r in records)
    assert "requests" in result.output and "sk-test-dummy" not in result.output + again.output
    assert "item_recall" in again.output
