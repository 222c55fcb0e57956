"""The review pages in a real headless Chromium (Debian's, at /usr/bin/chromium), opened from disk.

Skipped, saying why, only where Chromium or the playwright package is absent; CI installs both.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_review import HOSTILE, make_review_records

from extractor import Record, extract, score
from extractor.review import build_site
from extractor.review.evalpage import write_eval_report
from extractor.review.highlight import fields_with_spans
from extractor.review.site import page_names

CHROMIUM = os.environ.get("IMR_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Record], Path]:
    records = make_review_records(tmp_path_factory.mktemp("letters"))
    out = tmp_path_factory.mktemp("site")
    build_site(records, out)
    example = extract(ROOT / "extractor" / "examples" / "CM16-0230548.pdf")
    gold = json.loads((ROOT / "evals" / "gold" / "CM16-0230548.json").read_text(encoding="utf-8"))
    gold["items"][0]["treatment"] = HOSTILE
    gold["case_number"] = "CM00-0000000"
    write_eval_report(score({example.document_id: example}, {example.document_id: gold}), [example],
                      out / "eval.html")
    return records, out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 900})
        yield context
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab that fails the test on any console error or uncaught page error."""
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    yield tab
    tab.close()
    assert not problems, problems


def _open(page: Any, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def test_index_filters_rows(built: tuple[list[Record], Path], page: Any, tmp_path: Path) -> None:
    records, site = built
    _open(page, site / "index.html")
    rows = page.locator("#letters tbody tr")
    assert rows.count() == len(records)
    page.check("input[name=flagged]")
    assert page.locator("#letters tbody tr:visible").count() == 1
    page.uncheck("input[name=flagged]")
    page.select_option("select[name=decision]", "overturned")
    visible = page.locator("#letters tbody tr:visible")
    overturned = sum(any(i.decision == "overturned" for i in r.items) for r in records)
    assert 0 < visible.count() == overturned < len(records)
    assert "of" in page.inner_text("#shown")
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)


def test_letter_page_marks_every_field_and_clicks_to_the_item_row(built: tuple[list[Record], Path], page: Any,
                                                                   tmp_path: Path) -> None:
    records, site = built
    record = records[0]
    _open(page, site / "letters" / page_names(records)[0])
    marked = set(page.eval_on_selector_all("mark.hl", "ms => ms.map(m => m.dataset.field)"))
    paths = {f.path for f in fields_with_spans(record)}
    assert paths and paths <= marked
    for index in range(len(record.items)):
        assert page.locator(f'mark.hl[data-field="items[{index}].request"]').count() >= 1
    page.click('mark.hl[data-field="items[1].request"]')
    assert page.get_attribute('#items tr[data-item="1"]', "class") == "flagged active"
    assert "active" not in (page.get_attribute('#items tr[data-item="0"]', "class") or "")
    panel = page.inner_text("#field-panel")
    assert "items[1].request (agreed)" in panel and record.items[1].request in panel
    page.hover('mark.hl[data-field="case_number"]')
    assert record.case_number in page.inner_text("#field-panel")
    page.click('mark.hl[data-field="items[1].request"]')
    page.screenshot(path=str(tmp_path / "letter.png"))


def test_hostile_letter_markup_does_not_run(built: tuple[list[Record], Path], page: Any, tmp_path: Path) -> None:
    _, site = built
    _open(page, site / "letters" / "hostile.html")
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("#letter-text img, #letter-text script").count() == 0
    assert HOSTILE in page.inner_text("#letter-text")
    page.hover('mark.hl[data-field="items[0].rationale"]')
    assert HOSTILE in page.inner_text("#field-panel")
    assert page.evaluate("window.pwned === undefined")
    page.screenshot(path=str(tmp_path / "hostile.png"))


def test_dashboard_draws_its_charts(built: tuple[list[Record], Path], page: Any, tmp_path: Path) -> None:
    _, site = built
    _open(page, site / "dashboard.html")
    assert page.locator("figure svg").count() >= 4
    width = page.evaluate("document.querySelector('figure svg').getBoundingClientRect().width")
    assert width > 200
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_eval_report_shows_each_miss_in_context(built: tuple[list[Record], Path], page: Any, tmp_path: Path) -> None:
    _, site = built
    _open(page, site / "eval.html")
    misses = page.locator(".miss")
    assert misses.count() == 2
    text = misses.nth(1).inner_text()
    assert HOSTILE in text and "MRI of neck and right hand" in text
    assert page.locator(".miss pre mark").count() == 2
    assert page.evaluate("window.pwned === undefined")
    page.screenshot(path=str(tmp_path / "eval.png"), full_page=True)
