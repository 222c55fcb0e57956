"""Wall time and peak memory of a whole command and every process it starts (Linux ``/proc``).

``ru_maxrss`` of a parent's children is the largest single process, not their sum: a command with a
PDF helper or worker processes holds more than that. Here the process tree is sampled every 50
milliseconds and each process's own high-water mark (``VmHWM``) kept, so the figures are the largest
process (``peak_max``) and the sum of every process's peak (``peak_sum``: what the processes held at
most, an upper bound of what they held together).
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    code: int
    seconds: float
    peak_max_mib: float
    peak_sum_mib: float
    processes: int


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from every process's parent in ``/proc/*/stat``."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # the process ended meanwhile
                stat = Path(entry.path, "stat").read_text()
                parents.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def _high_water_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def measure(command: list[str], *, env: dict[str, str] | None = None, interval: float = 0.05) -> Run:
    """Run ``command`` (output discarded) and sample its process tree until it ends. Sampling is
    sparse (scanning ``/proc`` takes CPU from what is measured); a high-water mark loses nothing
    between samples, and the command's own is exact (``wait4``). The wait between samples ends the
    moment the command does (its ``pidfd``), so the wall time is not rounded up to the interval."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    ended = os.pidfd_open(process.pid)
    peaks: dict[int, int] = {}
    try:
        while not select.select([ended], [], [], interval)[0]:
            for pid in _tree(process.pid):
                if (kib := _high_water_kib(pid)) is not None:
                    peaks[pid] = max(peaks.get(pid, 0), kib)
        seconds = time.perf_counter() - start
    finally:
        os.close(ended)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    peaks[process.pid] = max(peaks.get(process.pid, 0), usage.ru_maxrss)
    return Run(process.returncode, seconds, max(peaks.values()) / 1024, sum(peaks.values()) / 1024, len(peaks))
