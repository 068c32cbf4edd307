"""The keyframe editor's logic, GUI-free: a pav `Animation`, a playhead, playback, and the bridge between
keyframes and the `ViewerState`. The maths (interpolation, mirroring, JSON) lives in pav.animation;
this module only edits an Animation and writes its samples into the view state.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pav.animation import Animation, Keyframe, Sample, mirror

from .orbit import OrbitCamera
from .state import ViewerState


def keyframe_of(state: ViewerState, time: float) -> Keyframe:
    """The view state as a keyframe at `time` (camera, expression, pose, appearance weights)."""
    return Keyframe(float(time), state.expression.astype(np.float64), state.pose.astype(np.float64),
                    state.orbit.view(), state.appearance_weights().astype(np.float64))


def apply_sample(s: Sample, state: ViewerState) -> None:
    """Show an animation sample: the state's camera, expression, pose and appearance weights become it."""
    state.expression[:] = s.expression
    state.pose[:] = s.pose
    speed = state.orbit.rotate_speed
    state.orbit = OrbitCamera.from_view(s.camera)
    state.orbit.rotate_speed = speed
    state.weights = s.appearance.astype(np.float32)
    state.touch()


@dataclass
class Editor:
    animation: Animation
    time: float = 0.0
    """the playhead, seconds."""
    playing: bool = False
    selected: int | None = None
    """index of the selected keyframe."""
    message: str = ""
    _start: tuple[float, float] = (0.0, 0.0)  # (wall clock, playhead) when play started
    _shown: float | None = None

    @staticmethod
    def for_state(state: ViewerState, fps: float = 25.0) -> "Editor":
        return Editor(Animation(list(state.expression_names), list(state.joint_names),
                                list(state.appearance_names), fps=fps, duration=4.0))  # a strip to put keys on

    @property
    def keys(self) -> list[Keyframe]:
        return self.animation.keyframes

    # ---- keyframes -----------------------------------------------------------------------------------
    def add_key(self, state: ViewerState) -> int:
        """A keyframe of the current view at the playhead (replacing one at the same time)."""
        self.selected = self.animation.add(keyframe_of(state, self.time))
        return self.selected

    def update_key(self, index: int, state: ViewerState) -> None:
        self.keys[index] = keyframe_of(state, self.keys[index].time)

    def delete_key(self, index: int | None = None) -> None:
        index = self.selected if index is None else index
        if index is None or not 0 <= index < len(self.keys):
            return
        self.animation.remove(index)
        self.selected = min(index, len(self.keys) - 1) if self.keys else None

    def move_key(self, index: int, time: float) -> None:
        self.selected = self.animation.move(index, time)

    def duplicate_key(self, index: int) -> None:
        """A copy one frame later (or at the playhead when that is free)."""
        taken = {round(k.time, 6) for k in self.keys}
        t = self.time if round(self.time, 6) not in taken else self.keys[index].time + 1.0 / self.animation.fps
        while round(t, 6) in taken:
            t += 1.0 / self.animation.fps
        self.selected = self.animation.duplicate(index, t)

    def step_key(self, direction: int, state: ViewerState) -> None:
        """Jump the playhead to the previous (−1) or next (+1) keyframe."""
        times = [k.time for k in self.keys]
        if not times:
            return
        later = [i for i, t in enumerate(times) if (t > self.time + 1e-9 if direction > 0 else t < self.time - 1e-9)]
        index = (later[0] if direction > 0 else later[-1]) if later else (len(times) - 1 if direction > 0 else 0)
        self.selected = index
        self.seek(times[index], state)

    def from_frames(self, frames, fps: float, every: int, state: ViewerState) -> int:
        """Keyframes from a recording or a tracked video (viewer.timeline.Keyframe list): every `every`-th
        frame at its time; frames without a camera or appearance take the current view's. Replaces the
        keyframes; returns how many."""
        every = max(1, int(every))
        current = keyframe_of(state, 0.0)
        picked = list(range(0, len(frames), every))
        if frames and picked[-1] != len(frames) - 1:
            picked.append(len(frames) - 1)  # keep the last pose
        self.animation.keyframes = []
        for i in picked:
            f = frames[i]
            camera = f.orbit.view() if getattr(f, "orbit", None) is not None else current.camera.copy()
            weights = current.appearance if getattr(f, "appearance", None) is None else np.asarray(f.appearance, float)
            self.animation.add(Keyframe(i / fps, np.asarray(f.expression, float), np.asarray(f.pose, float), camera,
                                        weights / weights.sum()))
        self.animation.fps = fps
        self.animation.duration = len(frames) / fps
        self.selected = 0 if self.keys else None
        return len(self.keys)

    def mirror(self, state: ViewerState) -> None:
        """Mirror the current view left/right (expressions *Left ↔ *Right, the pose reflected)."""
        e, p = mirror(state.expression, state.pose, state.expression_names, state.joint_names)
        state.expression[:], state.pose[:] = e, p
        state.touch()

    def clip(self) -> list:
        """The clip's frames as viewer.timeline Keyframes (what export renders: frame k at k / fps)."""
        from .timeline import Keyframe as Frame

        return [Frame(s.expression.astype(np.float32), s.pose.astype(np.float32), OrbitCamera.from_view(s.camera),
                      s.appearance.astype(np.float32)) for s in self.animation.samples()]

    # ---- playback ------------------------------------------------------------------------------------
    def seek(self, time: float, state: ViewerState) -> None:
        self.time = float(np.clip(time, 0.0, self.animation.length))
        self._start = (self._start[0], self.time) if not self.playing else self._start
        if self.keys:
            apply_sample(self.animation.sample(self.time), state)
            self._shown = self.time

    def play(self, now: float) -> None:
        if self.keys:
            if self.time >= self.animation.length - 1e-9:
                self.time = 0.0
            self.playing, self._start = True, (now, self.time)

    def pause(self) -> None:
        self.playing = False

    def toggle(self, now: float) -> None:
        self.pause() if self.playing else self.play(now)

    def frame_time(self, t: float) -> float:
        """The time of the clip frame shown at playhead t (playback steps frame by frame, as the clip)."""
        return int(round(t * self.animation.fps, 6)) / self.animation.fps

    def tick(self, state: ViewerState, now: float) -> None:
        """Advance playback in real time; shows a new frame only when the frame index changes."""
        if not self.playing or not self.keys:
            return
        length = self.animation.length
        t = self._start[1] + (now - self._start[0])
        if t >= length:
            if not self.animation.loop:
                self.playing, t = False, length
            else:
                t %= length
        self.time = t
        shown = min(self.frame_time(t), (self.animation.frame_count - 1) / self.animation.fps)
        if shown != self._shown:
            apply_sample(self.animation.sample(shown), state)
            self._shown = shown


@dataclass
class Presets:
    """Expression presets: {name: coefficient} JSON files in a folder (see viewer.paths)."""

    folder: Path
    names: list[str] | None = None
    """None until the folder was read."""

    def refresh(self) -> list[str]:
        self.names = sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []
        return self.names

    def save(self, name: str, state: ViewerState) -> Path:
        from pav.io import write_json

        name = "".join(c for c in name.strip() if c.isalnum() or c in "-_ ") or "preset"
        path = self.folder / f"{name}.json"
        write_json(path, {"expression": {n: float(v) for n, v in zip(state.expression_names, state.expression)
                                         if v != 0}})
        self.refresh()
        return path

    def load(self, name: str, state: ViewerState) -> None:
        path = self.folder / f"{name}.json"
        try:
            table = json.loads(path.read_text())["expression"]
            values = {str(k): float(v) for k, v in table.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"preset {path}: unreadable ({exc})") from None
        unknown = [k for k in values if k not in state.expression_names]
        if unknown:
            raise ValueError(f"preset {path}: unknown expression '{unknown[0]}' for this head model")
        state.expression[:] = 0.0
        for k, v in values.items():
            state.expression[state.expression_names.index(k)] = v
        state.touch()
