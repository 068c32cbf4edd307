"""Keep freed memory inside the process: the single biggest speed-up of PAV's CPU path.

torch on CPU allocates a fresh buffer for nearly every operation. glibc hands buffers above its mmap
threshold (128 KiB to 32 MiB, adaptive) to the kernel on free, so the next operation's buffer costs a new
mmap and a page fault per 4 KiB page. On the machines PAV is developed on, those faults made element-wise
work on ~1 M-element tensors 10–20× slower than the arithmetic itself (docs/performance.md). Telling
glibc never to use mmap and never to trim the heap lets it reuse freed memory, as jemalloc or tcmalloc
would, without a dependency.

`tune_allocator()` is called by the entry points (the CLI, the app, the benchmarks, the test suite), not
on `import pav`: it changes the whole process. Library users may call it themselves. It does nothing
where glibc is not the C library (macOS, Windows, musl).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_state: dict = {}


def tune_allocator() -> bool:
    """Make glibc's malloc keep and reuse freed memory (no mmap per allocation, no trimming). Returns
    whether it took effect; idempotent."""
    if "tuned" in _state:
        return _state["tuned"]
    tuned = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            tuned = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
        except (OSError, AttributeError):  # not glibc
            tuned = False
    _state["tuned"] = tuned
    return tuned
