"""Gold files of the wrong types: every field of a real gold file given every JSON type in turn. A type
the contract allows is scored; any other is one line naming the file and the field, the file is left
out of the scores (exit 1, the report's ``invalid_gold``), and the eval goes on with the others."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from extractor.cli import app
from extractor.evaluation.scoring import load_gold

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "evals" / "gold"
BASE = "imr-000"
KINDS: dict[str, Any] = {"number": 7, "string": "7", "list": [], "object": {"a": 1}, "null": None, "bool": True}

# What the contract (docs/record-format.md) allows each field; a scalar may also be null (scored as absent).
TEXT, LIST = {"string", "null"}, {"list"}
LETTER_FIELDS = {name: TEXT for name in ("document_id", "layout", "case_number", "date_assigned", "decision_date",
                                         "ur_denial_date", "application_received_date", "priority", "date_of_injury",
                                         "patient_sex", "reviewer_specialty")}
LETTER_FIELDS |= {"patient_age": {"number", "null"}, "reviewer_licensure": LIST, "diagnoses": LIST, "items": LIST}
ITEM_FIELDS = {name: TEXT for name in ("request", "original_request", "date_of_service", "treatment", "category",
                                       "generic_name", "strength", "decision", "rationale")}
ITEM_FIELDS |= {"retrospective": {"bool", "null"}, "quantity": {"number", "null"}, "reasons": LIST,
                "claims_administrator_guidelines": LIST, "reviewer_guidelines": LIST}
CITATION_FIELDS = {"source": TEXT, "guideline": TEXT, "topic": TEXT, "pages": LIST}


def _variants(gold: dict[str, Any]) -> list[tuple[str, bool, dict[str, Any]]]:
    """(field path, allowed, gold object) for every field at every level and every JSON type; and
    lists holding an element of the wrong type (``pages`` of objects, ``items`` of strings)."""
    out = []

    def put(path: str, allowed: bool, change: Any) -> None:
        data = copy.deepcopy(gold)
        change(data)
        out.append((path, allowed, data))

    for kind, value in KINDS.items():
        for name, ok in LETTER_FIELDS.items():
            put(name, kind in ok, lambda d, n=name, v=value: d.__setitem__(n, copy.deepcopy(v)))
        for name, ok in ITEM_FIELDS.items():
            put(f"items[0].{name}", kind in ok, lambda d, n=name, v=value: d["items"][0].__setitem__(n, copy.deepcopy(v)))
        for name, ok in CITATION_FIELDS.items():
            put(f"items[0].reviewer_guidelines[0].{name}", kind in ok,
                lambda d, n=name, v=value: d["items"][0]["reviewer_guidelines"][0].__setitem__(n, copy.deepcopy(v)))
    put("items[0].reviewer_guidelines[0].pages[0]", False,
        lambda d: d["items"][0]["reviewer_guidelines"][0].__setitem__("pages", [{"page": 17}]))
    put("reviewer_licensure[0]", False, lambda d: d.__setitem__("reviewer_licensure", [5]))
    put("diagnoses[0]", False, lambda d: d.__setitem__("diagnoses", [None]))
    put("items[0].reasons[0]", False, lambda d: d["items"][0].__setitem__("reasons", [1]))
    put("items[0]", False, lambda d: d.__setitem__("items", ["x"]))
    return out


def test_every_field_of_a_wrong_type_is_one_line_and_the_eval_goes_on(tmp_path: Path) -> None:
    letters, gold_dir = tmp_path / "letters", tmp_path / "gold"
    letters.mkdir()
    gold_dir.mkdir()
    base = json.loads((GOLD / f"{BASE}.json").read_text())
    variants = _variants(base)
    expected: dict[str, tuple[str, bool]] = {}
    for n, (path, allowed, data) in enumerate([("(none)", True, base), *variants]):
        doc = f"v{n:03d}"
        (gold_dir / f"{doc}.json").write_text(json.dumps(data))
        (letters / f"{doc}.txt").symlink_to(ROOT / "evals" / "letters" / f"{BASE}.txt")
        expected[doc] = (path, allowed)
    report = tmp_path / "report.json"
    done = CliRunner().invoke(app, ["eval", "--letters", str(letters), "--gold", str(gold_dir), "--backend", "offline",
                                    "--quiet", "--report-json", str(report)])
    assert "Traceback" not in done.output and done.exception is None or isinstance(done.exception, SystemExit)
    assert done.exit_code == 1, done.output
    lines = done.output.splitlines()
    wrong = {doc for doc, (_, allowed) in expected.items() if not allowed}
    assert len(wrong) > 100 and len(expected) - len(wrong) > 50
    for doc, (path, allowed) in expected.items():
        named = [line for line in lines if f"{doc}.json" in line]
        if allowed:
            assert not named, (path, named)
        else:
            assert len(named) == 1 and f"{doc}.json: {path}:" in named[0] and "left out of the scores" in named[0], (path, named)
    scored = json.loads(report.read_text())
    assert scored["summary"]["documents"] == len(expected) - len(wrong)
    assert {Path(p).stem for p in scored["invalid_gold"]} == wrong
    assert scored["documents"]["v000"]["error"] is None and scored["summary"]["errors"] == 0


def test_the_gold_set_loads_exactly_as_written() -> None:
    """The type check lets every gold file of the contract through untouched: scores cannot change."""
    raw = {p.stem: json.loads(p.read_text()) for p in sorted(GOLD.glob("*.json"))}
    problems: list[str] = []
    assert load_gold(GOLD, on_invalid=lambda p, why: problems.append(f"{p}: {why}")) == raw
    assert not problems


def test_without_a_handler_a_bad_gold_file_raises_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"case_number": 12, "items": []}))
    try:
        load_gold(tmp_path)
    except Exception as e:  # noqa: BLE001 - the message is what is checked
        assert str(e) == f"{tmp_path / 'a.json'}: case_number: Input should be a valid string (got a number)"
    else:
        raise AssertionError("a bad gold file was loaded")
