"""Progress for people: a live bar on a terminal (letters/s, ETA, failures, letters to review),
plain lines now and then when the output is a file or a pipe, nothing with ``--quiet``. It only
shows; what a run did is counted by its command for the last line."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from .models import Record
    from .terminal import Terminal

PLAIN_EVERY_SECONDS = 10.0  # a plain line at most this often, so a log of 100,000 letters stays readable


class RunProgress:
    """Counts records as they are written and shows how the run goes."""

    def __init__(self, total: int, *, terminal: Terminal, label: str = "extracting", quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.terminal, self.label, self.quiet, self._clock = total, terminal, label, quiet, clock
        self.done = self.failed = self.flagged = 0
        self._started = clock()
        self._last_line = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RunProgress:
        if not self.quiet and self.terminal.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[counts]}"), console=self.terminal.console, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, rate="", counts="")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)

    @property
    def rate(self) -> float:
        elapsed = self._clock() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def counts(self) -> str:
        return f"{self.failed} failed, {self.flagged} to review"

    def add(self, record: Record) -> None:
        """One more record written."""
        self.step(ok=record.ok, flagged=record.needs_review)

    def step(self, *, ok: bool, flagged: bool = False) -> None:
        """One more letter done (``batch prepare`` counts letters that give requests, not records)."""
        self.done += 1
        self.failed += not ok
        self.flagged += flagged
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, rate=f"{self.rate:.1f} letters/s", counts=self.counts())
        elif not self.quiet and (self._clock() - self._last_line >= PLAIN_EVERY_SECONDS or self.done == self.total):
            self._last_line = self._clock()
            left = (self.total - self.done) / self.rate if self.rate else 0.0
            self.terminal.print(f"{self.label}: {self.done}/{self.total} letters, {self.rate:.1f} letters/s, "
                                f"about {left:.0f} s left; {self.counts()}")
