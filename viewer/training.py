"""Training inside the app: `Trainer.step()` in ONE background thread, while the window shows the model.

A lock keeps an optimiser step and a render from interleaving (a frame never mixes two parameter
versions); steps are short (~0.3 s), so the render worker waits at most that long. Pause and resume are
a flag the thread checks between steps (never a second thread); `close()` stops the thread, joins it and
saves. A failing step is reported in `error` and pauses training; the next successful step clears it.
GUI-free.
"""
from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from .threads import lower_priority


class TrainingSession:
    def __init__(self, trainer, save: Callable[[], None], lock: threading.Lock, max_steps: int | None = None):
        """trainer: a pav.train.Trainer; save(): writes the checkpoint; lock: shared with the renderer."""
        self.trainer, self.save_fn, self.lock, self.max_steps = trainer, save, lock, max_steps
        self.history: list[tuple[int, float, float]] = []  # (step, loss, batch PSNR)
        self.error: str | None = None
        self.steps_per_s = 0.0
        self.saved_at_step: int | None = None
        self.on_step: Callable[[], None] | None = None  # e.g. invalidate the view
        self._thread: threading.Thread | None = None
        self._run = threading.Event()  # set: train; clear: paused
        self._closed = threading.Event()
        self._idle = threading.Event()  # set while the thread is between steps (paused or finished)
        self._idle.set()

    @property
    def running(self) -> bool:
        """True while steps are being taken (not paused, not finished, not closed)."""
        return self._run.is_set() and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start training, or resume it after `pause()`; the one thread is created on the first call."""
        if self._closed.is_set():
            return
        self._run.set()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="pav-train", daemon=True)
            self._thread.start()

    resume = start

    def pause(self, wait: bool = False) -> None:
        """Stop after the current step; `wait` blocks until that step has finished."""
        self._run.clear()
        if wait:
            self._idle.wait()

    def stop(self, wait: bool = True) -> None:
        """Pause (kept for callers of the first version); the thread stays, ready to resume."""
        self.pause(wait)

    def close(self, save: bool = True, timeout: float | None = 60.0) -> None:
        """Stop training for good: finish the current step, join the thread, then save (keeps the work)."""
        self._closed.set()
        self._run.set()  # wake a paused thread so it can see `_closed` and exit
        if self._thread is not None:
            self._thread.join(timeout)
        if save:
            self.save()

    def save(self) -> int:
        with self.lock:
            self.save_fn()
        self.saved_at_step = self.trainer.step_count
        return self.saved_at_step

    def _loop(self) -> None:
        lower_priority()  # the UI thread first
        while True:
            self._run.wait()
            if self._closed.is_set():
                return
            if self.max_steps is not None and self.trainer.step_count >= self.max_steps:
                self._run.clear()
                continue
            self._idle.clear()
            try:
                start = time.perf_counter()
                self.trainer.prepare()  # the interval refresh reads the avatar only: no need to block rendering
                with self.lock:
                    stats = self.trainer.step()
                self.error = None
                self.history.append((stats.step, stats.loss, stats.psnr))
                dt = time.perf_counter() - start
                rate = 1 / max(dt, 1e-6)
                self.steps_per_s = 0.9 * self.steps_per_s + 0.1 * rate if self.steps_per_s else rate
                if self.on_step is not None and stats.step % 10 == 0:
                    self.on_step()
            except Exception:
                self.error = traceback.format_exc(limit=3)
                self._run.clear()  # paused: the user sees the error and may resume
            finally:
                self._idle.set()
