"""Patterns compiled at first use: each of the package's compiles, once, and answers as ``re``'s does."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
import re
from collections.abc import Iterator

import pytest

import extractor
from extractor import lazy_re


def test_a_pattern_compiles_once_at_its_first_use_and_answers_as_re_does(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = re.compile
    monkeypatch.setattr(re, "compile", lambda *args: compiled.append(args[0]) or real(*args))
    source = r"(?P<drug>[a-z]+)\s+(\d+)\s*mg"
    deferred = lazy_re.compile(source, re.I)
    assert compiled == []
    plain = real(source, re.I)
    text = "Tramadol 50 mg and NAPROXEN 550mg, then gabapentin 300 MG"
    assert deferred.search(text)[0] == plain.search(text)[0]  # type: ignore[index]
    assert compiled == [source]
    assert deferred.findall(text) == plain.findall(text)
    assert deferred.sub(r"\g<drug>", text) == plain.sub(r"\g<drug>", text)
    assert [m.span() for m in deferred.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert deferred.split(text) == plain.split(text)
    assert deferred.fullmatch("x 1 mg") is not None and deferred.match("and 1 mg") is not None
    assert (deferred.pattern, deferred.flags, deferred.groups, deferred.groupindex) == \
        (plain.pattern, plain.flags, plain.groups, plain.groupindex)
    assert deferred.scanner(text).search().group(1) == "Tramadol"  # what is not copied is still there
    assert compiled == [source]


def test_a_bad_pattern_says_so_at_its_first_use() -> None:
    broken = lazy_re.compile(r"(unclosed")
    with pytest.raises(re.error):
        broken.search("text")


def test_a_pattern_copies_and_pickles() -> None:
    pattern = lazy_re.compile(r"\bMRI\b", re.I)
    assert copy.copy(pattern) is pattern and copy.deepcopy(pattern) is pattern
    assert pickle.loads(pickle.dumps(pattern)).search("an mri of the knee")[0] == "mri"  # type: ignore[index]


def _deferred_in(value: object) -> Iterator[object]:
    """The deferred patterns in a module's value: itself, or inside its lists, tuples, dicts and dataclasses."""
    if type(value).__name__ == "_Deferred":
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _deferred_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _deferred_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in vars(value).values():
            yield from _deferred_in(item)


def test_every_pattern_the_package_defers_compiles() -> None:
    """A typo in a pattern no test reaches would otherwise wait for the first letter that does: module
    names, the rule tables that hold patterns, and the service vocabulary's rows."""
    from extractor.parse import classify

    deferred = [*_deferred_in(classify.services())]
    for module in pkgutil.walk_packages(extractor.__path__, "extractor."):
        loaded = importlib.import_module(module.name)
        deferred += [found for value in vars(loaded).values() for found in _deferred_in(value)]
    assert len(deferred) > 130
    for pattern in deferred:
        assert isinstance(pattern.search(""), (re.Match, type(None)))
