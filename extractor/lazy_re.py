"""Regular expressions compiled when first used rather than when their module loads.

The parser and its self-checks hold about 150 patterns; compiling them all is a sixth of a one-letter
run's start, and a letter uses about half of them. A pattern from here compiles on its first method
call, then hands the compiled pattern's own bound methods out, so later calls cost what ``re``'s do.
"""

from __future__ import annotations

import re
from typing import Any, cast

# What a first use copies onto the pattern, so that the later uses never reach ``__getattr__``.
_COPIED = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "pattern", "flags",
           "groups", "groupindex")


class _Deferred:
    """Answers as its compiled pattern does; not an ``re.Pattern`` itself (``re.search(it, ...)`` and
    ``isinstance`` do not take it). Copied, it is itself; pickled, it is compiled again where it lands."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:  # only for what is not set: the first use, and rare attributes
        if name.startswith("_"):  # its own state (absent while copy or pickle builds one) and protocols
            raise AttributeError(name)
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            self._compiled = compiled = re.compile(*self._source)
            for attribute in _COPIED:
                setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return compile, self._source

    def __copy__(self) -> _Deferred:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Deferred:
        return self

    def __repr__(self) -> str:
        return f"lazy_re.compile({self._source[0]!r}, {self._source[1]})"


def compile(pattern: str, flags: int | re.RegexFlag = 0) -> re.Pattern[str]:  # noqa: A001 - re.compile's twin
    """``re.compile``, deferred to the pattern's first use (a bad pattern raises there, not here)."""
    return cast(re.Pattern[str], _Deferred(pattern, int(flags)))
