"""The ``cascade`` backend: the parser reads every letter and only the fields it doubts (confidence below
``cascade_threshold``) are asked of the model, as ``hybrid`` asks them; a letter without doubt costs no
request. The parser's confidences are set here directly, so the tests choose what is in doubt."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from llm_fakes import GOLD, LETTERS, completion, gold, letter_path, scripted, status

import extractor.llm.backends as backends
from extractor.batch.collect import collect
from extractor.batch.folder import Batch
from extractor.batch.prepare import MANIFEST, prepare
from extractor.llm import cache_stats, summarise
from extractor.llm.cascade import doubts
from extractor.llm.check import JUDGEMENT_FIELDS
from extractor.llm.prompt import fill_prompt, hybrid_excerpt
from extractor.llm.schema import HEADER_FIELDS
from extractor.models import Record
from extractor.parse import clean_letter, parse_letter
from extractor.pipeline import extract
from extractor.read import read_letter
from extractor.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from llm_stub_server import Flaws, GoldAnswers, _completion  # noqa: E402 - benchmarks/ is not a package

LETTER = "syn-b-03"  # four items
SURE = 0.99
Doubt = dict[int, dict[str, float]]


def _doubting(monkeypatch: pytest.MonkeyPatch, doubts: dict[str, Doubt], header: dict[str, float] | None = None) -> None:
    """The parser's records with every askable field sure, but for ``doubts`` (document id -> item -> field ->
    confidence) and ``header`` (letter field -> confidence, on every letter)."""
    real = backends.parser_record

    def parser_record(letter: Any, parsed: Any, backend: str) -> Record:
        record = real(letter, parsed, backend)
        doubt = doubts.get(record.document_id, {})
        items = [item.model_copy(update={"confidence": {**dict.fromkeys(JUDGEMENT_FIELDS, SURE), **doubt.get(i, {})}})
                 for i, item in enumerate(record.items)]
        return record.model_copy(update={"items": items, "confidence": {**dict.fromkeys(HEADER_FIELDS, SURE), **(header or {})}})

    monkeypatch.setattr(backends, "parser_record", parser_record)


def _bodies(seen: list[httpx2.Request]) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in seen if r.method == "POST"]


def _values(record: Record) -> list[dict[str, Any]]:
    return [i.model_dump(exclude={"confidence", "sources", "flags", "needs_review", "review_reasons"}) for i in record.items]


def test_a_letter_without_doubt_sends_no_request_and_makes_no_cache_entry(settings: Settings,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _doubting(monkeypatch, {})
    seen: list[httpx2.Request] = []
    record = extract(letter_path(LETTER), backend="cascade", settings=settings, transport=scripted([], seen))
    offline = extract(letter_path(LETTER), backend="offline", settings=settings)
    assert seen == []
    assert _values(record) == _values(offline) and record.case_number == offline.case_number
    p = record.provenance
    assert (p.backend, p.items_asked, p.fields_asked, p.usage.requests if p.usage else None) == ("cascade", 0, 0, 0)
    assert cache_stats(settings)["entries"] == 0
    assert "0 of 4 items asked of the model" in summarise([record]).line()
    assert ", 0 from cache" in summarise([record]).line()


def test_only_the_doubted_items_and_fields_are_in_the_request(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _doubting(monkeypatch, {LETTER: {1: {"treatment": 0.5, "category": 0.4}}})
    expected = gold(LETTER)["items"][1]  # type: ignore[index]
    answer = {"items": [{"item": 2, "treatment": expected["treatment"], "category": expected["category"]}]}
    seen: list[httpx2.Request] = []
    record = extract(letter_path(LETTER), backend="cascade", settings=settings,
                     transport=scripted([completion(json.dumps(answer))], seen))
    [body] = _bodies(seen)
    schema = body["tools"][0]["function"]["parameters"]
    assert set(schema["properties"]) == {"items"}
    assert set(schema["$defs"]["CascadeItem"]["properties"]) == {"item", "treatment", "category"}
    user = body["messages"][1]["content"]
    assert "ITEM 2:" in user and not any(f"ITEM {n}:" in user for n in (1, 3, 4)) and "CASE SUMMARY" not in user
    clean = clean_letter(read_letter(letter_path(LETTER)))
    hybrid = fill_prompt(hybrid_excerpt(clean, parse_letter(clean)))
    assert len(json.dumps(body["messages"])) < len(json.dumps(hybrid.messages)) * 0.8  # fewer tokens than hybrid's
    assert record.items[1].sources["treatment"] == record.items[1].sources["category"] == "agreed"
    assert [i.sources for n, i in enumerate(record.items) if n != 1] == [{}, {}, {}]
    assert (record.provenance.items_asked, record.provenance.fields_asked) == (1, 2)
    assert "1 of 4 items asked of the model" in summarise([record]).line()


def test_a_doubted_letter_field_alone_is_asked_with_the_header(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _doubting(monkeypatch, {}, {"decision_date": 0.5})
    expected = gold(LETTER)["decision_date"]
    seen: list[httpx2.Request] = []
    record = extract(letter_path(LETTER), backend="cascade", settings=settings,
                     transport=scripted([completion(json.dumps({"items": [], "decision_date": expected}))], seen))
    [body] = _bodies(seen)
    schema = body["tools"][0]["function"]["parameters"]
    assert set(schema["properties"]) == {"items", "decision_date"}
    assert "LETTER HEADER:" in body["messages"][1]["content"] and "ITEM 1:" not in body["messages"][1]["content"]
    assert record.sources["decision_date"] == "agreed" and (record.provenance.items_asked, record.provenance.fields_asked) == (0, 1)


def test_a_model_disagreement_on_a_doubted_field_is_flagged_with_both_values(settings: Settings,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _doubting(monkeypatch, {LETTER: {0: {"category": 0.5}}})
    parser = extract(letter_path(LETTER), backend="offline", settings=settings).items[0].category
    other = "consultation" if parser != "consultation" else "surgery"
    answer = {"items": [{"item": 1, "category": other}]}
    record = extract(letter_path(LETTER), backend="cascade", settings=settings,
                     transport=scripted([completion(json.dumps(answer))]))
    item = record.items[0]
    assert item.category == parser and item.needs_review
    assert [(f.field, f.values) for f in item.flags if f.field == "category"] == [("category", {"parser": parser, "model": other})]


def test_a_model_failure_leaves_the_parsers_values_flagged_never_an_error_record(settings: Settings,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _doubting(monkeypatch, {LETTER: {2: {"strength": 0.3}}})
    settings = settings.model_copy(update={"max_attempts": 1})
    record = extract(letter_path(LETTER), backend="cascade", settings=settings, transport=scripted([status(500)]))
    offline = extract(letter_path(LETTER), backend="offline", settings=settings)
    assert record.ok and _values(record) == _values(offline)
    assert [f.code for f in record.items[2].flags] == ["model_failed"] and record.items[2].needs_review
    assert not any(f.code == "model_failed" for n, i in enumerate(record.items) if n != 2 for f in i.flags)


def test_batch_prepare_cascade_writes_only_the_doubtful_questions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _doubting(monkeypatch, {LETTER: {3: {"quantity": 0.5}}})
    settings = Settings(model="gpt-4o-mini", context_tokens=8192, cache_dir=tmp_path / "cache", no_cache=True)
    letters = [str(letter_path(LETTER)), str(letter_path("syn-c-01"))]
    folder = tmp_path / "batch"
    prepared = list(prepare(letters, folder, backend="cascade", settings=settings))
    assert [(p.requests, p.doubtless) for p in prepared] == [(1, False), (0, True)]
    manifest = [json.loads(line) for line in (folder / MANIFEST).read_text().splitlines()]
    assert len(manifest[0]["requests"]) == 1 and "none_because" not in manifest[0]
    assert manifest[1]["requests"] == [] and "nothing in doubt" in manifest[1]["none_because"]
    [line] = [json.loads(x) for x in (folder / "requests-00001.jsonl").read_text().splitlines()]
    schema = line["body"]["tools"][0]["function"]["parameters"]
    assert set(schema["$defs"]["CascadeItem"]["properties"]) == {"item", "quantity"}
    answers = GoldAnswers(GOLD, LETTERS, Flaws())
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"id": "r1", "custom_id": line["custom_id"], "error": None, "response": {
        "status_code": 200, "body": _completion(line["body"], answers)}}) + "\n")
    doubted, sure = collect(Batch.open(folder), [results], settings)
    offline = extract(letter_path("syn-c-01"), backend="offline", settings=settings)
    assert sure.provenance.items_asked == 0 and _values(sure) == _values(offline) and not sure.awaiting_answers
    assert doubted.provenance.items_asked == 1 and not doubted.awaiting_answers
    assert doubted.items[3].sources["quantity"] == "agreed"


def test_the_threshold_decides_what_is_in_doubt(monkeypatch: pytest.MonkeyPatch) -> None:
    record = extract(letter_path(LETTER), backend="offline")
    items = [record.items[0].model_copy(update={"confidence": {"treatment": 0.6, "category": 0.95, "rationale": 0.1}}),
             *(i.model_copy(update={"confidence": {"treatment": 0.99}}) for i in record.items[1:])]
    record = record.model_copy(update={"items": items, "confidence": {"case_number": 0.7, "layout": 0.1}})
    found = doubts(record, 0.9)
    assert found.items == {0: ("treatment",)} and found.letter == ("case_number",) and found.fields == 2
    assert doubts(record, 0.96).items == {0: ("treatment", "category")}  # rationale is not the model's to answer
    assert not doubts(record, 0.5)
    monkeypatch.setenv("IMR_CASCADE_THRESHOLD", "0.5")
    assert Settings().cascade_threshold == 0.5
