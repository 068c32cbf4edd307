"""Render scheduling: a worker thread renders so the UI never blocks. No GL, no GUI.

Policy (instant-ngp / nerfview style):
- while the user interacts, render only at `preview_size` (fast; the display upscales it);
- when idle, refine progressively: preview → refine sizes → final size, each shown as soon as it is done;
- a preview started while the user interacts is never cancelled (it is shown even if the state moved
  on, then the newest state is rendered), so continuous dragging cannot starve the view;
- otherwise a newer state version or a new view size cancels the work in progress (the render function polls
  `cancelled()` between chunks) and the stale result is dropped; finished renders are keyed by
  (version, width, height), so a resize re-renders at the new aspect;
- sizes are the LONGEST side of the image: never more than `final_size`, and the aspect is clamped to
  [1/MAX_ASPECT, MAX_ASPECT] (a 1920×30 window does not ask for a 13,000-pixel-wide render);
- an error (in the render function or in the worker itself) is kept in `error` and cleared by the next
  successful render; a worker thread that died anyway is detected on the next `submit` and restarted.
The render function is injected: `render_fn(request, cancelled) -> image (H, W, 3) uint8 | None`.
"""
from __future__ import annotations

import threading
import time
import traceback
from typing import Callable, NamedTuple

import numpy as np

from .state import RenderRequest, ViewerSettings
from .threads import lower_priority

RenderFn = Callable[[RenderRequest, Callable[[], bool]], "np.ndarray | None"]


MAX_ASPECT = 4.0
"""widest (and, inverted, tallest) image aspect rendered; a more extreme view is letterboxed."""


class Frame(NamedTuple):
    image: np.ndarray
    """(H, W, 3) uint8."""
    version: int
    height: int
    seconds: float
    """wall time of this render."""
    width: int = 0
    samples_per_ray: int | None = None
    """None: the renderer's own (final-quality) setting."""
    final: bool = False
    """True when nothing is left to refine for this version and size."""
    camera: object = None
    """the pav.camera.Camera it was rendered with (None: unknown; the display cannot reproject it)."""
    focus_distance: float | None = None
    """metres to the orbit target when it was rendered (RenderRequest.focus_distance)."""


def render_size(longest: int, aspect: float) -> tuple[int, int]:
    """(width, height) whose longest side is `longest` pixels at `aspect` = width / height, the aspect
    clamped to [1/MAX_ASPECT, MAX_ASPECT]."""
    a = min(max(float(aspect), 1.0 / MAX_ASPECT), MAX_ASPECT)
    if a >= 1.0:
        return longest, max(1, round(longest / a))
    return max(1, round(longest * a)), longest


class RenderScheduler:
    def __init__(self, render_fn: RenderFn, settings: ViewerSettings = ViewerSettings(),
                 on_frame: Callable[[], None] | None = None):
        self.render_fn = render_fn
        self.settings = settings
        self.on_frame = on_frame
        """called (from the worker thread) when a new frame is ready: the app wakes its sleeping UI loop."""
        self._cond = threading.Condition()
        self._job: tuple | None = None  # (version, full-size request, sizes, interacting)
        self._key: tuple | None = None
        self._latest: Frame | None = None
        self._done: dict[tuple[int, int, int], set[int]] = {}  # (version, final w, final h) → sizes done
        self._closed = False
        self.error: str | None = None
        self.restarts = 0
        """how often a dead worker thread was replaced."""
        self._thread = self._spawn()

    def _spawn(self) -> threading.Thread:
        thread = threading.Thread(target=self._work, name="pav-render", daemon=True)
        thread.start()
        return thread

    # ---- UI thread ---------------------------------------------------------------------------------
    def plan(self, interacting: bool) -> list[int]:
        s = self.settings
        if interacting:
            return [s.preview_size]
        return sorted({s.preview_size, *s.refine_sizes, s.final_size})

    def submit(self, version: int, request_at: Callable[[int, int], RenderRequest], aspect: float,
               interacting: bool) -> None:
        """Called every UI frame; cheap when nothing changed. `request_at(w, h)` snapshots the state;
        `aspect` is the view's width / height."""
        if not self._thread.is_alive() and not self._closed:
            self.error = (self.error or "the render worker stopped") + " (render worker restarted)"
            self.restarts += 1
            self._job = None
            self._thread = self._spawn()
        width, height = render_size(self.settings.final_size, aspect)
        key = (version, width, height, interacting)
        if key == self._key:
            return
        self._key = key
        request = request_at(width, height)
        done = self._done.get((version, width, height), set())
        sizes = [s for s in self.plan(interacting) if s not in done]
        if not sizes:
            return
        with self._cond:
            self._job = (version, request, sizes, interacting)
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
        lower_priority()  # the UI thread first
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._job
            try:
                self._render(job)
            except Exception:  # outside the render function: keep the worker alive, show the error
                self.error = traceback.format_exc(limit=3)
            with self._cond:
                if self._job is job:
                    self._job = None

    def _render(self, job) -> None:
        version, request, sizes, keep = job  # keep: an interactive preview, finished and shown
        full = (request.camera.width, request.camera.height)
        stale = (lambda: self._closed) if keep else (lambda: self._job is not job or self._closed)
        for size in sizes:
            if stale():
                return
            width, height = render_size(size, full[0] / full[1])
            preview = size == self.settings.preview_size and size < self.settings.final_size
            samples = self.settings.preview_samples if preview else None
            scaled = request._replace(camera=request.camera.scaled(width, height), samples_per_ray=samples)
            start = time.perf_counter()
            try:
                image = self.render_fn(scaled, stale)
            except Exception:  # keep the UI alive; show the error in the window
                self.error = traceback.format_exc(limit=3)
                return
            if image is None or stale():
                return
            self.error = None  # the next success clears an earlier failure
            final = size == max(sizes) and size >= self.settings.final_size
            self._latest = Frame(image, version, height, time.perf_counter() - start, width, samples, final,
                                 scaled.camera, request.focus_distance)
            self._done = {(version, *full): self._done.get((version, *full), set()) | {size}}
            if self.on_frame is not None:
                self.on_frame()
