"""Training inside the app: `Trainer.step()` in a background thread, while the window shows the model.

A lock keeps an optimiser step and a render from interleaving (a frame never mixes two parameter
versions); steps are short (~0.3 s), so the render worker waits at most that long. GUI-free.
"""
from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import Callable


class TrainingSession:
    def __init__(self, trainer, save: Callable[[], None], lock: threading.Lock, max_steps: int | None = None):
        """trainer: a pav.train.Trainer; save(): writes the checkpoint; lock: shared with the renderer."""
        self.trainer, self.save_fn, self.lock, self.max_steps = trainer, save, lock, max_steps
        self.history: list[tuple[int, float, float]] = []  # (step, loss, batch PSNR)
        self.running = False
        self.error: str | None = None
        self.steps_per_s = 0.0
        self.saved_at_step: int | None = None
        self.on_step: Callable[[], None] | None = None  # e.g. invalidate the view
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.running = True
        self._thread = threading.Thread(target=self._loop, name="pav-train", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join()
        self.running = False

    def save(self) -> Path | None:
        with self.lock:
            self.save_fn()
        self.saved_at_step = self.trainer.step_count
        return self.saved_at_step

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                if self.max_steps is not None and self.trainer.step_count >= self.max_steps:
                    break
                start = time.perf_counter()
                self.trainer.prepare()  # the interval refresh reads the avatar only: no need to block rendering
                with self.lock:
                    stats = self.trainer.step()
                self.history.append((stats.step, stats.loss, stats.psnr))
                dt = time.perf_counter() - start
                self.steps_per_s = 0.9 * self.steps_per_s + 0.1 / max(dt, 1e-6) if self.steps_per_s else 1 / max(dt, 1e-6)
                if self.on_step is not None and stats.step % 10 == 0:
                    self.on_step()
        except Exception:
            self.error = traceback.format_exc(limit=3)
        self.running = False
