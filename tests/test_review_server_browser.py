"""The review server as a person uses it: headless Chromium (Debian's, as tests/test_review_browser.py) against
``imr-extract review STORE --serve`` in a subprocess. Few and quick: one store, one server per test module.

Skipped, saying why, only where Chromium or the playwright package is absent; CI installs both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from review_server_helpers import HOSTILE, make_store, running_server

from extractor.sinks.duckdb import read_records

CHROMIUM = os.environ.get("IMR_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("review-server")
    path = folder / "corpus.duckdb"
    records = make_store(folder / "letters", path)
    return path, {r.document_id: r for r in records}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


def _tab(context: Any, problems: list[str]) -> Any:
    tab = context.new_page()
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" and "409" not in m.text else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    return tab


def test_a_reviewer_resolves_three_values_with_the_keyboard_and_they_survive_reload_and_restart(
        store: tuple[Path, dict[str, Any]], browser: Any, tmp_path: Path) -> None:
    path, records = store
    problems: list[str] = []
    with running_server(path) as (url, _):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = _tab(context, problems)
        page.goto(url)
        assert "token" not in page.url  # the token became a cookie and left the address bar
        assert page.locator("tr.entry").count() > 0
        first = page.locator("tr.entry").first.get_attribute("data-href")
        page.keyboard.press("Enter")  # open the most doubtful value
        page.wait_for_url("**/letters/**")
        assert first is not None and first.split("#")[0] in page.url
        row = page.locator("form.decide.selected-row")
        target, field = row.locator("input[name=target]").input_value(), row.locator("input[name=field]").input_value()
        assert field == "treatment"
        page.keyboard.press("e")  # 1: type a correction
        page.keyboard.press("Control+a")
        page.keyboard.type("Typed by keyboard")
        page.keyboard.press("Enter")
        page.wait_for_selector(f'#row-{target}-treatment.decided')
        page.locator(".selected-row").wait_for()
        second = page.locator("form.decide.selected-row")
        second_id = second.get_attribute("id")
        assert second_id != f"row-{target}-treatment"
        page.keyboard.press("a")  # 2: accept the next value as it is
        page.wait_for_selector(f"#{second_id}.decided")
        third = page.locator("form.decide.selected-row").get_attribute("id")
        page.keyboard.press("e")  # 3: the next one, typed
        page.keyboard.press("Control+a")
        typed = "5" if third and third.endswith("quantity") else "surgery"
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#{third}.decided")
        page.screenshot(path=str(tmp_path / "letter.png"))
        page.reload()
        assert page.locator("form.decide.decided").count() >= 3
        assert page.locator(f"#row-{target}-treatment output.value").inner_text() == "Typed by keyboard"
        context.close()
    with running_server(path) as (url, _):  # a new server, a new token: everything is still there
        context = browser.new_context()
        page = _tab(context, problems)
        page.goto(url)
        page.goto(url.split("/?")[0] + first.split("#")[0])
        assert page.locator(f"#row-{target}-treatment output.value").inner_text() == "Typed by keyboard"
        assert page.locator("form.decide.decided").count() >= 3
        context.close()
    assert not problems, problems
    sha, index = target.rsplit("-", 1)
    stored = {r.provenance.source_sha256: r for r in read_records(path)}[sha]
    assert stored.items[int(index)].treatment == "Typed by keyboard"


def test_a_second_reviewer_on_the_same_value_gets_the_conflict(store: tuple[Path, dict[str, Any]], browser: Any) -> None:
    path, records = store
    record = records["imr-002"] if "imr-002" in records else next(iter(records.values()))
    sha = record.provenance.source_sha256
    row_id = f"#row-{sha}-0-treatment"
    with running_server(path) as (url, _):
        pages = []
        for _ in range(2):
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            page.goto(f"{url.split('/?')[0]}/letters/{sha}#{row_id[1:]}")
            pages.append(page)
        first, second = pages
        for page, value in ((first, "From the first"), (second, "From the second")):
            page.click(f"{row_id} input[name=value]")
            page.fill(f"{row_id} input[name=value]", value)
            page.keyboard.press("Enter")
        second.wait_for_selector(f"{row_id}.problem")
        assert "Someone else decided this field first" in second.inner_text(row_id)
        assert second.locator(f"{row_id} output.value").inner_text() == "From the first"
        first.reload()
        assert first.locator(f"{row_id} output.value").inner_text() == "From the first"
        for page in pages:
            page.context.close()


def test_a_hostile_letter_stays_inert_and_nothing_answers_without_the_token(
        store: tuple[Path, dict[str, Any]], browser: Any) -> None:
    path, records = store
    sha = records["hostile"].provenance.source_sha256
    with running_server(path) as (url, _):
        base = url.split("/?")[0]
        stranger = browser.new_context()
        page = stranger.new_page()
        for address in ("/", f"/letters/{sha}", "/api/items", "/static/htmx.min.js", "/static/server.js", "/docs",
                        "/openapi.json"):
            assert page.goto(base + address).status == 401, address
        answer = page.request.post(f"{base}/api/items/{sha}-0/corrections", data={"field": "treatment", "value": "x"})
        assert answer.status == 401
        stranger.close()
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.goto(f"{base}/letters/{sha}")
        assert page.evaluate("window.pwned === undefined")
        assert page.locator("#letter-text img, #letter-text script").count() == 0
        assert HOSTILE in page.inner_text("#letter-text")
        forged = page.request.post(f"{base}/ui/decide", form={"target": f"{sha}-0", "field": "treatment",
                                                               "action": "correct", "version": "0", "value": "forged"})
        assert forged.status == 403  # the cookie rides along, the page's CSRF token does not
        assert page.evaluate("window.pwned === undefined")
        context.close()
