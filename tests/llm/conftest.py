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

from extractor.settings import Settings

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "openai-project", "cookie",
                  "set-cookie"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No IMR_* or OPENAI_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("IMR_", "OPENAI_")):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(base_url=TEST_URL, api_key=API_KEY, model=MODEL, cache_dir=tmp_path / "cache", max_concurrency=4)


def _scrub_request(request: Any) -> Any:
    for name in list(request.headers):
        if name.lower().startswith("x-stainless") or name.lower() in SECRET_HEADERS:
            del request.headers[name]
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() not in SECRET_HEADERS}
    return response


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    return str(CASSETTES / Path(str(request.node.fspath)).stem)


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return {
        "record_mode": "none",
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
    """The transport for a cassette test: None (the real one, replayed by vcr) unless recording,
    when the hand-written ``replies`` are served in-process and vcr records them."""

    def make(replies: Sequence[Reply]) -> httpx2.AsyncBaseTransport | None:
        return scripted(replies) if recording else None

    return make


@pytest.fixture(autouse=True)
def _cassette_fully_played(request: pytest.FixtureRequest, recording: bool) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("vcr") and not recording:
        cassette = request.getfixturevalue("vcr")
        assert cassette.play_count == len(cassette), f"played {cassette.play_count} of {len(cassette)} interactions"
