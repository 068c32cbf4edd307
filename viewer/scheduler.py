"""Render scheduling: a worker thread renders so the UI never blocks. No GL, no GUI.

Policy (instant-ngp / nerfview style):
- while the user interacts, render only at `preview_size` (fast; the display upscales it);
- when idle, refine progressively: preview → refine sizes → final size, each shown as soon as it is done;
- a newer state version cancels the work in progress (the render function polls `cancelled()` between
  chunks) and the stale result is dropped.
The render function is injected: `render_fn(request, cancelled) -> image (H, W, 3) uint8 | None`.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Callable, NamedTuple

import numpy as np

from .state import RenderRequest, ViewerSettings

RenderFn = Callable[[RenderRequest, Callable[[], bool]], "np.ndarray | None"]


class Frame(NamedTuple):
    image: np.ndarray
    """(H, W, 3) uint8."""
    version: int
    height: int
    seconds: float
    """wall time of this render."""


class RenderScheduler:
    def __init__(self, render_fn: RenderFn, settings: ViewerSettings = ViewerSettings()):
        self.render_fn = render_fn
        self.settings = settings
        self._cond = threading.Condition()
        self._job: tuple[int, RenderRequest, list[int]] | None = None  # version, full-size request, heights
        self._key: tuple | None = None
        self._latest: Frame | None = None
        self._done_heights: dict[int, set[int]] = {}
        self._closed = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._work, name="pav-render", daemon=True)
        self._thread.start()

    # ---- UI thread ---------------------------------------------------------------------------------
    def plan(self, interacting: bool) -> list[int]:
        s = self.settings
        if interacting:
            return [s.preview_size]
        return sorted({s.preview_size, *s.refine_sizes, s.final_size})

    def submit(self, version: int, request_at: Callable[[int, int], RenderRequest], aspect: float,
               interacting: bool) -> None:
        """Called every UI frame; cheap when nothing changed. `request_at(w, h)` snapshots the state."""
        key = (version, round(aspect, 3), interacting)
        if key == self._key:
            return
        self._key = key
        final = self.settings.final_size
        request = request_at(max(1, round(final * aspect)), final)
        heights = [h for h in self.plan(interacting) if h not in self._done_heights.get(version, set())]
        if not heights:
            return
        with self._cond:
            self._job = (version, request, heights)
            self._cond.notify()

    def latest(self) -> Frame | None:
        return self._latest

    def busy(self) -> bool:
        with self._cond:
            return self._job is not None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    # ---- worker thread -----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                version, request, heights = self._job
                job = self._job
            for height in heights:
                if self._job is not job:
                    break
                width = max(1, round(request.camera.width * height / request.camera.height))
                preview = height == self.settings.preview_size and height < self.settings.final_size
                scaled = request._replace(camera=request.camera.scaled(width, height),
                                          samples_per_ray=self.settings.preview_samples if preview else None)
                start = time.perf_counter()
                try:
                    image = self.render_fn(scaled, lambda: self._job is not job or self._closed)
                except Exception:  # keep the UI alive; show the error in the window
                    self.error = traceback.format_exc(limit=3)
                    image = None
                if image is None or self._job is not job:
                    break
                self._latest = Frame(image, version, height, time.perf_counter() - start)
                self._done_heights = {version: self._done_heights.get(version, set()) | {height}}
            with self._cond:
                if self._job is job:
                    self._job = None
