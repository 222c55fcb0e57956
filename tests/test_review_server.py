"""The review server without a browser: the corrections store (append-only, kept across re-extraction and
kills), the JSON API's token, CSRF, 401/404/409/422 paths, the lock, and export-gold scored by eval.

tests/test_review_server_browser.py drives it in headless Chromium."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient
from review_server_helpers import LETTERS, ROOT, TOKEN, running_server, write_store
from review_server_helpers import flagged_store as flagged_store
from typer.testing import CliRunner

from extractor.cli import app as cli
from extractor.review.server.app import create_app
from extractor.review.server.store import ReviewStore
from extractor.sinks.duckdb import read_records

runner = CliRunner()


@pytest.fixture
def api(store: tuple[Path, list[Any]]) -> Any:
    review = ReviewStore(store[0], "tester")
    with TestClient(create_app(review, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client
    review.close()


def _sql(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _first_flagged(api: Any) -> dict[str, Any]:
    items = api.get("/api/items", params={"needs_review": "true", "limit": 100}).json()["items"]
    return next(i for i in items if any(f["field"] == "treatment" for f in i["flags"]))


def test_api_lists_flagged_items_with_their_fields_and_confidences(api: Any, store: tuple[Path, list[Any]]) -> None:
    _, records = store
    listed = api.get("/api/items", params={"needs_review": "true", "limit": 3}).json()
    flagged = sum(i.needs_review for r in records for i in r.items)
    assert listed["total"] == flagged and len(listed["items"]) == 3
    item = listed["items"][0]
    for key in ("id", "document_id", "item_index", "treatment", "category", "decision", "needs_review",
                "review_reasons", "confidence", "flags", "versions"):
        assert key in item
    assert item["needs_review"] is True
    rest = api.get("/api/items", params={"needs_review": "true", "limit": 3, "offset": 3}).json()["items"]
    assert {i["id"] for i in rest}.isdisjoint(i["id"] for i in listed["items"])
    assert api.get("/docs").status_code == 200 and "/api/items/{item_id}/corrections" in api.get("/docs").text
    assert "/api/items" in api.get("/openapi.json").json()["paths"]


def test_a_correction_is_validated_stored_and_read_everywhere(api: Any) -> None:
    item = _first_flagged(api)
    answer = api.post(f"/api/items/{item['id']}/corrections",
                      json={"field": "category", "value": "surgery", "version": 0, "note": "reads as surgery"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["category"] == "surgery" and answer.json()["corrected_fields"] == ["category"]
    assert api.get(f"/api/items/{item['id']}").json()["category"] == "surgery"
    sha = item["id"].rsplit("-", 1)[0]
    (row,) = [r for r in api.get(f"/api/letters/{sha}/corrections").json() if r["field"] == "category"]
    assert json.loads(row["old_value"]) == item["category"] and json.loads(row["new_value"]) == "surgery"
    assert row["reviewer"] == "tester" and row["action"] == "correct" and row["note"] == "reads as surgery"
    parser = api.post(f"/api/items/{item['id']}/corrections", json={"field": "treatment", "action": "model"}).json()
    assert parser["treatment"] == "Model reading"
    accepted = api.post(f"/api/items/{item['id']}/accept", json={"field": "treatment"})
    assert accepted.status_code == 200 and accepted.json()["treatment"] == "Model reading"


def test_views_stats_and_records_read_corrected_values_and_the_extracted_stay(store: tuple[Path, list[Any]]) -> None:
    path, records = store
    review = ReviewStore(path, "tester")
    record = next(r for r in records if len(r.items) > 1)
    sha = record.provenance.source_sha256
    before = dict(_sql_con(review, "SELECT category, items FROM overturn_by_category"))
    old = record.items[0].category
    review.correct(f"{sha}-0", "category", value="surgery")
    review.correct(sha, "patient_age", value=33)
    review.correct(sha, "reviewer_licensure", value=["CA", "NY"])
    review.correct(f"{sha}-1", "reasons", value=["not_recommended"])
    review.correct(f"{sha}-1", "date_of_service", value="2016-02-03")
    after = dict(_sql_con(review, "SELECT category, items FROM overturn_by_category"))
    review.close()
    assert after.get("surgery", 0) == before.get("surgery", 0) + 1 and after.get(old, 0) == before[old] - 1
    reviewed = _sql(path, f"SELECT category, corrected_fields FROM items_reviewed i JOIN letters USING (source_path) "
                          f"WHERE source_sha256 = '{sha}' AND item_index = 0")
    assert reviewed == [("surgery", ["category"])]
    assert _sql(path, f"SELECT category FROM items JOIN letters USING (source_path) WHERE source_sha256 = '{sha}' "
                      "AND item_index = 0") == [(old,)]
    assert _sql(path, f"SELECT patient_age, reviewer_licensure FROM letters_reviewed WHERE source_sha256 = '{sha}'"
                ) == [(33, ["CA", "NY"])]
    assert _sql(path, f"SELECT reasons, date_of_service::VARCHAR, corrected_fields FROM items_reviewed JOIN letters "
                      f"USING (source_path) WHERE source_sha256 = '{sha}' AND item_index = 1"
                ) == [(["not_recommended"], "2016-02-03", ["date_of_service", "reasons"])]
    rebuilt = {r.provenance.source_sha256: r for r in read_records(path)}[sha]
    assert rebuilt.items[0].category == "surgery" and rebuilt.patient_age == 33
    raw = {r.provenance.source_sha256: r for r in read_records(path, corrected=False)}[sha]
    assert raw.items[0].category == old
    stats = runner.invoke(cli, ["stats", str(path)])
    assert stats.exit_code == 0 and "surgery" in stats.output


def _sql_con(review: ReviewStore, sql: str) -> list[tuple[Any, ...]]:
    return review._con.execute(sql).fetchall()


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("category", "spaceship", "category"), ("quantity", "thirty", "quantity"), ("date_of_service", "2016-13-45", "date"),
    ("rationale", "new words", "unknown field"), ("no_such_field", 1, "unknown field"),
])
def test_an_invalid_correction_is_refused_with_the_reason_and_nothing_is_stored(
        api: Any, store: tuple[Path, list[Any]], field: str, value: Any, reason: str) -> None:
    item = _first_flagged(api)
    answer = api.post(f"/api/items/{item['id']}/corrections", json={"field": field, "value": value})
    assert answer.status_code == 422 and reason in answer.json()["detail"].lower()
    assert api.get(f"/api/letters/{item['id'].rsplit('-', 1)[0]}/corrections").json() == []


def test_a_letter_field_is_validated_by_the_record_model(api: Any, store: tuple[Path, list[Any]]) -> None:
    sha = store[1][0].provenance.source_sha256
    for value in (["ZZ"], "CA", [12]):
        assert api.post(f"/api/letters/{sha}/corrections", json={"field": "reviewer_licensure", "value": value}
                        ).status_code == 422
    assert api.post(f"/api/letters/{sha}/corrections", json={"field": "patient_age", "value": 300}).status_code == 422
    ok = api.post(f"/api/letters/{sha}/corrections", json={"field": "reviewer_licensure", "value": ["CA", "NY"]})
    assert ok.status_code == 200 and ok.json()["reviewer_licensure"] == ["CA", "NY"]
    assert api.post(f"/api/letters/{sha}/accept", json={"field": "reviewer_licensure"}).status_code == 200
    assert api.get(f"/api/letters/{sha}").json()["versions"]["reviewer_licensure"] >= 2


def test_a_stale_correction_is_refused_with_the_current_value(api: Any) -> None:
    item = _first_flagged(api)
    seen = item["versions"].get("treatment", 0)
    first = api.post(f"/api/items/{item['id']}/corrections", json={"field": "treatment", "value": "First", "version": seen})
    assert first.status_code == 200
    second = api.post(f"/api/items/{item['id']}/corrections", json={"field": "treatment", "value": "Second", "version": seen})
    assert second.status_code == 409
    assert second.json()["current"]["treatment"] == "First"
    assert api.get(f"/api/items/{item['id']}").json()["treatment"] == "First"
    # Another field of the same item was not decided by anyone: its version still holds.
    assert api.post(f"/api/items/{item['id']}/corrections",
                    json={"field": "strength", "value": "5 mg", "version": 0}).status_code == 200


def test_every_request_needs_the_token_and_page_changes_need_the_csrf_token(store: tuple[Path, list[Any]]) -> None:
    review = ReviewStore(store[0], "tester")
    sha = store[1][0].provenance.source_sha256
    with TestClient(create_app(review, TOKEN)) as client:
        for method, url in (("GET", "/"), ("GET", "/api/items"), ("GET", f"/letters/{sha}"), ("GET", "/static/htmx.min.js"),
                            ("GET", "/docs"), ("GET", "/openapi.json"), ("POST", f"/api/items/{sha}-0/corrections"),
                            ("POST", "/ui/decide")):
            assert client.request(method, url, json={"field": "treatment", "value": "x"}).status_code == 401, url
        assert client.get("/api/items", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        first = client.get("/", params={"token": TOKEN}, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert "httponly" in first.headers["set-cookie"].lower() and "samesite=strict" in first.headers["set-cookie"].lower()
        page = client.get("/")  # the cookie now
        assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
        form = {"target": f"{sha}-0", "field": "treatment", "action": "correct", "version": "0", "value": "By form"}
        assert client.post("/ui/decide", data=form).status_code == 403  # the cookie alone cannot change anything
        csrf = page.text.split('"X-CSRF-Token": "')[1].split('"')[0]
        assert client.post("/ui/decide", data=form, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
                           ).status_code == 403
        done = client.post("/ui/decide", data=form, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200 and "By form" in done.text
    review.close()


def test_corrections_survive_re_extraction_and_changes_are_listed(store: tuple[Path, list[Any]]) -> None:
    path, records = store
    record = next(r for r in records if len(r.items) > 2)
    sha = record.provenance.source_sha256
    review = ReviewStore(path, "tester")
    review.correct(f"{sha}-0", "treatment", value="Corrected zero")
    review.correct(f"{sha}-1", "quantity", value=42)
    review.correct(f"{sha}-2", "decision", value="overturned" if record.items[2].decision == "upheld" else "upheld")
    review.close()
    # A new parser version: items in another order, one corrected field now read differently, one item gone.
    items = list(reversed(record.items))
    items[-1] = items[-1].model_copy(update={"treatment": "Read anew"})
    changed = record.model_copy(update={"items": items[1:]})  # drops the old item 2
    write_store(path, [changed])
    rows = {r.provenance.source_sha256: r for r in read_records(path)}
    kept = rows[sha].items
    assert kept[-1].treatment == "Corrected zero" and kept[-1].request == record.items[0].request
    assert kept[-2].quantity == 42
    drift = _sql(path, "SELECT field, status, json(extracted_value) FROM correction_drift ORDER BY field")
    assert drift == [("decision", "item_missing", None), ("treatment", "changed", '"Read anew"')]
    assert _sql(path, "SELECT count(*) FROM corrections") == [(3,)]


def test_re_extracting_with_the_cli_keeps_every_correction(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    path, records = store
    review = ReviewStore(path, "tester")
    sha = records[1].provenance.source_sha256
    review.correct(f"{sha}-0", "generic_name", value="morphine")
    review.close()
    done = runner.invoke(cli, ["extract", str(tmp_path / "letters"), "-o", str(path), "--backend", "offline", "-q"])
    assert done.exit_code == 0, done.output
    assert _sql(path, "SELECT count(*) FROM corrections") == [(1,)]
    assert {r.provenance.source_sha256: r for r in read_records(path)}[sha].items[0].generic_name == "morphine"


_WRITER = """
import sys
from extractor.review.server.store import ReviewStore
store = ReviewStore(sys.argv[1], "killed")
sha = sys.argv[2]
n = 0
while True:
    store.correct(sha + "-0", "treatment", value=f"value {n}", note="x" * 2000)
    print(n, flush=True)
    n += 1
"""


def test_a_server_killed_while_writing_keeps_every_committed_correction_and_no_partial_one(
        store: tuple[Path, list[Any]]) -> None:
    path, records = store
    sha = records[0].provenance.source_sha256
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), sha], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert writer.stdout is not None
    acknowledged = [writer.stdout.readline() for _ in range(25)]
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    acknowledged += writer.stdout.readlines()  # lines printed before the kill landed
    rows = _sql(path, "SELECT new_value, note, reviewer, corrected_at FROM corrections ORDER BY id")
    assert len(rows) >= len([line for line in acknowledged if line.strip()])
    assert all(json.loads(v).startswith("value ") and note == "x" * 2000 and who == "killed" and when is not None
               for v, note, who, when in rows)
    assert [json.loads(v) for v, *_ in rows] == [f"value {n}" for n in range(len(rows))]
    review = ReviewStore(path, "after")  # the store opens again and the latest committed value is the one read
    assert review.item(f"{sha}-0")["treatment"] == json.loads(rows[-1][0])
    review.close()


def test_the_server_holds_the_store_lock_and_prints_its_url_first(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    path, _ = store
    with running_server(path) as (url, _process):
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        base, token = url.split("/?token=")
        assert httpx.get(f"{base}/api/items").status_code == 401
        assert httpx.get(f"{base}/api/items", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        again = subprocess.run([sys.executable, "-c", "from extractor.cli import main; main()", "review", str(path),
                                "--serve", "--port", "0"], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert again.returncode == 2 and "another imr-extract run" in again.stderr and again.stderr.count("\n") == 1
        extract = runner.invoke(cli, ["extract", str(tmp_path / "letters"), "-o", str(path), "--backend", "offline"])
        assert extract.exit_code == 2 and "another imr-extract run" in extract.output


def test_export_gold_is_scored_by_eval_as_it_is(tmp_path: Path) -> None:
    letters = tmp_path / "letters"
    letters.mkdir()
    for name in ("imr-000.txt", "imr-002.txt", "CM16-0230548.pdf"):
        (letters / name).write_bytes((LETTERS / name).read_bytes())
    path = tmp_path / "corpus.duckdb"
    assert runner.invoke(cli, ["extract", str(letters), "-o", str(path), "--backend", "offline", "-q"]).exit_code == 0
    sha = next(r for r in read_records(path) if r.document_id == "imr-002").provenance.source_sha256
    review = ReviewStore(path, "tester")
    review.correct(f"{sha}-0", "treatment", value="A reviewer's reading")
    review.close()
    gold = tmp_path / "gold"
    done = runner.invoke(cli, ["export-gold", str(path), "-o", str(gold)])
    assert done.exit_code == 0 and "3 gold file(s)" in done.output
    exported = json.loads((gold / "imr-002.json").read_text(encoding="utf-8"))
    assert exported["items"][0]["treatment"] == "A reviewer's reading"
    assert set(exported) == set(json.loads((ROOT / "evals" / "gold" / "imr-002.json").read_text(encoding="utf-8")))
    report = tmp_path / "report.json"
    scored = runner.invoke(cli, ["eval", "--letters", str(letters), "--gold", str(gold), "--backend", "offline",
                                 "--report-json", str(report)])
    assert scored.exit_code == 0, scored.output
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert summary["item_recall"] == summary["item_precision"] == summary["decision_accuracy"] == 1.0
    misses = json.loads(report.read_text(encoding="utf-8"))["fields"]["treatment"]
    assert misses["accuracy"] < 1.0  # the reviewer's correction is what the fresh extraction now misses
    only = tmp_path / "reviewed"
    assert runner.invoke(cli, ["export-gold", str(path), "-o", str(only), "--reviewed-only"]).exit_code == 0
    assert sorted(p.name for p in only.glob("*.json")) == ["imr-002.json"]


def test_serve_and_export_gold_say_one_line_for_a_bad_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a store")
    for args in (["review", str(bad), "--serve"], ["export-gold", str(bad), "-o", str(tmp_path / "g")],
                 ["review", str(tmp_path / "records.jsonl"), "--serve"]):
        done = runner.invoke(cli, args)
        assert done.exit_code == 2 and "Traceback" not in done.output and str(tmp_path.name) in done.output, done.output


def test_queue_is_ordered_by_doubt_and_filtered(store: tuple[Path, list[Any]]) -> None:
    review = ReviewStore(store[0], "tester")
    queue = review.queue
    scored = [e.confidence for e in queue if e.confidence is not None]
    assert scored == sorted(scored) and queue[0].confidence == 0.4
    assert all(e.confidence is None for e in queue[len(scored):])
    assert {e.field for e in review.filtered_queue(field="quantity")} == {"quantity"}
    assert {e.code for e in review.filtered_queue(reason="category_unsure")} == {"category_unsure"}
    low = review.filtered_queue(max_confidence=0.5)
    assert low and all(e.confidence is not None and e.confidence <= 0.5 for e in low)
    first = queue[0]
    review.correct(first.target, first.field, action="accept")
    assert first not in review.filtered_queue() and first in review.filtered_queue(status="resolved")
    review.close()


def test_records_made_before_structured_flags_are_queued_from_their_review_reasons(tmp_path: Path) -> None:
    from extractor import extract_many

    source = tmp_path / "imr-000.txt"
    source.write_text((LETTERS / "imr-000.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (record,) = extract_many([source], backend="offline")
    old = record.items[0].model_copy(update={"flags": [], "needs_review": True,
                                             "review_reasons": ["quantity: parser 30, model 60", "the words look odd"]})
    path = tmp_path / "old.duckdb"
    write_store(path, [record.model_copy(update={"items": [old, *record.items[1:]], "flags": []})])
    review = ReviewStore(path, "tester")
    assert sorted((e.field, e.code) for e in review.queue) == [("item", "review"), ("quantity", "review")]
    sha = record.provenance.source_sha256
    assert review.correct(f"{sha}-0", "item", action="accept")["corrected_fields"] == ["item"]
    assert review.correct(f"{sha}-0", "quantity", value="60")["quantity"] == 60
    assert all(e.resolved for e in review.queue)
    review.close()


def test_the_real_server_killed_during_corrections_keeps_every_acknowledged_one(store: tuple[Path, list[Any]]) -> None:
    import threading

    path, records = store
    sha = records[0].provenance.source_sha256
    acknowledged: list[str] = []
    sent: list[str] = []
    with running_server(path) as (url, process):
        base, token = url.split("/?token=")

        def post_until_it_dies() -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
                for n in range(10_000):
                    sent.append(f"v{n}")
                    try:
                        answer = client.post(f"/api/items/{sha}-0/corrections", json={"field": "treatment", "value": f"v{n}"})
                    except httpx.HTTPError:
                        return
                    assert answer.status_code == 200
                    acknowledged.append(f"v{n}")

        writer = threading.Thread(target=post_until_it_dies)
        writer.start()
        while len(acknowledged) < 10 and writer.is_alive():
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # mid-stream: no shutdown, no checkpoint; the next open replays the log
        process.wait()
        writer.join(timeout=30)
    rows = [json.loads(v) for (v,) in _sql(path, "SELECT new_value FROM corrections ORDER BY id")]
    assert len(acknowledged) >= 10 and rows[:len(acknowledged)] == acknowledged  # every acknowledged one, in order
    assert rows == sent[:len(rows)] and len(rows) <= len(acknowledged) + 1  # at most the one in flight, whole
    review = ReviewStore(path, "after")  # the lock went with the process: the store opens for review again
    assert review.item(f"{sha}-0")["treatment"] == rows[-1]
    review.close()
