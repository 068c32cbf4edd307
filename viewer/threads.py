"""The UI thread comes first: background threads (render worker, training, export) and the tracking child
process run at a lower OS priority, so on a busy machine the scheduler gives the UI thread (and the GL
driver's threads) the CPU first. GUI-free.

Linux gives each thread its own nice value (`setpriority` on a thread id); elsewhere this does nothing.
A thread can always make itself nicer without privileges (never the reverse, so this is one-way).
"""
from __future__ import annotations

import os
import sys
import threading

WORKER_NICE = 5
"""nice value added to a background thread (0 disables). Linux's CFS weighs nice 5 about 3× below nice 0:
the UI wins a contended CPU, and the workers still get a fair share on a machine busy with other work
(at nice 10, ~9× below, training in the app nearly stopped while other programs ran)."""


def lower_priority(increment: int | None = None) -> bool:
    """Make the CALLING thread nicer by `increment` (default WORKER_NICE). Returns whether it took effect."""
    increment = WORKER_NICE if increment is None else increment
    if increment <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
        return True
    except OSError:
        return False


def thread_nice(thread: threading.Thread) -> int | None:
    """The nice value of a running thread (Linux), else None."""
    if not sys.platform.startswith("linux") or thread.native_id is None:
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, thread.native_id)
    except OSError:
        return None
