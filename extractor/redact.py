"""Secrets out of everything a person or a file sees.

A server may echo the key it was sent (``Incorrect API key provided: Bearer tok_...``) in an error,
a batch's error list or an answer, and from there it could reach a message, a log line, a record,
the answer cache or a report. The configured key is therefore redacted by its value, whatever its
shape, where text leaves the program: the command line's output, every record the model backends
make, every answer cached, what ``batch`` keeps. Messages are also cleared of anything shaped like
a key (``sk-...``, ``key-...``), which a server may quote from a key it holds rather than the one sent.
"""

from __future__ import annotations

import functools
import io
import json
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

if TYPE_CHECKING:  # the command line builds its redacting consoles at start-up, before any record exists
    from .models import Record

REDACTED = "[redacted]"
# Shorter than this, a configured "key" is kept in data (records, cached answers): it is a local
# server's placeholder (vLLM's EMPTY, none) far more often than a secret, and replacing every "none"
# or "test" in the records would damage them. Messages for people lose it from this length on.
MIN_SECRET = 8
MIN_SHOWN_SECRET = 4
_KEYISH = re.compile(r"\b(sk|key)-[\w*-]{4,}")


class Redactor:
    """Replaces the configured secrets (and, in messages, key-shaped words) with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None  # in data: the secrets of MIN_SECRET characters or more
        self._shown: re.Pattern[str] | None = None  # in messages: of MIN_SHOWN_SECRET or more
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too: each as written, as escaped inside JSON text and as URL-encoded."""
        self._secrets |= {s for s in secrets if len(s) >= MIN_SHOWN_SECRET}
        self._pattern = _alternatives(s for s in self._secrets if len(s) >= MIN_SECRET)
        self._shown = _alternatives(self._secrets)

    def text(self, text: str) -> str:
        """``text`` without the configured secrets (data: key-shaped words in a letter are kept)."""
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def message(self, text: str) -> str:
        """A message for people: without the configured secrets, however short, nor anything shaped like a key."""
        return _KEYISH.sub(REDACTED, self._shown.sub(REDACTED, text) if self._shown is not None else text)

    def record(self, record: Record) -> Record:
        """The record, every string in it redacted (the same object when it holds no secret)."""
        if self._pattern is None:
            return record
        from .models import Record

        dumped = record.model_dump_json()
        if self._pattern.search(dumped) is None:
            return record
        return Record.model_validate_json(self.text(dumped))


def _alternatives(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching each secret as written, as escaped inside JSON text and as URL-encoded."""
    forms = {form for s in secrets for form in (s, json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1],
                                                 quote(s, safe=""))}
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


@functools.cache
def redactor(secrets: tuple[str, ...]) -> Redactor:
    """The redactor of these secrets (``Settings.redactor``), built once per set."""
    return Redactor(secrets)


def endpoint_name(url: str) -> str:
    """The endpoint's URL fit to print: without a user name, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))


class RedactedStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr``, looked up at each write (so a test runner's capture is
    used), with every message redacted on its way out: the command line prints only through these."""

    def __init__(self, name: str, redactor: Redactor) -> None:
        self._name = name
        self.redactor = redactor

    @property
    def _stream(self) -> io.TextIOBase:
        stream = getattr(sys, self._name)
        # While a live progress bar runs, rich puts a proxy that prints through the console in its place:
        # writing to it would come back here. Rich's own consoles look through it the same way.
        return getattr(stream, "rich_proxied_file", stream)  # type: ignore[no-any-return]

    def write(self, text: str) -> int:
        self._stream.write(self.redactor.message(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True
