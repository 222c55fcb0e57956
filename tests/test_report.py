"""``imr-extract report``, ``stats`` over any output in DuckDB, the researchers' views and drug-class scoring
(tests/test_report_browser.py opens the report in Chromium)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest
from test_review import HOSTILE, make_review_records
from typer.testing import CliRunner

from extractor import Record, score
from extractor.cli import app
from extractor.report import build_report
from extractor.review import build_site, compute_stats
from extractor.review.stats import scratch_store

runner = CliRunner()


def _medication(doc_id: str, date: str, items: list[tuple[str, str, str]]) -> Record:
    """A record whose items are (request, generic name, decision) medications, grouped as the parser would."""
    from extractor.parse.drugclass import item_groups

    return Record.model_validate({
        "document_id": doc_id, "decision_date": date, "provenance": {"backend": "offline", "package_version": "0",
                                                                     "source_path": f"/letters/{doc_id}.txt"},
        "items": [{"request": r, "treatment": r, "category": "medication", "generic_name": g, "decision": d,
                   **item_groups(r, "medication", g)} for r, g, d in items],
    })


MIX = [
    _medication("a", "2016-03-01", [("Norco 10/325mg #90", "hydrocodone/acetaminophen", "upheld"),
                                    ("Lidoderm 5% patch", "lidocaine", "overturned")]),
    _medication("b", "2016-04-02", [("Tramadol 50mg #60", "tramadol", "overturned")]),
    _medication("c", "2017-01-05", [("Flurbiprofen 20%/Lidocaine 5% cream", "flurbiprofen/lidocaine", "upheld"),
                                    ("Flexeril 10mg #60", "cyclobenzaprine", "upheld"),
                                    ("Butrans 5mcg/hr #4", "buprenorphine", "upheld")]),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scratch_store(MIX, tmp_path_factory.mktemp("store") / "records.duckdb")


def _rows(store: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_views_group_by_drug_class_dwc_category_year_and_month(store: Path) -> None:
    assert _rows(store, "SELECT * FROM overturn_by_drug_class") == [
        ("opioid", 3, 1, 0.333), ("topical", 2, 1, 0.5), ("muscle_relaxant", 1, 0, 0.0)]
    assert _rows(store, "SELECT year, drug_class, items, overturned FROM overturn_by_drug_class_by_year") == [
        (2016, "opioid", 2, 1), (2016, "topical", 1, 1),
        (2017, "muscle_relaxant", 1, 0), (2017, "opioid", 1, 0), (2017, "topical", 1, 0)]
    assert _rows(store, "SELECT * FROM overturn_by_dwc_category") == [("pharmaceuticals", 6, 2, 0.333)]
    assert [r[:2] for r in _rows(store, "SELECT month, items FROM overturn_by_dwc_category_by_month")] == [
        (dt.date(2016, 3, 1), 2), (dt.date(2016, 4, 1), 1), (dt.date(2017, 1, 1), 3)]
    assert _rows(store, "SELECT drug_class, items, compounded, share FROM pharmacy_mix") == [
        ("opioid", 3, 0, 0.5), ("topical", 2, 1, 0.333), ("muscle_relaxant", 1, 0, 0.167)]
    assert _rows(store, "SELECT year, drug_class, share FROM pharmacy_mix_by_year WHERE year = 2016") == [
        (2016, "opioid", 0.667), (2016, "topical", 0.333)]
    assert _rows(store, "SELECT * FROM items_per_letter") == [(1, 1), (2, 1), (3, 1)]
    assert _rows(store, "SELECT year, letters, items, items_per_letter FROM items_per_letter_by_year") == [
        (2016, 2, 3, 1.5), (2017, 1, 3, 3.0)]
    # the views read the reviewed relations, which pass the rows through until corrections define them
    assert _rows(store, "SELECT count(*) FROM items_reviewed") == [(6,)]


def test_stats_agree_on_jsonl_parquet_duckdb_and_records_in_hand(tmp_path: Path) -> None:
    records = make_review_records(tmp_path / "letters")
    expected = compute_stats(records)
    assert expected.letters == len(records) and expected.by_group["drug class"]
    for suffix in (".jsonl", ".parquet", ".duckdb"):
        got = compute_stats(scratch_store(records, tmp_path / f"records{suffix}"))
        assert (got.letters, got.errors, got.items, got.overturned) == (
            expected.letters, expected.errors, expected.items, expected.overturned), suffix
        assert got.by_group == expected.by_group and got.items_per_letter == expected.items_per_letter, suffix
        if suffix != ".parquet":  # Parquet keeps no item-level review flags
            assert (got.items_flagged, got.letters_flagged) == (expected.items_flagged, expected.letters_flagged)


def test_stats_dashboard_and_index_show_flags_by_field_and_code_and_the_confidence_spread(tmp_path: Path) -> None:
    from extractor.models import Flag

    record = MIX[0].model_copy(deep=True)
    record.items[0] = record.items[0].with_flags(Flag(field="strength", code="not_printed", message="strength?"))
    record.items[0].confidence = {"strength": 0.42, "decision": 0.99}
    record.items[1].confidence = {"treatment": 0.95}
    stats = compute_stats([record, MIX[1]])
    assert stats.flags == [("strength", "not_printed", 1)]
    assert stats.confidence == [("0.4-0.5", 1), ("0.9-1.0", 1)]
    assert stats.items_flagged == 1 and stats.letters_flagged == 1
    build_site([record, MIX[1]], tmp_path)
    assert '<small class="flag-code">strength: not_printed</small>' in (tmp_path / "index.html").read_text(encoding="utf-8")
    dashboard = (tmp_path / "dashboard.html").read_text(encoding="utf-8")
    assert "<td>not_printed</td>" in dashboard and "<td>0.4-0.5</td>" in dashboard


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Record], Path, dict]:  # type: ignore[type-arg]
    records = make_review_records(tmp_path_factory.mktemp("letters")) + MIX
    store = scratch_store(records, tmp_path_factory.mktemp("store") / "records.duckdb")
    out = tmp_path_factory.mktemp("report")
    headline = build_report(store, out)
    return records, out, headline


def test_report_headline_and_every_figure_links_to_its_items(report: tuple[list[Record], Path, dict]) -> None:  # type: ignore[type-arg]
    records, out, headline = report
    items = [i for r in records for i in r.items]
    assert headline["items"] == len(items) and headline["letters"] == len(records)
    assert headline["overturned"] == sum(i.decision == "overturned" for i in items)
    medications = [i for i in items if i.category == "medication"]
    assert headline["medication_items"] == len(medications)
    assert headline["opioid_share_of_medications"] == round(
        sum(i.drug_class == "opioid" for i in medications) / len(medications), 4)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f"<b>{len(items)}</b> items (decisions)" in index
    for slug in ("all", "year", "dwc-category", "drug-class", "compounded", "drug", "guideline-source", "specialty",
                 "items-per-letter"):
        assert f'id="{slug}"' in index and f'href="items/{slug}-0.html"' in index, slug
    assert index.count("<svg") >= 8
    opioid = next(p for p in (out / "items").glob("drug-class-*.html") if ">opioid<" in p.read_text(encoding="utf-8")
                  or ": opioid" in p.read_text(encoding="utf-8"))
    listed = re.findall(r'href="\.\./letters/([^"#]+)#items\[(\d+)\]\.request"', opioid.read_text(encoding="utf-8"))
    assert len(listed) == sum(i.drug_class == "opioid" for i in items)
    for page, _ in listed:
        assert (out / "letters" / page).is_file()


def test_report_escapes_letter_text_and_keeps_the_policy(report: tuple[list[Record], Path, dict]) -> None:  # type: ignore[type-arg]
    _, out, _ = report
    pages = [out / "index.html", *(out / "items").glob("*.html"), *(out / "letters").glob("*.html")]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "Content-Security-Policy" in html and "script-src 'sha256-" in html
        assert "<script>window" not in html and "<img src=x" not in html and HOSTILE not in html
    hostile = [p for p in (out / "letters").glob("hostile-*.html")]
    assert hostile and "&lt;script&gt;window.pwned" in hostile[0].read_text(encoding="utf-8")


def test_report_command_md_and_bad_input(report: tuple[list[Record], Path, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    records, _, _ = report
    path = tmp_path / "records.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    result = runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "md"), "--format", "md"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "md" / "report.md").read_text(encoding="utf-8")
    assert "## The pharmaceutical mix: decisions by drug group" in text and "(items/drug-class-0.md)" in text
    listed = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "md" / "items").glob("*.md"))
    assert "<script>" not in listed
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    for args in (["report", str(bad), "-o", str(tmp_path / "x")], ["stats", str(bad)],
                 ["report", str(tmp_path / "none.duckdb")], ["report", str(path), "--format", "pdf"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_scoring_counts_drug_class_and_compounded_only_where_gold_has_them() -> None:
    record = MIX[2]
    gold = {"document_id": "c", "items": [
        {"request": "Flurbiprofen 20%/Lidocaine 5% cream", "drug_class": "topical", "compounded": True},
        {"request": "Flexeril 10mg #60", "drug_class": "nsaid", "compounded": False},
        {"request": "Butrans 5mcg/hr #4"}]}
    fields = score({"c": record}, {"c": gold}).fields
    assert (fields["drug_class"]["correct"], fields["drug_class"]["total"]) == (1, 2)
    assert (fields["compounded"]["correct"], fields["compounded"]["total"]) == (2, 2)
    plain = score({"c": record}, {"c": {"document_id": "c", "items": [{"request": "Flexeril 10mg #60"}]}})
    assert "drug_class" not in plain.fields and "compounded" not in plain.fields


def test_a_store_with_corrections_is_counted_as_corrected(store: Path, tmp_path: Path) -> None:
    """The figures read a store's reviewed relations: where corrections define them, the corrected rows count."""
    corrected = tmp_path / "corrected.duckdb"
    corrected.write_bytes(store.read_bytes())
    with duckdb.connect(str(corrected)) as con:
        con.execute("CREATE OR REPLACE VIEW items_reviewed AS SELECT * REPLACE ('overturned' AS decision) FROM items")
    stats = compute_stats(corrected)
    assert stats.items == stats.overturned == 6 and compute_stats(store).overturned == 2
