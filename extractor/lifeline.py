"""Child processes that never outlive their parent, and that leave interrupts to it.

Every helper process (batch workers, the PDF reader) calls ``tie_to_parent`` first: on Linux the
kernel then kills it when its parent dies, even by ``kill -9``; elsewhere, and for the moment
before the call, it checks the parent is still the one that started it. Ctrl-C reaches the whole
process group, so helpers ignore it and the parent, which knows what is done, stops them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def tie_to_parent(parent_pid: int) -> None:
    """Die with ``parent_pid`` (SIGKILL from the kernel on Linux) and ignore Ctrl-C: the parent
    decides when a helper stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)  # this process's own symbols, libc's among them
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
