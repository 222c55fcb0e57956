"""The command's lines: plain where the output is a file or a pipe, as rich would print them there,
and rich only where there is a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from extractor.terminal import Terminal

PARTS = [(("error:", "bold red"), " ", "/letters/a\rb\x07c\x1b[31m.pdf", ": not a PDF"),
         (("warning:", "yellow"), " naïve [bold]not markup[/bold] \u200b\x0b\x0c\x08end",),
         ("plain line",), ("columns:\tone\t\ttwo  \tthree",)]


@pytest.mark.parametrize("parts", PARTS)
def test_off_a_terminal_a_line_is_what_rich_prints_there(parts: tuple[str | tuple[str, str], ...]) -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    Terminal(ours).print(*parts)
    Console(file=theirs, soft_wrap=True, markup=False, emoji=False, highlight=False).print(Text.assemble(*parts))
    assert ours.getvalue() == theirs.getvalue()
    assert "\r" not in ours.getvalue() and ours.getvalue().count("\n") == 1


def test_on_a_terminal_rich_styles_the_line() -> None:
    out = io.StringIO()
    terminal = Terminal(out, force_terminal=True)
    assert terminal.is_terminal
    terminal.print(("error:", "bold red"), " [red]kept as text[/red]")
    assert "\x1b[" in out.getvalue() and "[red]kept as text[/red]" in out.getvalue()


def test_a_pipe_is_not_a_terminal_unless_rich_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert not Terminal(io.StringIO()).is_terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert Terminal(io.StringIO()).is_terminal
    assert not Terminal(io.StringIO(), force_terminal=False).is_terminal


def test_a_closed_stream_is_no_terminal() -> None:
    closed = io.StringIO()
    closed.close()
    assert not Terminal(closed).is_terminal
