"""The report in a real headless Chromium, opened from disk: a figure leads to its items, an item to its letter with
the request marked, and nothing breaks the page's policy (a console error fails the test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_report import MIX
from test_review import make_review_records
from test_review_browser import CHROMIUM, browser, page  # noqa: F401  (the fixtures)

from extractor.report import build_report
from extractor.review.stats import scratch_store

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = make_review_records(tmp_path_factory.mktemp("letters")) + MIX
    store = scratch_store(records, tmp_path_factory.mktemp("store") / "records.duckdb")
    out = tmp_path_factory.mktemp("report")
    build_report(store, out)
    return out


def test_a_figure_leads_to_its_items_and_an_item_to_its_marked_request(report: Path, page: Any,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    page.goto((report / "index.html").as_uri())
    assert page.locator("figure svg").count() >= 8
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.click('#drug-class a:text-is("opioid")')
    page.wait_for_load_state("load")
    assert "drug group: opioid" in page.inner_text("h1")
    assert page.locator("#listed tbody tr").count() >= 3
    # a letter kept without spans (made up here): its item's row is brought into view instead of a mark
    _follow(page, page.locator('#listed tbody tr a:text-is("a")').first)
    assert page.locator("#items tr.active").count() == 1 and page.locator("#letter-text mark.hl").count() == 0
    # a real letter: the request is marked, selected and shown in the panel
    page.goto((report / "items" / "all-0.html").as_uri())
    wanted = _follow(page, page.locator('#listed tbody tr a:text-matches("^CM16")').first)
    assert page.locator(f'mark.hl.selected[data-field="{wanted}"]').count() >= 1
    assert wanted in page.inner_text("#field-panel")
    assert page.locator("#items tr.active").count() == 1
    page.screenshot(path=str(tmp_path / "letter.png"))


def _follow(tab: Any, link: Any) -> str:
    """Click an item's link to its letter; the field path it names."""
    href = link.get_attribute("href")
    assert href and "#items[" in href
    link.click()
    tab.wait_for_load_state("load")
    return str(href.split("#", 1)[1])


def test_hostile_text_in_the_report_does_not_run(report: Path, page: Any) -> None:  # noqa: F811
    for path in [report / "index.html", *sorted((report / "items").glob("all-*.html")),
                 *sorted((report / "letters").glob("hostile-*.html"))]:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("window.pwned === undefined"), path.name
