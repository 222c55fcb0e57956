"""The review server and export-gold under hostile and careless use (red team of issue 17): each test
reproduces a defect found by trying it, and pins the fix."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import httpx
from fastapi.testclient import TestClient
from review_server_helpers import TOKEN, running_server, write_store
from review_server_helpers import flagged_store as flagged_store
from typer.testing import CliRunner

from extractor.cli import app as cli
from extractor.review.server.app import create_app
from extractor.review.server.store import ReviewStore

runner = CliRunner()


def _count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM corrections").fetchone()
    return int(row[0]) if row else 0


def test_a_server_on_loopback_refuses_a_foreign_host_header(store: tuple[Path, list[Any]]) -> None:
    """DNS rebinding: a page on evil.example resolved to 127.0.0.1 reaches the server with Host: evil.example."""
    with running_server(store[0]) as (url, _):
        token = url.split("token=")[1]
        base = url.split("/?")[0]
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/items", headers=auth).status_code == 200
        port = base.rsplit(":", 1)[1]
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
            refused = httpx.get(f"{base}/api/items", headers=auth | {"Host": host})
            assert refused.status_code == 400, host
            assert "items" not in refused.text
        assert httpx.get(f"{base}/api/items", headers=auth | {"Host": f"localhost:{port}"}).status_code == 200


def test_listening_on_every_address_warns(store: tuple[Path, list[Any]]) -> None:
    with running_server(store[0], "--host", "0.0.0.0") as (url, process):
        assert url.startswith("http://0.0.0.0:")
        token = url.split("token=")[1]
        port = url.split("/?")[0].rsplit(":", 1)[1]
        # Bound to every address, the server answers whatever name it is reached by.
        assert httpx.get(f"http://127.0.0.1:{port}/api/items", headers={"Authorization": f"Bearer {token}",
                                                                          "Host": f"myhost.lan:{port}"}).status_code == 200
        process.send_signal(2)
        _, stderr = process.communicate(timeout=15)
    assert "0.0.0.0" in stderr and "every" in stderr.lower()
    assert token not in stderr


def test_a_huge_note_or_value_is_refused_and_nothing_is_stored(store: tuple[Path, list[Any]]) -> None:
    path, records = store
    review = ReviewStore(path, "tester")
    sha = records[0].provenance.source_sha256
    with TestClient(create_app(review, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for body in ({"field": "strength", "value": "5 mg", "note": "x" * 10_000_000},
                     {"field": "treatment", "value": "x" * 5_000_000}):
            refused = client.post(f"/api/items/{sha}-0/corrections", json=body)
            assert refused.status_code == 413, refused.text[:200]
        assert client.post(f"/api/items/{sha}-0/corrections",
                           json={"field": "strength", "value": "5 mg", "note": "checked " * 100}).status_code == 200
    review.close()
    assert _count(path) == 1


def test_a_boolean_is_not_a_quantity_nor_an_age(store: tuple[Path, list[Any]]) -> None:
    path, records = store
    review = ReviewStore(path, "tester")
    sha = records[0].provenance.source_sha256
    with TestClient(create_app(review, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert client.post(f"/api/items/{sha}-0/corrections", json={"field": "quantity", "value": True}).status_code == 422
        assert client.post(f"/api/letters/{sha}/corrections", json={"field": "patient_age", "value": False}).status_code == 422
        done = client.post(f"/api/items/{sha}-0/corrections", json={"field": "quantity", "value": "12"})
        assert done.status_code == 200 and done.json()["quantity"] == 12
        assert client.post(f"/api/items/{sha}-0/corrections", json={"field": "compounded", "value": True}).status_code == 200
    review.close()
    assert _count(path) == 2


def test_a_store_cut_short_is_one_line_for_serve_and_export_gold(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    data = store[0].read_bytes()
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[: len(data) // 3])
    for args in (["review", str(cut), "--serve", "--port", "0"], ["export-gold", str(cut), "-o", str(tmp_path / "g")],
                 ["stats", str(cut)]):
        done = runner.invoke(cli, args)
        assert done.exit_code == 2, (args, done.output, done.exception)
        assert "cut.duckdb" in done.output and "Traceback" not in done.output


def test_export_gold_leaves_out_a_document_id_that_is_no_file_name(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    _, records = store
    good = [r for r in records if r.ok]
    odd = [good[0].model_copy(update={"document_id": "a" * 300}), good[1].model_copy(update={"document_id": "bad\x00id"}),
           good[2]]
    path = tmp_path / "odd.duckdb"
    write_store(path, odd)
    out = tmp_path / "gold"
    done = runner.invoke(cli, ["export-gold", str(path), "-o", str(out)])
    assert done.exit_code == 0, (done.output, done.exception)
    assert [p.name for p in out.iterdir()] == [f"{good[2].document_id}.json"]
    assert "1 gold file(s)" in done.output and done.output.count("is not a file name") == 2


def test_a_stored_correction_the_model_refuses_is_one_line_not_a_traceback(store: tuple[Path, list[Any]],
                                                                          tmp_path: Path) -> None:
    """A correction written by another version of the tool (or by hand) that today's model refuses."""
    path, records = store
    broken = tmp_path / "broken.duckdb"
    shutil.copy(path, broken)
    sha = records[0].provenance.source_sha256
    with duckdb.connect(str(broken)) as con:
        con.execute("INSERT INTO corrections (letter_sha256, item_key, item_index, field, old_value, new_value, action, "
                    "reviewer, corrected_at) VALUES (?, NULL, NULL, 'patient_age', '1', '\"old\"', 'correct', 'x', now())",
                    [sha])
        con.execute("INSERT INTO corrections (letter_sha256, item_key, item_index, field, old_value, new_value, action, "
                    "reviewer, corrected_at) SELECT source_sha256, item_key, 0, 'category', 'null', '\"not_a_category\"', "
                    "'correct', 'x', now() FROM item_keys WHERE source_sha256 = ? AND item_index = 0", [sha])
    with duckdb.connect(str(broken), read_only=True) as con:  # the views leave it out too, as extracted
        ages = con.execute("SELECT l.patient_age, r.patient_age FROM letters l JOIN letters_reviewed r USING (source_path) "
                           "WHERE l.source_sha256 = ?", [sha]).fetchall()
    assert ages and all(extracted == reviewed for extracted, reviewed in ages)
    out = tmp_path / "gold"
    done = runner.invoke(cli, ["export-gold", str(broken), "-o", str(out)])
    assert done.exit_code == 0, (done.output, done.exception)
    assert "patient_age" in done.output and "items[0].category" in done.output and records[0].document_id in done.output
    assert f"{records[0].document_id}.json" not in {p.name for p in out.iterdir()}
    assert len(list(out.iterdir())) == sum(r.ok for r in records) - 1
    review = ReviewStore(broken, "tester")
    with TestClient(create_app(review, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"},
                    raise_server_exceptions=False) as client:
        page = client.get(f"/letters/{sha}")
        assert page.status_code == 200 and "patient_age" in page.text
        assert client.get("/api/items").status_code == 200
        fixed = client.post(f"/api/letters/{sha}/corrections", json={"field": "patient_age", "value": 51})
        assert fixed.status_code == 200 and fixed.json()["patient_age"] == 51
        fixed = client.post(f"/api/items/{sha}-0/corrections", json={"field": "category", "value": "medication"})
        assert fixed.status_code == 200 and fixed.json()["category"] == "medication"
    review.close()
    assert runner.invoke(cli, ["export-gold", str(broken), "-o", str(out)]).exit_code == 0
    assert f"{records[0].document_id}.json" in {p.name for p in out.iterdir()}


def test_an_offset_past_any_store_is_an_empty_page_or_a_422_not_a_500(store: tuple[Path, list[Any]]) -> None:
    review = ReviewStore(store[0], "tester")
    with TestClient(create_app(review, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"},
                    raise_server_exceptions=False) as client:
        assert client.get("/api/items", params={"offset": 10**20}).status_code == 422
        far = client.get("/api/items", params={"offset": 2**62})
        assert far.status_code == 200 and far.json()["items"] == []
    review.close()


def test_a_page_decision_on_a_field_without_a_flag_is_refused_and_not_stored(store: tuple[Path, list[Any]]) -> None:
    path, records = store
    review = ReviewStore(path, "tester")
    sha = records[0].provenance.source_sha256
    with TestClient(create_app(review, TOKEN)) as client:
        client.get("/", params={"token": TOKEN})
        csrf = client.get("/").text.split('"X-CSRF-Token": "')[1].split('"')[0]
        form = {"target": f"{sha}-0", "field": "strength", "action": "correct", "version": "0", "value": "9 mg"}
        assert client.post("/ui/decide", data=form, headers={"X-CSRF-Token": csrf}).status_code == 404
    review.close()
    assert _count(path) == 0


def test_export_gold_names_the_files_in_its_folder_it_did_not_write(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    out = tmp_path / "gold"
    out.mkdir()
    (out / "stale-letter.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    done = runner.invoke(cli, ["export-gold", str(store[0]), "-o", str(out)])
    assert done.exit_code == 0
    assert "stale-letter.json" in done.output and "notes.txt" not in done.output
    assert (out / "stale-letter.json").read_text() == "{}"  # a person's file is never deleted


def test_export_gold_that_cannot_write_a_file_says_so_in_one_line(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    """A folder it cannot write in (read-only, full): as root a read-only folder is writable, so the
    temporary file's name is taken by a folder instead, which fails the same way (an OSError)."""
    out = tmp_path / "gold"
    out.mkdir()
    first = sorted(r.document_id for r in store[1] if r.ok)[0]
    (out / f".{first}.json.tmp").mkdir()
    done = runner.invoke(cli, ["export-gold", str(store[0]), "-o", str(out)])
    assert done.exit_code == 2 and "Traceback" not in done.output, (done.output, done.exception)
    assert f"cannot write {first}.json" in done.output


def test_a_letter_field_read_anew_after_its_correction_is_listed_as_drift(store: tuple[Path, list[Any]]) -> None:
    """Item corrections were listed when a re-extraction changed their field; letter-level ones were not."""
    path, records = store
    record = next(r for r in records if r.ok)
    sha = record.provenance.source_sha256
    review = ReviewStore(path, "tester")
    review.correct(sha, "patient_age", value=51)
    review.correct(sha, "case_number", value="CM00-0000001")
    review.close()
    write_store(path, [record.model_copy(update={"patient_age": 77})])  # a new parser reads the age differently
    with duckdb.connect(str(path), read_only=True) as con:
        drift = con.execute("SELECT field, status, json(extracted_value), json(corrected_value) FROM correction_drift "
                            "WHERE letter_sha256 = ?", [sha]).fetchall()
        age = con.execute("SELECT patient_age FROM letters_reviewed WHERE source_sha256 = ?", [sha]).fetchall()
    assert drift == [("patient_age", "changed", "77", "51")]
    assert age == [(51,)]


def test_export_gold_never_replaces_a_different_gold_file_unless_told(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    """``-o evals/gold`` by mistake: the hand-labelled gold of the same letter was silently overwritten."""
    out = tmp_path / "gold"
    assert runner.invoke(cli, ["export-gold", str(store[0]), "-o", str(out)]).exit_code == 0
    name = sorted(out.glob("*.json"))[0]
    exported = name.read_text()
    assert runner.invoke(cli, ["export-gold", str(store[0]), "-o", str(out)]).exit_code == 0  # the same: fine
    labelled = exported.replace('"items"', '"items_labelled_by_hand"', 1)
    name.write_text(labelled)
    kept = runner.invoke(cli, ["export-gold", str(store[0]), "-o", str(out)])
    assert kept.exit_code == 0 and name.read_text() == labelled
    assert name.name in kept.output and "--overwrite" in kept.output
    replaced = runner.invoke(cli, ["export-gold", str(store[0]), "-o", str(out), "--overwrite"])
    assert replaced.exit_code == 0 and name.read_text() == exported


def test_a_stored_record_this_version_refuses_is_one_line_everywhere(store: tuple[Path, list[Any]], tmp_path: Path) -> None:
    """A store written by another version, whose record JSON today's model refuses (a category renamed)."""
    path, records = store
    sha = records[0].provenance.source_sha256
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE letters SET record = replace(record, '\"category\":\"', '\"category\":\"old_') "
                    "WHERE source_sha256 = ?", [sha])
    out = tmp_path / "gold"
    done = runner.invoke(cli, ["export-gold", str(path), "-o", str(out)])
    assert done.exit_code == 0 and "category" in done.output and "extract it again" in done.output, done.exception
    assert len(list(out.glob("*.json"))) == sum(r.ok for r in records) - 1
    # stats is SQL over the store's columns and never reads the stored record; the site is built from the records
    done = runner.invoke(cli, ["review", str(path), "-o", str(tmp_path / "site")])
    assert done.exit_code == 2 and "extract it again" in done.output, done.exception
    review = ReviewStore(path, "tester")
    with TestClient(create_app(review, TOKEN), headers={"Authorization": f"Bearer {TOKEN}"},
                    raise_server_exceptions=False) as client:
        page = client.get(f"/letters/{sha}")
        assert page.status_code == 500 and "extract it again" in page.json()["detail"]
        assert client.get("/").status_code == 200
    review.close()


def test_the_token_leaves_the_address_bar_of_any_page_it_opens(store: tuple[Path, list[Any]]) -> None:
    """Only the queue dropped it: a letter's address with ?token= kept it (history, bookmarks, screen shares)."""
    review = ReviewStore(store[0], "tester")
    sha = store[1][0].provenance.source_sha256
    with TestClient(create_app(review, TOKEN)) as client:
        opened = client.get(f"/letters/{sha}", params={"token": TOKEN}, follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == f"/letters/{sha}"
        assert "httponly" in opened.headers["set-cookie"].lower()
        queue = client.get("/", params={"token": TOKEN, "field": "treatment"}, follow_redirects=False)
        assert queue.status_code == 303 and queue.headers["location"] == "/?field=treatment"
        assert client.get(f"/letters/{sha}").status_code == 200
    review.close()
