"""``batch collect`` on a batch folder or results someone else touched: a damaged ``batch.json`` is one
line, a manifest edited or repeated never gives a letter another letter's answers nor two records,
two different answers to one request flag the letter, results of errors only are said to be so, and
a model answer cannot swell a record without bound."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from llm_fakes import MODEL, letter_path
from test_batch import _answers, _results, _write, runner

from extractor.batch.collect import collect
from extractor.batch.folder import Batch
from extractor.batch.prepare import BATCH_JSON, MANIFEST, prepare
from extractor.cli import app
from extractor.settings import Settings

IDS = ["CM16-0230548", "imr-000", "syn-c-01"]


@pytest.fixture
def prepared(tmp_path: Path) -> tuple[Path, Settings, list[dict[str, Any]]]:
    """A batch of three letters (copied, so that one can be changed) and the answers to its requests."""
    settings = Settings(model=MODEL, context_tokens=8192, cache_dir=tmp_path / "cache", no_cache=True, max_concurrency=2)
    letters = []
    for doc in IDS:
        source = letter_path(doc)
        letters.append(tmp_path / "letters" / source.name)
        letters[-1].parent.mkdir(exist_ok=True)
        letters[-1].write_bytes(source.read_bytes())
    folder = tmp_path / "batch"
    list(prepare([str(p) for p in letters], folder, backend="hybrid", settings=settings))
    return folder, settings, _results(folder, _answers())


def _collect_cli(tmp_path: Path, folder: Path, results: Path) -> Any:
    return runner.invoke(app, ["batch", "collect", str(results), "--requests", str(folder), "-o", str(tmp_path / "out.jsonl")])


@pytest.mark.parametrize(("change", "field"), [
    ({"mode": "bogus"}, "settings.mode"),
    ({"model": 123}, "settings.model"),
    ({"model": None}, "settings.model"),
    ({"max_tokens": "many"}, "settings.max_tokens"),
    ({"temperature": [0]}, "settings.temperature"),
])
def test_a_batch_json_with_a_setting_of_the_wrong_kind_is_one_line(tmp_path: Path, prepared: Any,
                                                                  change: dict[str, Any], field: str) -> None:
    folder, _, lines = prepared
    meta = json.loads((folder / BATCH_JSON).read_text())
    meta["settings"] |= change
    (folder / BATCH_JSON).write_text(json.dumps(meta))
    done = _collect_cli(tmp_path, folder, _write(tmp_path / "r.jsonl", lines))
    assert done.exit_code == 2 and "Traceback" not in done.output, done.output
    assert f"{folder / BATCH_JSON}: not what `batch prepare` writes: {field}:" in done.output


@pytest.mark.parametrize(("meta", "field"), [
    ({"backend": "offline"}, "backend"), ({"files": "requests-00001.jsonl"}, "files"),
    ({"files": ["../../etc/passwd"]}, "files.0"), ({"settings": None}, "settings"),
])
def test_a_batch_json_with_another_field_wrong_is_one_line(tmp_path: Path, prepared: Any, meta: dict[str, Any],
                                                           field: str) -> None:
    folder, _, lines = prepared
    (folder / BATCH_JSON).write_text(json.dumps(json.loads((folder / BATCH_JSON).read_text()) | meta))
    done = _collect_cli(tmp_path, folder, _write(tmp_path / "r.jsonl", lines))
    assert done.exit_code == 2 and f"not what `batch prepare` writes: {field}:" in done.output, done.output


def test_a_manifest_pointing_at_another_letter_gives_an_error_record_never_its_answers(
        tmp_path: Path, prepared: Any) -> None:
    folder, settings, lines = prepared
    entries = [json.loads(line) for line in (folder / MANIFEST).read_text().splitlines()]
    entries[0]["file"] = entries[1]["file"]  # the first line now names the second letter
    (folder / MANIFEST).write_text("".join(json.dumps(e) + "\n" for e in entries))
    records = list(collect(Batch.open(folder), [_write(tmp_path / "r.jsonl", lines)], settings))
    assert [r.provenance.source_path for r in records] == [entries[1]["file"], entries[2]["file"]]
    assert records[0].error is not None and records[0].error.type == "ChangedLetterError"
    assert "SHA-256" in records[0].error.message and records[1].ok


def test_a_letter_changed_since_prepare_is_an_error_record_in_its_place(tmp_path: Path, prepared: Any) -> None:
    folder, settings, lines = prepared
    second = json.loads((folder / MANIFEST).read_text().splitlines()[1])["file"]
    Path(second).write_text(Path(second).read_text() + "\nAn added line.\n")
    records = list(collect(Batch.open(folder), [_write(tmp_path / "r.jsonl", lines)], settings))
    assert [r.ok for r in records] == [True, False, True]
    assert records[1].provenance.source_path == second and records[1].error.type == "ChangedLetterError"  # type: ignore[union-attr]


def test_a_duplicated_manifest_line_gives_one_record_per_letter(tmp_path: Path, prepared: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    folder, _, lines = prepared
    manifest = (folder / MANIFEST).read_text().splitlines()
    (folder / MANIFEST).write_text("\n".join([manifest[0], *manifest, manifest[2]]) + "\n")
    done = _collect_cli(tmp_path, folder, _write(tmp_path / "r.jsonl", lines))
    assert done.exit_code == 0, done.output
    written = [json.loads(line)["provenance"]["source_path"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(written) == sorted(json.loads(line)["file"] for line in manifest)
    assert caplog.text.count("is listed already (line 1)") == 1 and caplog.text.count("is listed already (line 4)") == 1


def test_two_different_answers_to_one_request_flag_the_letter(tmp_path: Path, prepared: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    folder, settings, lines = prepared
    other = json.loads(json.dumps(lines[1]))
    call = other["response"]["body"]["choices"][0]["message"]["tool_calls"][0]["function"]
    answer = json.loads(call["arguments"])
    answer["items"][0]["decision"] = "overturned" if answer["items"][0]["decision"] == "upheld" else "upheld"
    call["arguments"] = json.dumps(answer)
    same = json.loads(json.dumps(lines[2]))
    same["id"] = "another-line-id"  # the same answer again (a file downloaded twice): no doubt
    records = list(collect(Batch.open(folder), [_write(tmp_path / "r.jsonl", [*lines, other, same])], settings))
    assert [any(f.code == "conflicting_answers" for f in r.flags) for r in records] == [False, True, False]
    assert records[1].needs_review and "two different answers" in records[1].review_reasons[0]
    assert "1 request(s) have two different answers" in caplog.text


def test_results_of_errors_only_are_said_to_be_errors(tmp_path: Path, prepared: Any) -> None:
    folder, _, lines = prepared
    failed = [{"id": line["id"], "custom_id": line["custom_id"], "response": None,
               "error": {"code": "batch_expired", "message": "This request could not be executed before the batch expired"}}
              for line in lines]
    done = _collect_cli(tmp_path, folder, _write(tmp_path / "errors.jsonl", failed))
    assert done.exit_code == 2 and "only errors" in done.output and "are they this batch's" not in done.output, done.output


def test_an_answer_of_50000_made_up_diagnoses_is_bounded_and_said_once(tmp_path: Path, prepared: Any,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    folder, settings, lines = prepared
    call = lines[0]["response"]["body"]["choices"][0]["message"]["tool_calls"][0]["function"]
    answer = json.loads(call["arguments"])
    answer["diagnoses"] = [f"made-up condition number {n}" for n in range(50_000)]
    call["arguments"] = json.dumps(answer)
    caplog.set_level(logging.WARNING)
    record = list(collect(Batch.open(folder), [_write(tmp_path / "r.jsonl", lines)], settings))[0]
    assert len(record.model_dump_json()) < 100_000
    dropped = [w for w in record.warnings if w.code == "dropped_value"]
    assert len(dropped) == 1 and dropped[0].message.startswith("50 diagnosis value(s) dropped"), dropped
    assert "49950 of 50000 diagnoses dropped" in caplog.text


@pytest.mark.parametrize("submitted", ['[{"file": 5, "input_file_id": "f"}]', '[{"file": "a", "input_file_id": "f", "errors": "x"}]',
                                       '{"file": "a"}', "[1]"])
def test_a_submitted_json_of_the_wrong_types_is_one_line(tmp_path: Path, prepared: Any, submitted: str) -> None:
    folder, _, _ = prepared
    (folder / "submitted.json").write_text(submitted)
    done = runner.invoke(app, ["batch", "status", str(folder)])
    assert done.exit_code == 2 and "Traceback" not in done.output, done.output
    assert f"{folder / 'submitted.json'}: not what `batch submit` writes" in done.output


def test_submit_and_download_check_where_they_write_before_any_call(tmp_path: Path, prepared: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _, _ = prepared
    monkeypatch.setenv("IMR_API_KEY", "sk-test")
    monkeypatch.setenv("IMR_BASE_URL", "http://127.0.0.1:9/v1")  # nothing may be called: it would fail otherwise
    (folder / "submitted.json").mkdir()
    (folder / "results").write_text("")
    submitted = runner.invoke(app, ["batch", "submit", str(folder)])
    assert submitted.exit_code == 2 and f"{folder / 'submitted.json'}: a folder" in submitted.output, submitted.output
    (folder / "submitted.json").rmdir()
    downloaded = runner.invoke(app, ["batch", "download", str(folder)])
    assert downloaded.exit_code == 2 and f"{folder / 'results'}: not a folder" in downloaded.output, downloaded.output
