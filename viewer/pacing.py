"""When the UI loop may sleep. GUI-free.

Drawing a frame costs ~13 ms of CPU at 1100×720 with Mesa's software GL (measured: 2.4 ms in the UI
thread, the rest in the driver's threads), so an app redrawing at full rate while nothing moves keeps
~0.4-0.8 of one core busy: on a 2-core machine that CPU is taken from the render worker and training.
The loop draws at full rate while something moves (a drag, playback, an export's progress, a new
picture) and for a few frames after any input (imgui needs them to settle a click or a hover); after
that it waits for input or a finished render (the worker posts an empty event), drawing at least every
`idle_wait_s` (training figures in the panel keep updating).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

IDLE_AFTER_FRAMES = 6
"""frames drawn at full rate after the last sign of activity."""
IDLE_WAIT_S = 0.25
"""longest sleep between frames while idle (the panel's figures update at least this often)."""


@dataclass
class FramePacer:
    idle_after_frames: int = IDLE_AFTER_FRAMES
    idle_wait_s: float = IDLE_WAIT_S
    quiet_frames: int = 0
    """frames drawn since the last activity."""

    def wait_s(self) -> float | None:
        """How long the loop may wait for events before the next frame (None: don't wait, poll)."""
        return self.idle_wait_s if self.quiet_frames >= self.idle_after_frames else None

    def sleep(self, wait_events: Callable[[float], None]) -> None:
        """While idle: `wait_events(timeout)` (glfw.wait_events_timeout), then note whether it woke early.
        The time asleep is not part of a UI frame."""
        wait = self.wait_s()
        if wait is not None:
            start = time.perf_counter()
            wait_events(wait)
            self.woke(time.perf_counter() - start, wait)

    def woke(self, waited_s: float, wait_s: float | None) -> None:
        """After waiting `waited_s` of an allowed `wait_s`: woken early means an event (input, a render
        done): draw at full rate again."""
        if wait_s is not None and waited_s < 0.9 * wait_s:
            self.quiet_frames = 0

    def frame_done(self, active: bool) -> None:
        """After a frame: `active` when anything moved or is moving."""
        self.quiet_frames = 0 if active else self.quiet_frames + 1
