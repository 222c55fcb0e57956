"""Progress for people: plain lines off a terminal, at most every few seconds, nothing when quiet,
and counts of failures and letters to review."""

from __future__ import annotations

import io

from extractor.models import ErrorInfo, Provenance, Record
from extractor.progress import PLAIN_EVERY_SECONDS, RunProgress
from extractor.terminal import Terminal


def _record(*, failed: bool = False, flagged: bool = False) -> Record:
    return Record(document_id="x", provenance=Provenance(backend="offline", package_version="0"),
                  error=ErrorInfo(type="UnreadableFileError", message="empty") if failed else None,
                  needs_review=flagged)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_when_not_a_terminal_at_most_every_few_seconds_and_at_the_end() -> None:
    out, clock = io.StringIO(), _Clock()
    with RunProgress(4, terminal=Terminal(out, force_terminal=False), clock=clock) as progress:
        for record in (_record(), _record(failed=True), _record(flagged=True), _record()):
            clock.now += PLAIN_EVERY_SECONDS / 2 + 0.1
            progress.add(record)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("extracting: 4/4 letters")
    assert "1 failed, 1 to review" in lines[-1] and "letters/s" in lines[-1]


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    with RunProgress(2, terminal=Terminal(out, force_terminal=False), quiet=True) as progress:
        progress.add(_record())
        progress.add(_record())
    assert out.getvalue() == "" and progress.done == 2


def test_a_terminal_gets_a_live_bar_with_the_counts() -> None:
    out = io.StringIO()
    terminal = Terminal(out, force_terminal=True)
    with RunProgress(2, terminal=terminal) as progress:
        progress.add(_record(flagged=True))
        terminal.stream.flush()
        assert progress._bar is not None
        task = progress._bar.tasks[0]
        assert task.completed == 1 and task.fields["counts"] == "0 failed, 1 to review"
