"""The exported JSON Schema stays in sync; the public API is complete."""

import json
from pathlib import Path

import extractor
from extractor import Record

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "record.schema.json"


def test_exported_schema_matches_the_models() -> None:
    assert json.loads(SCHEMA.read_text()) == Record.model_json_schema(), (
        "schemas/record.schema.json is stale: run `imr-extract schema > schemas/record.schema.json`")


def test_all_is_complete() -> None:
    for name in extractor.__all__:  # loaded on first use
        getattr(extractor, name)
    public = {name for name in vars(extractor) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(extractor, name)).__name__ == "module"}
    assert public - modules == set(extractor.__all__)
