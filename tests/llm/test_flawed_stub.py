"""The flawed-model stub (benchmarks/llm_stub_server.py with gold): it answers the letter and the
items asked, in the form asked, with the flaws asked, and logs each flaw it sent."""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from extractor.llm.prompt import fill_prompt, hybrid_excerpt, letter_prompt
from extractor.llm.schema import FillAnswer, LetterAnswer
from extractor.parse import clean_letter
from extractor.parse.letter import parse_letter
from extractor.read.files import read_letter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from llm_stub_server import Flaws, GoldAnswers, _completion  # noqa: E402

GOLD, LETTERS = ROOT / "evals" / "gold", ROOT / "evals" / "letters"
DOC = "CM16-0238035"  # eight items
GOLD_ITEMS = json.loads((GOLD / f"{DOC}.json").read_text())["items"]


def _answers(tmp_path: Path, **rates: float) -> GoldAnswers:
    return GoldAnswers(GOLD, LETTERS, Flaws(**rates), tmp_path / "flaws.jsonl")


@cache
def _messages(backend: str) -> str:
    clean = clean_letter(read_letter(LETTERS / f"{DOC}.pdf"))
    prompt = fill_prompt(hybrid_excerpt(clean, parse_letter(clean))) if backend == "hybrid" else letter_prompt(clean.text)
    return json.dumps(prompt.messages)


def _request(backend: str, *, tools: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": json.loads(_messages(backend))}
    if tools:
        body["tools"] = [{"type": "function", "function": {"name": "FillAnswer"}}]
        body["tool_choice"] = {"type": "function", "function": {"name": "FillAnswer"}}
    return body


def _content(completion: dict[str, Any]) -> dict[str, Any]:
    message = completion["choices"][0]["message"]
    text = message["tool_calls"][0]["function"]["arguments"] if message.get("tool_calls") else message["content"]
    return json.loads(text)  # type: ignore[no-any-return]


def test_a_correct_hybrid_answer_is_the_gold_for_each_item_asked(tmp_path: Path) -> None:
    completion = _completion(_request("hybrid"), _answers(tmp_path))
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert completion["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "FillAnswer"
    assert completion["usage"]["prompt_tokens"] > 0
    answer = FillAnswer.model_validate(_content(completion))
    assert [(i.item, i.treatment) for i in answer.items] == [(n, g["treatment"]) for n, g in enumerate(GOLD_ITEMS, 1)]
    assert not (tmp_path / "flaws.jsonl").exists()


def test_a_split_request_is_answered_for_its_items_only(tmp_path: Path) -> None:
    body = _request("hybrid")
    user = body["messages"][1]
    text = user["content"]
    user["content"] = text[:text.index("ITEM 1:")] + text[text.index("ITEM 2:"):text.index("ITEM 4:")] + \
        text[text.index("ITEM 8:"):]
    answer = _content(_completion(body, _answers(tmp_path)))
    assert [i["item"] for i in answer["items"]] == [2, 3, 8]
    assert [i["treatment"] for i in answer["items"]] == [GOLD_ITEMS[n - 1]["treatment"] for n in (2, 3, 8)]


def test_a_whole_letter_is_answered_as_content_in_json_mode(tmp_path: Path) -> None:
    completion = _completion(_request("llm", tools=False), _answers(tmp_path))
    assert completion["choices"][0]["finish_reason"] == "stop"
    answer = LetterAnswer.model_validate(_content(completion))
    assert answer.case_number == DOC and len(answer.items) == len(GOLD_ITEMS)


@pytest.mark.parametrize(("rate", "kind"), [("wrong_field", "wrong_field"), ("flip_decision", "flip_decision"),
                                            ("missing_property", "missing_property"), ("wrong_letter", "wrong_letter")])
def test_each_flaw_is_sent_and_logged_once(tmp_path: Path, rate: str, kind: str) -> None:
    answers = _answers(tmp_path, **{rate: 1.0})
    sent = _content(_completion(_request("hybrid"), answers))
    _completion(_request("hybrid"), answers)  # a re-ask: the same flaws, not logged again
    log = [json.loads(line) for line in (tmp_path / "flaws.jsonl").read_text().splitlines()]
    assert [(f["document_id"], f["item"], f["kind"]) for f in log] == [(DOC, n, kind) for n in range(1, len(GOLD_ITEMS) + 1)]
    for f, item in zip(log, sent["items"], strict=True):
        if kind == "missing_property":
            assert f["field"] not in item
        elif kind == "wrong_letter":
            assert f["sent"] != DOC
        else:
            assert item[f["field"]] == f["sent"] != GOLD_ITEMS[f["item"] - 1][f["field"]]


def test_flaws_follow_the_seed(tmp_path: Path) -> None:
    first = _content(_completion(_request("hybrid"), _answers(tmp_path, wrong_field=0.5, seed=3)))
    again = _content(_completion(_request("hybrid"), _answers(tmp_path, wrong_field=0.5, seed=3)))
    other = _content(_completion(_request("hybrid"), _answers(tmp_path, wrong_field=0.5, seed=4)))
    assert first == again != other


def test_without_gold_the_answer_is_empty(tmp_path: Path) -> None:
    assert _content(_completion(_request("hybrid"), None)) == {"diagnoses": [], "items": []}
