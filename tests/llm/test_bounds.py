"""Bounded answers on every server: the structured-output modes, max_tokens on every request, cut-off
answers, a rejected mode, a request timeout that really ends the request, the letter's time budget,
and long letters split to fit the context. Answers come from an in-process fake endpoint."""

from __future__ import annotations

import asyncio
import json
import time

import httpx2
import pytest
from llm_fakes import completion, gold, letter_path, scripted

from extractor.llm.budget import TooLong, answer_tokens, plan_parts, prompt_tokens
from extractor.llm.prompt import fill_prompt, hybrid_excerpt
from extractor.llm.schema import FillAnswer, LetterAnswer, answer_from_gold, salvage
from extractor.parse.letter import parse_letter
from extractor.pipeline import extract
from extractor.read.files import read_letter
from extractor.read.text import normalise
from extractor.settings import Settings

LONGEST = "CM16-0248698"  # 21 items: the longest real letter in evals/


def _bodies(seen: list[httpx2.Request]) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in seen]


@pytest.mark.parametrize("mode", ["tools", "json_schema", "json_object", "json"])
def test_every_mode_sends_a_bound_and_asks_for_the_schema_its_way(mode: str, settings: Settings) -> None:
    seen: list[httpx2.Request] = []
    answer = answer_from_gold(gold("syn-b-05"), "hybrid")
    reply = completion(answer if mode == "tools" else f"```json\n{answer.model_dump_json()}\n```", mode=mode)
    record = extract(letter_path("syn-b-05"), backend="hybrid", settings=settings.model_copy(update={"mode": mode}),
                     transport=scripted([reply], seen))
    [body] = _bodies(seen)
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] == answer_tokens(2)
    fmt = body.get("response_format")
    if mode == "tools":
        assert body["tool_choice"]["function"]["name"] and fmt is None  # type: ignore[index]
    elif mode == "json_schema":
        assert fmt["type"] == "json_schema" and "items" in fmt["json_schema"]["schema"]["properties"]  # type: ignore[index]
    elif mode == "json_object":  # llama-cpp-python's own form: JSON mode with the schema beside it
        assert fmt["type"] == "json_object" and "items" in fmt["schema"]["properties"]  # type: ignore[index]
    else:
        assert fmt is None and "tools" not in body
    assert not record.needs_review, record.review_reasons
    assert [i.treatment for i in record.items] == [i["treatment"] for i in gold("syn-b-05")["items"]]  # type: ignore[index]


def test_a_cut_off_answer_is_asked_again_in_halves_then_kept_per_item(settings: Settings) -> None:
    seen: list[httpx2.Request] = []
    full = answer_from_gold(gold("syn-b-05"), "hybrid")
    first, second = ([i] for i in full.items)
    replies = [completion('{"diagnoses": ["lum', finish="length"),
               completion(FillAnswer(diagnoses=full.diagnoses, items=first), n=2),
               completion('{"items": [{"item": 2, "treat', finish="length", n=3)]
    record = extract(letter_path("syn-b-05"), backend="hybrid", settings=settings, transport=scripted(replies, seen))
    bodies = _bodies(seen)
    assert len(bodies) == 3 and bodies[1]["max_tokens"] == bodies[2]["max_tokens"] == answer_tokens(1)
    assert "ITEM 2:" not in bodies[1]["messages"][1]["content"]  # type: ignore[index]
    assert not record.items[0].needs_review and record.items[0].sources["treatment"] != "parser"
    assert record.items[1].needs_review and "cut off at max_tokens=" in record.items[1].review_reasons[0]


def test_a_rejected_mode_is_not_retried_and_says_which_mode_to_use(settings: Settings) -> None:
    seen: list[httpx2.Request] = []
    rejected = httpx2.Response(500, json={"error": {"message": "1 validation error: ('body', 'response_format', 'type'): "
                                                               "Input should be 'text' or 'json_object'"}})
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=scripted([rejected], seen),
                     settings=settings.model_copy(update={"mode": "json_schema"}))
    assert len(seen) == 1 and record.ok
    reason = record.items[0].review_reasons[0]
    assert "rejected IMR_MODE=json_schema" in reason and "json_object" in reason


def test_tools_mode_on_a_server_that_answers_in_text_says_so(settings: Settings) -> None:
    text = completion(answer_from_gold(gold("syn-b-05"), "hybrid"), mode="json")
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=scripted([text]),
                     settings=settings.model_copy(update={"max_reasks": 0}))
    assert "does not support IMR_MODE=tools" in record.items[0].review_reasons[0]


class _Slow(httpx2.AsyncBaseTransport):
    """Answers nothing for ``seconds``: a server that hangs (or trickles) on every request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        await asyncio.sleep(self.seconds)
        raise AssertionError("the request should have been ended before this")


def test_the_request_timeout_really_ends_the_request(settings: Settings) -> None:
    slow = _Slow(30)
    started = time.monotonic()
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=slow,
                     settings=settings.model_copy(update={"timeout": 0.3, "max_attempts": 2}))
    assert time.monotonic() - started < 5 and slow.requests == 2
    assert record.ok and "timed out" in record.items[0].review_reasons[0]


def test_the_letter_time_budget_ends_the_model_work_and_keeps_the_parsers_values(settings: Settings) -> None:
    started = time.monotonic()
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=_Slow(30),
                     settings=settings.model_copy(update={"letter_timeout": 0.5}))
    assert time.monotonic() - started < 5
    assert record.ok and all("model time ran out" in i.review_reasons[0] for i in record.items)


def _parsed(document_id: str):  # type: ignore[no-untyped-def]
    clean = normalise(read_letter(letter_path(document_id)).text)
    return clean, parse_letter(clean)


def test_a_long_letter_is_split_into_parts_that_fit_in_letter_order(settings: Settings) -> None:
    clean, parsed = _parsed(LONGEST)
    assert len(parsed.items) == 21
    items = list(range(21))

    def build(group):  # type: ignore[no-untyped-def]
        return fill_prompt(hybrid_excerpt(clean, parsed, group))

    parts = plan_parts(items, build, lambda g: answer_tokens(len(g)), FillAnswer, settings, 8192)
    assert len(parts) > 1 and [i for p in parts for i in p.items] == items
    for part in parts:
        assert prompt_tokens(part.prompt, FillAnswer) + part.max_tokens <= 8192
    assert "CASE SUMMARY" in parts[0].prompt.messages[1]["content"]
    assert "CASE SUMMARY" not in parts[1].prompt.messages[1]["content"]
    with pytest.raises(TooLong):
        plan_parts(items, build, lambda g: answer_tokens(len(g)), LetterAnswer, settings, 2048)


def test_the_longest_letter_comes_back_whole_and_in_order_from_split_requests(settings: Settings) -> None:
    full = answer_from_gold(gold(LONGEST), "hybrid")
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        user = json.loads(request.content)["messages"][1]["content"]
        asked = [i for i in full.items if f"ITEM {i.item}:\n" in user]
        return completion(FillAnswer(diagnoses=full.diagnoses, items=asked), n=len(seen))

    record = extract(letter_path(LONGEST), backend="hybrid", transport=httpx2.MockTransport(answer),
                     settings=settings.model_copy(update={"context_tokens": 8192}))
    assert len(seen) > 1 and len(record.items) == 21
    assert [w.message for w in record.warnings if w.code == "split"] == [
        f"asked in {len(seen)} parts to fit the model's context (8192 tokens)"]
    assert [i.treatment for i in record.items] == [i["treatment"] for i in gold(LONGEST)["items"]]  # type: ignore[index]
    assert not record.needs_review, record.review_reasons[:3]


def test_a_prompt_that_cannot_fit_is_a_clear_reason_not_a_crash(settings: Settings) -> None:
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=scripted([]),
                     settings=settings.model_copy(update={"context_tokens": 1024}))
    assert record.ok and all("cannot fit the model's context" in i.review_reasons[0] for i in record.items)


def test_salvage_keeps_each_valid_item_of_an_invalid_answer() -> None:
    raw = ('Here you are:\n```json\n{"diagnoses": ["a"], "items": [{"item": 1, "treatment": "x", "category": "imaging", '
           '"decision": "upheld", "reasons": ["other"]}, {"item": 2, "category": "imaging"}]}\n```')
    found = salvage(raw, FillAnswer)
    assert found is not None and found.fields == {"diagnoses": ["a"]}
    assert [i.item for i in found.items] == [1] and found.errors[0].startswith("items[1]: treatment")  # type: ignore[attr-defined]
    assert salvage("no json here", FillAnswer) is None


def test_an_answer_that_used_its_whole_bound_is_cut_off_whatever_the_server_says(settings: Settings) -> None:
    bound = answer_tokens(1)
    replies = [completion('{"items": [{"item": 1, "treatment": "Norco Norco Norco', completion_tokens=bound)]
    record = extract(letter_path("syn-b-01"), backend="hybrid", transport=scripted(replies * 2),
                     settings=settings.model_copy(update={"max_tokens": bound}))
    assert any("cut off at max_tokens=" in r for r in record.items[0].review_reasons)


def test_a_re_ask_says_what_was_wrong_and_the_same_prompt_is_never_sent_twice(settings: Settings) -> None:
    seen: list[httpx2.Request] = []
    bad = completion('{"items": [{"item": 1}]}')
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=scripted([bad, bad], seen),
                     settings=settings.model_copy(update={"max_reasks": 3}))
    first, second = (b["messages"][1]["content"] for b in _bodies(seen))  # type: ignore[index]
    assert "could not be used" not in first and "Your previous answer for these ITEMs could not be used" in second
    assert len(seen) == 2 and record.ok and all(i.needs_review for i in record.items)


def test_a_request_cut_short_by_the_letter_budget_is_still_counted(settings: Settings) -> None:
    slow = _Slow(30)
    record = extract(letter_path("syn-b-05"), backend="hybrid", transport=slow,
                     settings=settings.model_copy(update={"letter_timeout": 0.3}))
    assert slow.requests == 1 and record.provenance.usage is not None and record.provenance.usage.requests == 1
