"""The allocator tuning: takes effect on glibc, is idempotent, and is never a side effect of `import pav`."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


MALLOC_PROBE = """
import ctypes, ctypes.util, json, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
if not hasattr(libc, "mallinfo2"):
    print(json.dumps(None)); sys.exit()
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
tuned = None
if sys.argv[1] == "tune":
    from pav.allocator import tune_allocator
    tuned = [tune_allocator(), tune_allocator()]
before = libc.mallinfo2(); block = libc.malloc(64 << 20); held = libc.mallinfo2(); libc.free(block)
after = libc.mallinfo2()
print(json.dumps({"tuned": tuned, "mmapped": held.hblkhd - before.hblkhd, "heap": held.arena - before.arena,
                  "heap_after_free": after.arena - before.arena}))
"""


def _malloc_64mib(mode: str) -> dict | None:
    """In a fresh interpreter (tuned or not): glibc's own accounting (mallinfo2) around malloc + free of
    64 MiB, in bytes: how much came from mmap, how much from the heap, how much heap is kept after free."""
    out = subprocess.run([sys.executable, "-c", MALLOC_PROBE, mode], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuning_keeps_large_blocks_in_the_heap():
    """Untuned, glibc maps a 64 MiB block (and unmaps it on free); tuned, the block comes from the heap
    and the heap keeps it after free, so the next large tensor reuses it without new page faults."""
    plain, tuned = _malloc_64mib("plain"), _malloc_64mib("tune")
    if plain is None:
        pytest.skip("glibc < 2.33: no mallinfo2 to observe the allocator")
    assert plain["mmapped"] >= 64 << 20 and plain["heap"] == 0
    assert tuned["tuned"] == [True, True]  # takes effect, idempotent
    assert tuned["mmapped"] == 0
    assert tuned["heap"] >= 56 << 20 and tuned["heap_after_free"] >= 56 << 20  # (some may reuse free heap)


def test_import_pav_does_not_tune():
    code = "import pav, pav.allocator as a; print(a._state)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "{}"
