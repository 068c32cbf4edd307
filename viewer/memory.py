"""The process's memory, as plain numbers: resident size, and what glibc's malloc holds (in use vs free
inside its arenas), so a growth can be told apart as live objects or as allocator fragmentation; and
`share_arenas()`, which keeps the app's threads on one malloc arena, and `freeze_gc()`.

Why: pav.allocator.tune_allocator() makes glibc keep freed memory for reuse (no mmap, no trim). glibc gives
each thread that allocates its own arena, so with the render worker, the training thread and an export
each keeping its own high-water mark, the app held ~770 MB of FREE memory inside malloc's arenas (in use:
~215 MB) after a few minutes of use. One shared arena reuses one thread's freed buffers for another's.
Linux/glibc only; elsewhere the numbers are None and share_arenas() does nothing. GUI-free.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from pathlib import Path


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()
M_ARENA_MAX = -8
"""mallopt parameter: the most arenas glibc creates."""


def share_arenas(arenas: int = 1) -> bool:
    """Cap glibc's malloc arenas (threads then share them). Call it before the process starts ANY thread
    (even one that has ended since: tqdm's monitor, a thread pool): glibc fixes the limit when the first
    thread arena is made, and a later cap is ignored. `malloc_arenas()` tells. Returns whether mallopt
    accepted it."""
    if _LIBC is None:
        return False
    try:
        mallopt = _LIBC.mallopt
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        return bool(mallopt(M_ARENA_MAX, arenas))
    except AttributeError:
        return False


def rss_mb() -> float | None:
    """Resident set size of this process, MiB (None where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def malloc_arenas() -> int | None:
    """How many arenas glibc's malloc has made (from malloc_info's XML), None where unknown."""
    if _LIBC is None:
        return None
    try:
        buf, size = ctypes.c_char_p(), ctypes.c_size_t()
        _LIBC.open_memstream.restype = ctypes.c_void_p
        stream = _LIBC.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        _LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        _LIBC.fclose.argtypes = [ctypes.c_void_p]
        _LIBC.malloc_info(0, stream)
        _LIBC.fclose(stream)
        text = ctypes.string_at(buf, size.value).decode(errors="replace")
        _LIBC.free.argtypes = [ctypes.c_void_p]
        _LIBC.free(ctypes.cast(buf, ctypes.c_void_p))
        return text.count("<heap nr=")
    except (AttributeError, OSError):
        return None


def memory_stats() -> dict:
    """{rss_mb, malloc_in_use_mb, malloc_free_mb, malloc_mmap_mb, malloc_arenas} (None where not glibc)."""
    out = {"rss_mb": rss_mb(), "malloc_in_use_mb": None, "malloc_free_mb": None, "malloc_mmap_mb": None,
           "malloc_arenas": malloc_arenas()}
    if _LIBC is not None:
        info = _LIBC.mallinfo2()
        mb = 1 / 2 ** 20
        out.update(malloc_in_use_mb=info.uordblks * mb, malloc_free_mb=info.fordblks * mb,
                   malloc_mmap_mb=info.hblkhd * mb)
    return out


def freeze_gc() -> None:
    """Freeze everything alive after start-up (torch modules, imgui, the avatar): later full collections
    only scan objects made since, so they stay short (a full collection holds the GIL and stops every
    thread, the UI's included). No collection first: on a loaded machine that one took 0.85 s."""
    gc.freeze()
