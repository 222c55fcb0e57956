"""The drug lexicon's compact index: the same readings as drug-named-entity-recognition itself, built
once per installed version, whole under concurrent first use, and still there with a read-only cache."""

from __future__ import annotations

import csv
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor.parse import drugs, lexicon
from extractor.parse.classify import SERVICES_CSV

ROOT = Path(__file__).resolve().parent.parent


def _readings(found: list[tuple[object, int, int]], name_of: object) -> list[tuple[str | None, int, int]]:
    return [(name_of(hit), start, end) for hit, start, end in found]  # type: ignore[operator]


def _our_names() -> set[str]:
    """Every name our own tables use, and every request of the gold set, as the parser splits them into words."""
    texts = [*drugs.EXTRA_GENERICS, *drugs.EXTRA_GENERICS.values(), *drugs._NOT_DRUGS]
    with SERVICES_CSV.open(encoding="utf-8") as f:
        texts += [row["example"] for row in csv.DictReader(f)]
    for gold in (ROOT / "evals" / "gold").glob("*.json"):
        for item in json.loads(gold.read_text(encoding="utf-8"))["items"]:
            texts += [item.get("request") or "", item.get("treatment") or "", item.get("generic_name") or ""]
    return {t for t in texts if t}


def test_the_index_reads_every_name_as_the_lexicon_does() -> None:
    """Every one- and two-word name the lexicon knows, alone and between other words, and every name our
    tables and the gold set's requests use: the same drugs at the same words as ``find_drugs``."""
    from drug_named_entity_recognition import drugs_finder

    def old(words: list[str]) -> list[tuple[str | None, int, int]]:
        return _readings(drugs_finder.find_drugs(words, is_ignore_case=True), lambda h: h.get("name"))

    def new(words: list[str]) -> list[tuple[str | None, int, int]]:
        return _readings(lexicon.find(words), lambda e: e.name)

    variants = [v for v in drugs_finder.drug_variant_to_canonical if len(v.split(" ")) <= 2]
    assert len(variants) > 50_000
    mismatched = [v for v in variants if old(v.split(" ")) != new(v.split(" "))]
    assert not mismatched, mismatched[:10]
    # in the middle of a request, in any case: pairs overlap and single words follow the pairs' rules
    for text in sorted(_our_names()) + [f"Take {v.upper()} daily with {w.title()} gel" for v, w in zip(variants[::97], variants[::89], strict=False)]:
        for words in (drugs._words(text), text.split()):
            assert old(words) == new(words), text


def test_readings_keep_the_brand_flag_and_identifiers() -> None:
    entry, start, end = lexicon.find(["Oxycodone"])[0]
    assert (entry.name, entry.is_brand, entry.drugbank_id, start, end) == ("Oxycodone", False, "DB00497", 0, 1)


@pytest.fixture
def small_lexicon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[int]]:
    """A private cache with a three-name lexicon; yields the count of builds."""
    builds: list[int] = []

    def rows() -> Iterator[tuple[str, int, str | None, int | None, str | None, str | None]]:
        builds.append(1)
        yield from [("ultram", 0, "Tramadol", 1, "DB00193", None), ("lidoderm", 0, "Lidocaine", 1, None, None),
                    ("lidocaine patch", 0, "Lidocaine Patch", None, None, None)]

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(lexicon, "_rows", rows)
    lexicon._index.cache_clear()
    yield builds
    lexicon._index.cache_clear()


def test_built_once_then_opened_and_rebuilt_for_a_new_version(small_lexicon: list[int], monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    assert [e.name for e, _, _ in lexicon.find(["Ultram", "lidocaine", "PATCH"])] == ["Lidocaine Patch", "Tramadol"]  # pairs first
    first = lexicon._index().path
    assert first.parent == tmp_path / "cache" / "imr-extract-lexicon"
    lexicon._index.cache_clear()
    lexicon.find(["Lidoderm"])  # a new process: opens the file
    assert len(small_lexicon) == 1
    monkeypatch.setattr(lexicon, "FORMAT", lexicon.FORMAT + 1)  # as an upgrade of the dependency changes its name
    lexicon._index.cache_clear()
    lexicon.find(["Lidoderm"])
    assert len(small_lexicon) == 2 and lexicon._index().path != first
    assert sorted(p.suffix for p in first.parent.iterdir()) == [".sqlite", ".sqlite"]  # no temporary file left


def test_a_cache_that_cannot_be_written_builds_in_a_private_folder(small_lexicon: list[int], monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    with caplog.at_level(logging.WARNING, logger="extractor"):
        assert [e.name for e, _, _ in lexicon.find(["ultram"])] == ["Tramadol"]
    assert "cannot be written" in caplog.text and str(blocked) in caplog.text
    assert not lexicon._index().path.is_relative_to(blocked)


def test_concurrent_first_builds_leave_one_whole_index(small_lexicon: list[int]) -> None:
    target = lexicon.cache_root() / "imr-extract-lexicon" / "drugs-test.sqlite"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            lexicon.build(target)
            assert lexicon.Index(target).lookup({"ultram"})["ultram"][0].name == "Tramadol"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_names_remembered_between_lookups_give_the_same_entries(small_lexicon: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexicon, "_REMEMBERED", 3)  # forgets often
    first = lexicon.find(["Ultram", "lidocaine", "patch", "Lidoderm"])
    for _ in range(3):
        assert lexicon.find(["Ultram", "lidocaine", "patch", "Lidoderm"]) == first
        assert lexicon.find(["lidoderm", "x", "ULTRAM"]) == [(first[2][0], 0, 1), (first[1][0], 2, 3)]
