"""Fixtures for the LLM tests: clean settings, and cassettes replayed with the network blocked.

Cassettes live in tests/cassettes/<module>/<test>.yaml. In the default record mode ``none`` a
test replays its cassette through the real openai SDK and transport, the network is blocked, and
the test fails unless every recorded interaction was played. See tests/cassettes/README.md for
how they were made and how to re-record them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from llm_fakes import API_KEY, MODEL, TEST_URL, Reply, scripted

from extractor.redact import Redactor
from extractor.settings import Settings

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
# Re-recording against a live endpoint (tests/cassettes/README.md); read before the env is cleaned.
LIVE_URL = os.environ.get("IMR_LIVE_BASE_URL")
LIVE_KEY = os.environ.get("IMR_LIVE_API_KEY")
SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "openai-project", "cookie",
                  "set-cookie"]


@pytest.fixture
def settings(tmp_path: Path, recording: bool) -> Settings:
    live = recording and LIVE_URL is not None
    return Settings(base_url=LIVE_URL if live else TEST_URL, api_key=LIVE_KEY if live else API_KEY, model=MODEL,
                    cache_dir=tmp_path / "cache", max_concurrency=4, context_tokens=128_000)


def _scrub_request(request: Any) -> Any:
    for name in list(request.headers):
        if name.lower().startswith("x-stainless") or name.lower() in SECRET_HEADERS:
            del request.headers[name]
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """No secret header, and no key in the body either (a server may echo the key it was sent)."""
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() not in SECRET_HEADERS}
    body = response.get("body", {}).get("string")
    if LIVE_KEY and isinstance(body, bytes) and LIVE_KEY.encode() in body:
        response["body"]["string"] = Redactor([LIVE_KEY]).text(body.decode("utf-8", "replace")).encode()
    return response


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    return str(CASSETTES / Path(str(request.node.fspath)).stem)


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return {
        "match_on": ["method", "path", "body"],  # not the host: a cassette replays for any endpoint URL
        "filter_headers": SECRET_HEADERS,
        "before_record_request": _scrub_request,
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


@pytest.fixture
def recording(record_mode: str) -> bool:
    return record_mode != "none"


@pytest.fixture
def endpoint(recording: bool) -> Callable[[Sequence[Reply]], httpx2.AsyncBaseTransport | None]:
    """The transport for a cassette test: None (the real one, replayed by vcr, or live) unless
    recording the hand-written ``replies``, which are then served in-process and recorded."""

    def make(replies: Sequence[Reply]) -> httpx2.AsyncBaseTransport | None:
        return scripted(replies) if recording and LIVE_URL is None else None

    return make


@pytest.fixture(autouse=True)
def _cassette_fully_played(vcr: Any, recording: bool) -> Iterator[None]:
    """A replayed cassette must be played to the end: the test saw the recorded answers, and only them."""
    yield
    if vcr is not None and not recording:
        assert vcr.play_count == len(vcr), f"played {vcr.play_count} of {len(vcr)} interactions"
