"""Wall-clock timing for the benchmarks (never for tests: timings vary ±30 % on shared machines)."""
from __future__ import annotations

import statistics
import time
from typing import Callable, NamedTuple


class Timing(NamedTuple):
    median: float
    """median seconds per call."""
    best: float
    """fastest call, seconds (the least disturbed by other processes)."""


def time_calls(fn: Callable[[], object], repeats: int) -> Timing:
    """Time `repeats` calls of fn() after one warm-up call."""
    fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times))
