"""The UI frame timer, GUI-free: how long each UI frame took, where the time went, and how fast the UI
runs while the user drags.

Each frame is split into named phases (`mark(name)` ends the phase that started at the previous mark),
so a slow frame names its slow phase. Python's cyclic garbage collector is timed through `gc.callbacks`
(its pauses land in whichever phase allocated last). The few worst frames after start-up are kept with
their breakdown. The soak test (tests/soak_app.py) reads `stats()` as JSON.

With a `stall_file`, every frame also arms `faulthandler.dump_traceback_later`: a frame still running
after `stall_after_s` writes "Timeout (…)!" and the Python stack of every thread to that file, and again
every `stall_after_s` until it ends (a sampled trace through the frame), from faulthandler's own C thread
(it needs no GIL, so it also names a thread that holds the GIL); the frame's end disarms it.
"""
from __future__ import annotations

import faulthandler
import gc
import heapq
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_S = 3.0
"""frames in the first seconds (first renders, shader compiles) are not held against the UI."""
STARTUP_FRAMES = 30
"""... nor the first frames."""
KEEP_WORST = 8
"""how many of the worst frames after start-up keep their phase breakdown."""


def stall_trace_from_env():
    """$PAV_STALL_TRACE opened for appending (the soak test sets it; every thread's stack every 200 ms through
    a longer UI frame goes there), else None."""
    path = os.environ.get("PAV_STALL_TRACE")
    return open(path, "a") if path else None


def thread_sched() -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for a CPU) of the calling thread so far, from
    /proc/thread-self/schedstat; (0, 0) where it is missing. A frame's wall time minus both is the time
    the thread was blocked (the GIL, a GL or X server round trip, a lock)."""
    try:
        cpu_ns, wait_ns, _ = Path("/proc/thread-self/schedstat").read_text().split()
        return int(cpu_ns) * 1e-9, int(wait_ns) * 1e-9
    except (OSError, ValueError):
        return 0.0, 0.0


@dataclass
class FrameTimer:
    clock: object = time.perf_counter
    """seconds, monotonic (injected in tests)."""
    sched: object = thread_sched
    """() → (cpu s, waiting-for-CPU s) of the UI thread (injected in tests)."""
    frames: int = 0
    total_s: float = 0.0
    worst_ms: float = 0.0
    worst_after_startup_ms: float = 0.0
    over_200ms_after_startup: int = 0
    drag_frames: int = 0
    """frames drawn while the user dragged in the view (orbit or pan)."""
    drag_s: float = 0.0
    gc_ms_total: float = 0.0
    gc_ms_worst: float = 0.0
    worst: list = field(default_factory=list)
    """min-heap of (ms, frame number, {phase: ms}) of the KEEP_WORST worst frames after start-up."""
    _started: float | None = None
    _frame_start: float = 0.0
    _last_mark: float = 0.0
    _phases: dict = field(default_factory=dict)
    _sched_start: tuple = (0.0, 0.0)
    cpu_s: float = 0.0
    """UI thread time on a CPU, summed over frames."""
    runnable_s: float = 0.0
    """UI thread time ready to run but without a CPU (the machine is busy)."""
    _gc_start: float | None = None
    stall_file: object = None
    """an open file: stacks of all threads of a frame that runs past `stall_after_s` (None: off)."""
    stall_after_s: float = 0.2

    def __post_init__(self):
        self._started = self.clock()

    # ---- garbage collector -------------------------------------------------------------------------
    def watch_gc(self) -> None:
        """Time every collection of Python's cyclic GC (adds a callback; `unwatch_gc` removes it)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = self.clock()
        elif self._gc_start is not None:
            ms = 1000 * (self.clock() - self._gc_start)
            self._gc_start = None
            self.gc_ms_total += ms
            self.gc_ms_worst = max(self.gc_ms_worst, ms)
            self._phases["gc"] = self._phases.get("gc", 0.0) + ms

    # ---- per frame ---------------------------------------------------------------------------------
    def begin(self) -> None:
        self._frame_start = self._last_mark = self.clock()
        self._sched_start = self.sched()
        self._phases = {}
        if self.stall_file is not None:
            faulthandler.dump_traceback_later(self.stall_after_s, repeat=True, file=self.stall_file)

    def mark(self, phase: str) -> None:
        """End `phase` (it ran since the previous mark or `begin`)."""
        now = self.clock()
        self._phases[phase] = self._phases.get(phase, 0.0) + 1000 * (now - self._last_mark)
        self._last_mark = now

    def end(self, dragging: bool = False) -> float:
        """Close the frame; returns its duration in seconds."""
        if self.stall_file is not None:
            faulthandler.cancel_dump_traceback_later()
        now = self.clock()
        dt = now - self._frame_start
        cpu, runnable = (b - a for a, b in zip(self._sched_start, self.sched()))
        self.cpu_s += cpu
        self.runnable_s += runnable
        self.frames += 1
        self.total_s += dt
        ms = 1000 * dt
        self.worst_ms = max(self.worst_ms, ms)
        if dragging:
            self.drag_frames += 1
            self.drag_s += dt
        if self._frame_start - self._started > STARTUP_S and self.frames > STARTUP_FRAMES:
            self.worst_after_startup_ms = max(self.worst_after_startup_ms, ms)
            self.over_200ms_after_startup += dt > 0.2
            phases = {k: round(v, 1) for k, v in self._phases.items() if v >= 1.0}
            phases.update(on_cpu=round(1000 * cpu, 1), runnable=round(1000 * runnable, 1),
                          blocked=round(ms - 1000 * (cpu + runnable), 1))
            entry = (round(ms, 1), self.frames, phases)
            if len(self.worst) < KEEP_WORST:
                heapq.heappush(self.worst, entry)
            elif ms > self.worst[0][0]:
                heapq.heapreplace(self.worst, entry)
        return dt

    def stats(self) -> dict:
        """Plain numbers for JSON: frame count, mean/worst ms, drag fps, GC pauses, the worst frames."""
        return {"frames": self.frames, "total_s": self.total_s, "mean_ms": 1000 * self.total_s / max(1, self.frames),
                "worst_ms": self.worst_ms, "worst_after_startup_ms": self.worst_after_startup_ms,
                "over_200ms_after_startup": self.over_200ms_after_startup,
                "drag_frames": self.drag_frames, "drag_s": self.drag_s,
                "drag_fps": self.drag_frames / self.drag_s if self.drag_s > 0 else None,
                "cpu_share": self.cpu_s / max(self.total_s, 1e-9),
                "runnable_share": self.runnable_s / max(self.total_s, 1e-9),
                "gc_ms_total": self.gc_ms_total, "gc_ms_worst": self.gc_ms_worst,
                "worst_frames": [{"ms": ms, "frame": n, "phases": phases} for ms, n, phases in sorted(self.worst, reverse=True)]}
