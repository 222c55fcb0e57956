"""The review site, the dashboard, the stats and the eval page, without a browser (tests/test_review_browser.py has one)."""

from __future__ import annotations

import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractor import Record, extract, extract_many, score
from extractor.cli import app
from extractor.review import build_site, compute_stats, load_records
from extractor.review.highlight import Field, fields_with_spans, mark_text
from extractor.review.site import page_names
from extractor.sinks import open_sink

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "evals" / "letters"
EXAMPLES = sorted((ROOT / "extractor" / "examples").glob("*.pdf"))
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
runner = CliRunner()


def make_review_records(folder: Path) -> list[Record]:
    """Records of every kind a reviewer meets: three real letters (one flagged, with model values), a letter
    whose text carries markup, one whose file is gone, and an error record."""
    folder.mkdir(parents=True, exist_ok=True)
    hostile = folder / "hostile.txt"
    text = (LETTERS / "imr-000.txt").read_text(encoding="utf-8")
    hostile.write_text(text.replace("Decision rationale: ", f"Decision rationale: {HOSTILE} ", 1), encoding="utf-8")
    gone = folder / "gone.txt"
    shutil.copy(LETTERS / "imr-002.txt", gone)
    empty = folder / "empty.txt"
    empty.write_bytes(b"")
    records = list(extract_many([*EXAMPLES, hostile, gone, empty], backend="offline"))
    gone.unlink()
    flagged = records[0].items[1]
    flagged.needs_review = True
    flagged.review_reasons = ["treatment: parser 'Acupuncture', model 'Acupuncture sessions'"]
    flagged.sources = {"treatment": "model", "rationale": "model", "request": "agreed"}
    records[0].review_reasons = ["the parser and the model found different items"]
    return records


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[Record]:
    return make_review_records(tmp_path_factory.mktemp("letters"))


@pytest.fixture(scope="module")
def site(records: list[Record], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site(records, out)
    return out


class _Marks(HTMLParser):
    """The text inside each ``data-field`` element, and whether every closing tag matched its opening one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.text: dict[str, str] = {}
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "br", "input", "img"):
            self.stack.append((tag, dict(attrs).get("data-field")))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop()[0] != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        for tag, path in self.stack:
            if tag == "mark" and path:
                self.text[path] = self.text.get(path, "") + data


def _marks(html: str) -> _Marks:
    parser = _Marks()
    parser.feed(html)
    return parser


def test_marks_nest_split_and_escape() -> None:
    text = "0123<b>&789abcdef"
    fields = [Field("outer", 0, 17, ""), Field("same", 0, 17, ""), Field("inner", 2, 9, ""),
              Field("crossing", 6, 13, ""), Field("past_the_end", 5, 99, ""), Field("empty", 4, 4, "")]
    html, marked = mark_text(text, fields)
    parsed = _marks(f"<pre>{html}</pre>")
    assert parsed.balanced and not parsed.stack
    assert marked == {"outer", "same", "inner", "crossing"}
    for f in fields[:4]:
        assert parsed.text[f.path] == text[f.start:f.end], f.path
    assert "<b>" not in html and "&lt;b" in html and "&gt;&amp;7" in html
    assert html.count('data-field="crossing"') == 2  # split where it crosses "inner"


def test_field_paths_cover_letter_fields_items_and_citations(records: list[Record]) -> None:
    record = records[0].model_copy(deep=True)
    record.spans["diagnoses[1]"] = record.spans["diagnoses"]
    fields = {f.path: f for f in fields_with_spans(record)}
    assert {"case_number", "diagnoses[1]", "items[0].request", "items[0].rationale",
            "items[0].reviewer_guidelines[0]", "items[1].rationale"} <= fields.keys()
    assert fields["diagnoses[1]"].value == record.diagnoses[1]
    assert fields["case_number"].value == record.case_number
    assert fields["items[1].rationale"].source == "model" and fields["items[0].rationale"].source == "parser"
    assert fields["items[0].reviewer_guidelines[0]"].value.startswith("MTUS")


def test_every_field_with_a_span_is_marked_at_its_span(records: list[Record], site: Path) -> None:
    names = page_names(records)
    checked = 0
    for record, name in zip(records, names, strict=True):
        if record.document_id == "gone" or not record.ok:
            continue
        parsed = _marks((site / "letters" / name).read_text(encoding="utf-8"))
        assert parsed.balanced
        fields = fields_with_spans(record)
        assert fields and {f.path for f in fields} <= parsed.text.keys()
        checked += 1
    assert checked == 4


def test_a_letter_with_markup_shows_it_as_text(records: list[Record], site: Path) -> None:
    page = (site / "letters" / "hostile.html").read_text(encoding="utf-8")
    assert "window.pwned" in page
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;&lt;img src=x onerror=" in page


def test_a_letter_whose_file_is_gone_shows_its_fields_and_says_so(site: Path) -> None:
    page = (site / "letters" / "gone.html").read_text(encoding="utf-8")
    assert "cannot be shown" in page and "gone.txt" in page
    assert 'id="letter-text"' not in page and 'data-field="case_number"' in page


@pytest.mark.parametrize("swap", ["symlink elsewhere", "edited", "fifo", "no checksum"])
def test_a_letter_is_shown_only_if_its_file_is_the_one_the_record_was_made_from(tmp_path: Path, swap: str) -> None:
    letter = tmp_path / "letter.txt"
    shutil.copy(LETTERS / "imr-000.txt", letter)
    record = extract(letter, backend="offline")
    secret = tmp_path / "passwd.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n" + (LETTERS / "imr-002.txt").read_text(encoding="utf-8"))
    letter.unlink()
    if swap == "symlink elsewhere":  # a record from elsewhere whose path now names another file
        letter.symlink_to(secret)
    elif swap == "edited":
        letter.write_text((LETTERS / "imr-000.txt").read_text(encoding="utf-8") + "root:x:0:0:root")
    elif swap == "fifo":
        os.mkfifo(letter)
    else:
        shutil.copy(LETTERS / "imr-000.txt", letter)
        record.provenance.source_sha256 = None
    build_site([record], tmp_path / "site")
    page = (tmp_path / "site" / "letters" / page_names([record])[0]).read_text(encoding="utf-8")
    assert "root:x:0:0" not in page and 'id="letter-text"' not in page
    assert 'id="text-problem"' in page and "letter.txt" in page
    assert {"symlink elsewhere": "SHA-256 differs", "edited": "SHA-256 differs", "fifo": "not a regular file",
            "no checksum": "no SHA-256"}[swap] in page


def test_index_lists_every_letter_with_what_the_filters_need(records: list[Record], site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    for name in page_names(records):
        assert f'href="letters/{name}"' in index
    assert index.count('data-flagged="yes"') == 1
    assert 'data-decisions="upheld overturned"' in index or 'data-decisions="overturned upheld"' in index
    assert "error: UnreadableFileError" in index


def _record(doc_id: str, specialty: str, month: int, items: list[tuple[str, str | None, list[str], str]],
            flagged: bool = False) -> Record:
    """A record with items given as (category, generic name, reviewer's guideline sources, decision)."""
    return Record.model_validate({
        "document_id": doc_id, "reviewer_specialty": specialty, "decision_date": f"2017-{month:02d}-03",
        "needs_review": flagged, "provenance": {"backend": "offline", "package_version": "0"},
        "items": [{"request": category, "treatment": category, "category": category, "generic_name": generic,
                   "decision": decision, "reviewer_guidelines": [{"source": s} for s in sources]}
                  for category, generic, sources, decision in items],
    })


def test_stats_count_overturns_per_group_month_and_flag() -> None:
    records = [
        _record("a", "Surgery", 1, [("medication", "hydrocodone", ["MTUS", "ODG"], "overturned"),
                                    ("imaging", None, ["ODG"], "upheld")]),
        _record("b", "Pain", 2, [("medication", "Hydrocodone", ["MTUS"], "overturned")], flagged=True),
        Record.model_validate({"document_id": "c", "provenance": {"backend": "offline", "package_version": "0"},
                               "error": {"type": "X", "message": "bad"}}),
    ]
    stats = compute_stats(records)
    assert (stats.letters, stats.errors, stats.items, stats.overturned) == (3, 1, 3, 2)
    by = {name: {r.key: (r.items, r.overturned) for r in rows} for name, rows in stats.by_group.items()}
    assert by["category"] == {"medication": (2, 2), "imaging": (1, 0)}
    assert by["generic drug"] == {"hydrocodone": (2, 2)}
    assert by["guideline source"] == {"MTUS": (2, 2), "ODG": (2, 1)}
    assert by["reviewer specialty"] == {"Surgery": (2, 1), "Pain": (1, 1)}
    assert {m: dict(c) for m, c in stats.by_month.items()} == {"2017-01": {"overturned": 1, "upheld": 1},
                                                                 "2017-02": {"overturned": 1}}
    assert dict(stats.items_per_letter) == {2: 1, 1: 1}
    assert (stats.letters_flagged, stats.share_letters_flagged) == (1, 0.5)


def test_dashboard_and_stats_command_show_the_same_figures(records: list[Record], site: Path, tmp_path: Path) -> None:
    dashboard = (site / "dashboard.html").read_text(encoding="utf-8")
    assert dashboard.count("<svg") >= 4 and "Overturn rate by generic drug" in dashboard
    stats = compute_stats(records)
    assert f"<b>{stats.items}</b> items" in dashboard
    path = tmp_path / "records.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    result = runner.invoke(app, ["stats", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{stats.items} item(s)" in result.output and "Overturn rate by reviewer specialty" in result.output


def test_review_command_reads_jsonl_parquet_and_duckdb(records: list[Record], tmp_path: Path) -> None:
    for suffix in (".jsonl", ".parquet", ".duckdb"):
        path = tmp_path / f"records{suffix}"
        sink = open_sink(path)
        for record in records:
            sink.write(record)
        sink.close()
        loaded = load_records(path)
        by_id = {r.document_id: len(r.items) for r in loaded}  # a store keeps no input order
        assert by_id == {r.document_id: len(r.items) for r in records} and len(loaded) == len(records)
        out = tmp_path / f"site{suffix}"
        result = runner.invoke(app, ["review", str(path), "-o", str(out)])
        assert result.exit_code == 0, result.output
        hostile = (out / "letters" / "hostile.html").read_text(encoding="utf-8")
        assert ('data-field="items[0].rationale"' in hostile) == (suffix != ".parquet")  # Parquet keeps no spans
        assert ("No field of this record has a span" in hostile) == (suffix == ".parquet")


def test_bad_records_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(extract(EXAMPLES[0]).model_dump_json() + "\n{\"document_id\": 3}\n", encoding="utf-8")
    for target, reason in ((path, "line 2: not a record"), (tmp_path / "none.jsonl", "no such file"),
                           (tmp_path / "x.csv", "must be .jsonl, .parquet or .duckdb")):
        result = runner.invoke(app, ["review", str(target), "-o", str(tmp_path / "site")])
        assert result.exit_code == 2 and str(target) in result.output and reason in result.output
        assert "Traceback" not in result.output


def test_eval_report_keeps_both_values_of_every_miss(tmp_path: Path) -> None:
    record = extract(EXAMPLES[0])
    gold = json.loads((ROOT / "evals" / "gold" / f"{record.document_id}.json").read_text(encoding="utf-8"))
    gold["case_number"] = "CM99-<b>9999"
    gold["items"][1]["category"] = "surgery"
    gold["items"].append({"request": "Gym membership", "treatment": "Gym", "decision": "upheld"})
    report = score({record.document_id: record}, gold={record.document_id: gold})
    misses = {m["field"]: m for m in report.to_dict()["misses"]}
    assert misses["case_number"]["gold"] == "CM99-<b>9999" and misses["case_number"]["predicted"] == record.case_number
    assert (misses["category"]["gold"], misses["category"]["predicted"], misses["category"]["item"]) == (
        "surgery", "acupuncture", 1)
    assert misses["item"]["gold"] == "Gym membership" and misses["item"]["predicted"] is None


def test_eval_command_writes_the_report_page(tmp_path: Path) -> None:
    letters, gold = tmp_path / "letters", tmp_path / "gold"
    letters.mkdir()
    gold.mkdir()
    shutil.copy(EXAMPLES[0], letters)
    data = json.loads((ROOT / "evals" / "gold" / f"{EXAMPLES[0].stem}.json").read_text(encoding="utf-8"))
    data["items"][0]["treatment"] = "<img src=x onerror=alert(1)>"
    (gold / f"{EXAMPLES[0].stem}.json").write_text(json.dumps(data), encoding="utf-8")
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["eval", "--letters", str(letters), "--gold", str(gold), "--backend", "offline",
                                 "--report-html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count('class="miss"') == 1 and "<mark>MRI of neck and right hand without contrast</mark>" in html


def test_rate_chart_keeps_groups_whose_labels_are_cut_alike() -> None:
    from extractor.review.charts import rate_chart
    from extractor.review.stats import RateRow

    long = "Preventive Medicine, Occupational Medicine"
    svg = rate_chart("t", [RateRow(long, 70, 9), RateRow(long + ", Public Health", 8, 2)])
    assert 'id="ytick_2"' in svg and "2/8" in svg and "9/70" in svg


def test_index_is_paged_and_the_site_built_from_a_stream(records: list[Record], tmp_path: Path) -> None:
    build_site(iter(records), tmp_path, per_page=2)  # a generator: the site never needs the whole list
    pages = ["index.html", *(f"index-{n}.html" for n in range(2, -(-len(records) // 2) + 1))]
    assert sorted(p.name for p in tmp_path.glob("index*.html")) == sorted(pages)
    html = [(tmp_path / p).read_text(encoding="utf-8") for p in pages]
    for name in page_names(records):
        assert sum(f'href="letters/{name}"' in h for h in html) == 1
    assert 'rel="next"' in html[0] and 'rel="prev"' not in html[0] and 'rel="next"' not in html[-1]
    assert f"<b>{compute_stats(records).items}</b> items" in (tmp_path / "dashboard.html").read_text(encoding="utf-8")
