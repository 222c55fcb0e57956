"""What the command line says to a person on stderr or stdout: rich's styles and live bars on a
terminal; plain lines in a log or a pipe, where rich is not even loaded (it is a tenth of a one-letter
run's start). Either way a line is text, never markup, and rich's rules hold in both: bell,
backspace, vertical tab, form feed and carriage return are dropped, tabs become spaces to the next
eighth column."""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

Part = str | tuple[str, str]  # text, or text and its rich style ("bold red")
_DROPPED = dict.fromkeys((7, 8, 11, 12, 13))  # rich.control.STRIP_CONTROL_CODES


class Terminal:
    """Lines for a person on ``stream``; ``force_terminal`` as rich's (None: ask the stream)."""

    def __init__(self, stream: TextIO, *, force_terminal: bool | None = None) -> None:
        self.stream = stream
        self._force_terminal = force_terminal

    @cached_property
    def console(self) -> Console:
        """rich's console on the stream: for live bars and tables (printed as plain text off a terminal)."""
        from rich.console import Console

        return Console(file=self.stream, soft_wrap=True, markup=False, emoji=False, highlight=False,
                       force_terminal=self._force_terminal)

    @property
    def is_terminal(self) -> bool:
        """As rich decides; rich is asked only where it could say yes (a tty, or one forced by its variables)."""
        if self._force_terminal is False:
            return False
        try:
            tty = self.stream.isatty()
        except ValueError:  # closed
            tty = False
        could = self._force_terminal or tty or os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE")
        return bool(could) and self.console.is_terminal

    def print(self, *parts: Part, style: str = "") -> None:
        """One line of ``parts`` (styled only on a terminal)."""
        if self.is_terminal:
            from rich.text import Text

            self.console.print(Text.assemble(*parts, style=style))
            return
        line = "".join(part if isinstance(part, str) else part[0] for part in parts).translate(_DROPPED)
        self.stream.write(line.expandtabs(8) + "\n")
        self.stream.flush()
