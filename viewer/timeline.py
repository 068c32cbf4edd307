"""Recording and playback of animations, and the export job. GUI-free (tested without a window).

- `Recorder` samples the view state at a fixed rate while recording (sliders, camera, appearance).
- `Player` steps through keyframes in real time (a recording, or a tracked video from a collection) and
  writes them into the state, so a video can be replayed in another appearance.
- `ExportJob` renders keyframes to an mp4 in a worker thread with a progress fraction; `cancel()` stops it
  at the next frame (the export writes through pav.io.atomic_path, so no temp file is left behind).
"""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .orbit import OrbitCamera
from .state import ViewerState
from .threads import lower_priority


@dataclass
class Keyframe:
    expression: np.ndarray
    """(E,)"""
    pose: np.ndarray
    """(J, 3)"""
    orbit: OrbitCamera | None = None
    """camera; None keeps the viewer's camera on playback"""
    appearance: np.ndarray | None = None
    """(A,) weights; None keeps the viewer's appearance on playback"""


def snapshot(state: ViewerState) -> Keyframe:
    return Keyframe(state.expression.copy(), state.pose.copy(), state.orbit.copy(), state.appearance_weights())


@dataclass
class Recorder:
    fps: float = 25.0
    frames: list[Keyframe] = field(default_factory=list)
    recording: bool = False
    _next_time: float = 0.0

    def start(self, now: float) -> None:
        self.frames, self.recording, self._next_time = [], True, now

    def stop(self) -> None:
        self.recording = False

    def tick(self, state: ViewerState, now: float) -> None:
        """Called every UI frame; appends one keyframe per 1/fps seconds elapsed (repeating the current
        state if the UI ran slower than fps, so the recording keeps real time)."""
        while self.recording and now >= self._next_time:
            self.frames.append(snapshot(state))
            self._next_time += 1.0 / self.fps


@dataclass
class Player:
    frames: list[Keyframe]
    fps: float = 25.0
    index: int = 0
    playing: bool = False
    loop: bool = True
    _start_time: float = 0.0
    _start_index: int = 0

    def play(self, now: float) -> None:
        self.playing, self._start_time, self._start_index = True, now, self.index

    def pause(self) -> None:
        self.playing = False

    def seek(self, index: int, state: ViewerState) -> None:
        self.index = int(np.clip(index, 0, len(self.frames) - 1))
        self.apply(state)

    def tick(self, state: ViewerState, now: float) -> None:
        if not self.playing or not self.frames:
            return
        index = self._start_index + int((now - self._start_time) * self.fps)
        if index >= len(self.frames):
            if not self.loop:
                self.playing = False
                return
            index %= len(self.frames)
        if index != self.index:
            self.index = index
            self.apply(state)

    def apply(self, state: ViewerState) -> None:
        k = self.frames[self.index]
        state.expression[:] = k.expression
        state.pose[:] = k.pose
        if k.orbit is not None:
            state.orbit = k.orbit.copy()
        state.touch()


def export_frames(recorder: Recorder, player: Player | None, state: ViewerState) -> tuple[list[Keyframe], float]:
    """(frames, fps) to export without keyframes: the recording, else the loaded video, else a 2-second
    still of the current state; camera and appearance filled in from the current state where unset."""
    current = snapshot(state)
    frames = recorder.frames or (player.frames if player else None) or [current] * 50
    return [Keyframe(k.expression, k.pose, k.orbit or current.orbit,
                     current.appearance if k.appearance is None else k.appearance) for k in frames], recorder.fps


# export(keyframes, path, fps, size, orbit_degrees, progress(done, total)) -> frames written
ExportFn = Callable[[list[Keyframe], Path, float, int, float, Callable[[int, int], None]], int]


class ExportCancelled(Exception):
    """Raised inside the export (from its progress callback) when the user cancels it."""


class ExportJob:
    """Runs an export in a background thread; the UI polls `progress`, `done`, `error`, `cancelled`."""

    def __init__(self, export: ExportFn, frames: list[Keyframe], path: Path, fps: float, size: int,
                 orbit_degrees: float = 0.0):
        self.path, self.progress, self.done, self.error, self.written = Path(path), 0.0, False, None, 0
        self.cancelled = False
        self._cancel = threading.Event()
        args = ([Keyframe(k.expression.copy(), k.pose.copy(), k.orbit.copy() if k.orbit else None,
                          None if k.appearance is None else k.appearance.copy()) for k in frames],
                self.path, fps, size, orbit_degrees)
        self._thread = threading.Thread(target=self._run, args=(export, args), name="pav-export", daemon=True)
        self._thread.start()

    def _run(self, export: ExportFn, args) -> None:
        lower_priority()  # the UI thread first
        try:
            self.written = export(*args, self._report)
        except ExportCancelled:
            self.cancelled = True
        except Exception:
            self.error = traceback.format_exc(limit=2)
        self.done = True

    def _report(self, done: int, total: int) -> None:
        self.progress = done / max(total, 1)
        if self._cancel.is_set():
            raise ExportCancelled()

    def cancel(self, wait: float | None = None) -> None:
        """Ask the export to stop at its next frame; `wait` seconds to wait for it (None: don't wait)."""
        self._cancel.set()
        if wait is not None:
            self._thread.join(wait)

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
