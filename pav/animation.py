"""Keyframe animations: the model the viewer's editor edits and `render --drive anim.json` plays.

An `Animation` is a list of `Keyframe`s, each holding a time (seconds), every named expression
coefficient, every joint's axis-angle pose, an orbit camera (target, radius, yaw, pitch, fov) and the
appearance weights, plus an interpolation mode per channel (pav.interpolate):
  expression: linear | catmull-rom | monotone (default monotone: no overshoot past the keys)
  pose:       linear | catmull-rom, on unit quaternions (slerp; default catmull-rom)
  camera:     linear | catmull-rom: the view direction on the sphere (slerp), the target in space,
              radius and fov monotone (never past the keys; default catmull-rom)
  appearance: linear | monotone, then clipped at 0 and normalised (the weights always sum to 1)
Frame k of a clip is `sample(k / fps)`, k = 0 … round(duration · fps) − 1. The viewer's playback and the
headless render both call `sample`, so they show the same frames. The JSON format is in
docs/animation.md (`save_animation` / `load_animation`, one-line errors naming the file and the field).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .camera import Camera, orbit
from .interpolate import (INTERPOLANTS, axis_angle_to_quat, lerp, quat_to_axis_angle, slerp_quat,
                          slerp_unit)

FORMAT = "pav-animation"
FORMAT_VERSION = 1
MODES = {"expression": ("linear", "catmull-rom", "monotone"), "pose": ("linear", "catmull-rom"),
         "camera": ("linear", "catmull-rom"), "appearance": ("linear", "monotone")}
"""the interpolation modes each channel accepts."""
DEFAULT_INTERPOLATION = {"expression": "monotone", "pose": "catmull-rom", "camera": "catmull-rom",
                         "appearance": "linear"}


@dataclass
class OrbitView:
    """A camera on a sphere about `target` (head space, metres; y up, face toward +z): yaw 0 / pitch 0
    is in front of the face, positive yaw moves the camera toward +x, positive pitch moves it up."""

    target: np.ndarray
    """(3,) the point looked at."""
    radius: float
    """distance from the target, metres."""
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    fov_deg: float = 20.0
    """vertical field of view."""

    def camera(self, width: int, height: int) -> Camera:
        """The OpenCV-convention pinhole camera of this view."""
        c2w = orbit(np.asarray(self.target, np.float64), self.radius, self.yaw_deg, self.pitch_deg)
        return Camera.from_fov(c2w.float(), self.fov_deg, width, height)

    def direction(self) -> np.ndarray:
        """(3,) unit vector from the target toward the camera."""
        y, p = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        return np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])

    @staticmethod
    def angles(direction: np.ndarray) -> tuple[float, float]:
        """(yaw, pitch) degrees of a unit direction (inverse of `direction`)."""
        x, y, z = (float(c) for c in direction)
        return math.degrees(math.atan2(x, z)), math.degrees(math.asin(max(-1.0, min(1.0, y))))

    def copy(self) -> "OrbitView":
        return replace(self, target=np.array(self.target, np.float64))


@dataclass
class Keyframe:
    time: float
    """seconds from the start."""
    expression: np.ndarray
    """(E,) coefficients in the animation's `expression_names` order."""
    pose: np.ndarray
    """(J, 3) axis-angle (radians) per joint in `joint_names` order."""
    camera: OrbitView
    appearance: np.ndarray
    """(A,) non-negative weights over `appearance_names`, summing to 1."""

    def copy(self, time: float | None = None) -> "Keyframe":
        return Keyframe(self.time if time is None else float(time), np.array(self.expression, np.float64),
                        np.array(self.pose, np.float64), self.camera.copy(), np.array(self.appearance, np.float64))


class Sample(NamedTuple):
    """The animation at one time: what a renderer needs (float64)."""

    expression: np.ndarray
    """(E,)"""
    pose: np.ndarray
    """(J, 3) axis-angle"""
    camera: OrbitView
    appearance: np.ndarray
    """(A,) weights summing to 1"""


@dataclass
class Animation:
    expression_names: list[str]
    joint_names: list[str]
    appearance_names: list[str]
    keyframes: list[Keyframe] = field(default_factory=list)
    """kept sorted by time; times are distinct."""
    fps: float = 25.0
    duration: float | None = None
    """clip length in seconds; None: the last keyframe's time (at least one frame)."""
    loop: bool = True
    """playback wraps around (the exported clip is one pass)."""
    interpolation: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_INTERPOLATION))

    # ---- editing -------------------------------------------------------------------------------------
    def add(self, key: Keyframe) -> int:
        """Insert `key` (replacing a keyframe at the same time); returns its index."""
        self.keyframes = [k for k in self.keyframes if not math.isclose(k.time, key.time, abs_tol=1e-9)]
        self.keyframes.append(key)
        self.keyframes.sort(key=lambda k: k.time)
        return self.keyframes.index(key)

    def remove(self, index: int) -> None:
        del self.keyframes[index]

    def move(self, index: int, time: float) -> int:
        """Change a keyframe's time (reordering the list); returns its new index."""
        return self.add(self.keyframes.pop(index).copy(time=max(0.0, float(time))))

    def duplicate(self, index: int, time: float) -> int:
        return self.add(self.keyframes[index].copy(time=max(0.0, float(time))))

    @property
    def length(self) -> float:
        """Clip length in seconds."""
        if self.duration is not None:
            return float(self.duration)
        return max(self.keyframes[-1].time if self.keyframes else 0.0, 1.0 / self.fps)

    @property
    def frame_count(self) -> int:
        return max(1, round(self.length * self.fps))

    def frame_times(self) -> np.ndarray:
        """(N,) the time of every frame of the clip: k / fps."""
        return np.arange(self.frame_count) / self.fps

    # ---- evaluation ----------------------------------------------------------------------------------
    def sample(self, t: float) -> Sample:
        """The interpolated state at time t (clamped to the first and last keyframe)."""
        keys = self.keyframes
        if not keys:
            raise ValueError("the animation has no keyframes: add one first")
        times = np.array([k.time for k in keys], np.float64)
        t = float(np.clip(t, times[0], times[-1]))
        hit = np.flatnonzero(np.abs(times - t) < 1e-12)
        if hit.size:  # on a keyframe: exactly its values
            k = keys[int(hit[0])].copy()
            return Sample(k.expression, k.pose, k.camera, k.appearance)
        i = int(np.searchsorted(times, t, side="right")) - 1
        mode = self.interpolation
        expression = INTERPOLANTS[mode["expression"]](np.stack([k.expression for k in keys]), times, i, t)
        quats = axis_angle_to_quat(np.stack([k.pose for k in keys]))
        pose = quat_to_axis_angle(INTERPOLANTS[mode["pose"]](quats, times, i, t, slerp_quat))
        camera = self._camera(times, i, t)
        raw = INTERPOLANTS[mode["appearance"]](np.stack([k.appearance for k in keys]), times, i, t)
        w = np.clip(raw, 0.0, None)
        return Sample(expression, pose, camera, w / w.sum())

    def _camera(self, times, i, t) -> OrbitView:
        keys, smooth = self.keyframes, self.interpolation["camera"] == "catmull-rom"
        path = INTERPOLANTS["catmull-rom" if smooth else "linear"]
        scalar = INTERPOLANTS["monotone" if smooth else "linear"]
        direction = path(np.stack([k.camera.direction() for k in keys]), times, i, t, slerp_unit)
        target = path(np.stack([np.asarray(k.camera.target, np.float64) for k in keys]), times, i, t, lerp)
        radius = scalar(np.array([k.camera.radius for k in keys], np.float64), times, i, t)
        fov = scalar(np.array([k.camera.fov_deg for k in keys], np.float64), times, i, t)
        yaw, pitch = OrbitView.angles(direction)
        return OrbitView(target, float(radius), yaw, pitch, float(fov))

    def samples(self) -> list[Sample]:
        """One sample per frame of the clip."""
        return [self.sample(t) for t in self.frame_times()]


def mirror_names(names: list[str]) -> list[int]:
    """For each name the index of its left/right twin (…Left ↔ …Right, left_… ↔ right_…), else itself."""
    pairs = (("Left", "Right"), ("left_", "right_"), ("_left", "_right"), ("L_", "R_"))
    out = []
    for k, name in enumerate(names):
        twin = name
        for a, b in pairs:
            if a in name:
                twin = name.replace(a, b)
            elif b in name:
                twin = name.replace(b, a)
            if twin != name:
                break
        out.append(names.index(twin) if twin in names else k)
    return out


def mirror(expression: np.ndarray, pose: np.ndarray, expression_names: list[str],
           joint_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The left/right mirror image of a state (reflection x → −x in head space): …Left and …Right
    expressions swap, left and right joints swap, and every rotation r = (x, y, z) becomes (x, −y, −z)
    (a rotation axis is a pseudovector). expression (E,), pose (J, 3) → the same shapes."""
    e = np.asarray(expression)[mirror_names(expression_names)]
    p = np.asarray(pose)[mirror_names(joint_names)] * np.array([1.0, -1.0, -1.0])
    return e.copy(), p.copy()


# ---- JSON (docs/animation.md) ----------------------------------------------------------------------------
def to_json(anim: Animation) -> dict:
    """The documented JSON form: every name written out, numbers as plain floats."""
    def key(k: Keyframe) -> dict:
        c = k.camera
        return {"time": round(float(k.time), 6),
                "expression": {n: float(v) for n, v in zip(anim.expression_names, k.expression)},
                "pose": {n: [float(x) for x in v] for n, v in zip(anim.joint_names, k.pose)},
                "camera": {"target": [float(x) for x in c.target], "radius": float(c.radius), "yaw": float(c.yaw_deg),
                           "pitch": float(c.pitch_deg), "fov": float(c.fov_deg)},
                "appearance": {n: float(v) for n, v in zip(anim.appearance_names, k.appearance)}}

    return {"format": FORMAT, "version": FORMAT_VERSION, "fps": anim.fps, "duration": anim.duration,
            "loop": anim.loop, "interpolation": dict(anim.interpolation),
            "keyframes": [key(k) for k in anim.keyframes]}


def save_animation(anim: Animation, path: str | Path) -> None:
    """Write the animation as JSON, atomically."""
    from .io import write_json

    write_json(path, to_json(anim))


def is_animation_file(path: str | Path) -> bool:
    """Does this JSON file hold a keyframe animation (rather than the older per-frame timeline)?"""
    try:
        return json.loads(Path(path).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _number(where: str, value, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{where}: {value} is outside [{lo:g}, {hi:g}]")
    return float(value)


def _named(where: str, table, names: list[str]) -> dict:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected an object {{name: value}}, got {type(table).__name__}")
    unknown = [n for n in table if n not in names]
    if unknown:
        raise ValueError(f"{where}: unknown name '{unknown[0]}' (known: {', '.join(names[:6])}"
                         f"{', …' if len(names) > 6 else ''})")
    return table


def from_json(data, where: str = "animation", expression_names: list[str] | None = None,
              joint_names: list[str] | None = None, appearance_names: list[str] | None = None,
              default_camera: OrbitView | None = None) -> Animation:
    """Validate and build an Animation. Names not given are taken from the file (first keyframe order
    of appearance); names the file leaves out are 0 (expression, pose) or weight 0 (appearance)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{where}: not a PAV animation (needs \"format\": \"{FORMAT}\")")
    if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
        raise ValueError(f"{where}: animation format version {data.get('version')!r}; this PAV reads ≤ {FORMAT_VERSION}")
    keys = data.get("keyframes")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise ValueError(f"{where}: \"keyframes\" must be a non-empty list of objects")
    modes = dict(DEFAULT_INTERPOLATION) | (data.get("interpolation") or {})
    for channel, mode in modes.items():
        if channel not in MODES or mode not in MODES[channel]:
            allowed = MODES.get(channel, ())
            raise ValueError(f"{where}: interpolation.{channel} = {mode!r}: choose one of "
                             f"{', '.join(allowed) if allowed else 'channels ' + ', '.join(MODES)}")

    def collect(field_name):
        seen: list[str] = []
        for k in keys:
            seen += [n for n in (k.get(field_name) or {}) if n not in seen]
        return seen

    e_names = list(expression_names) if expression_names is not None else collect("expression")
    j_names = list(joint_names) if joint_names is not None else collect("pose")
    a_names = list(appearance_names) if appearance_names is not None else collect("appearance")
    if not a_names:
        raise ValueError(f"{where}: no appearance names (give keyframes an \"appearance\" object)")
    fps = _number(f"{where}: fps", data.get("fps", 25.0), 1e-3, 1000.0)
    duration = data.get("duration")
    duration = None if duration is None else _number(f"{where}: duration", duration, 1e-3, 24 * 3600.0)
    anim = Animation(e_names, j_names, a_names, fps=fps, duration=duration, loop=bool(data.get("loop", True)),
                     interpolation=modes)
    times = set()
    for n, k in enumerate(keys):
        at = f"{where}: keyframes[{n}]"
        t = _number(f"{at}.time", k.get("time"), 0.0, 24 * 3600.0)
        if round(t, 9) in times:
            raise ValueError(f"{at}.time {t} repeats an earlier keyframe's time: give each keyframe its own time")
        times.add(round(t, 9))
        table = _named(f"{at}.expression", k.get("expression", {}), e_names)
        expression = np.array([_number(f"{at}.expression.{name}", table.get(name, 0.0), -10, 10) for name in e_names])
        table = _named(f"{at}.pose", k.get("pose", {}), j_names)
        pose = np.zeros((len(j_names), 3))
        for j, name in enumerate(j_names):
            v = table.get(name, [0.0, 0.0, 0.0])
            if not isinstance(v, list) or len(v) != 3:
                raise ValueError(f"{at}.pose.{name}: expected [x, y, z] axis-angle radians, got {v!r}")
            pose[j] = [_number(f"{at}.pose.{name}", x, -4 * math.pi, 4 * math.pi) for x in v]
        table = _named(f"{at}.appearance", k.get("appearance", {a_names[0]: 1.0}), a_names)
        weights = np.array([_number(f"{at}.appearance.{name}", table.get(name, 0.0), 0.0) for name in a_names])
        if weights.sum() <= 0:
            raise ValueError(f"{at}.appearance: the weights must have a positive sum")
        anim.keyframes.append(Keyframe(t, expression, pose, _camera(f"{at}.camera", k.get("camera"), default_camera),
                                       weights / weights.sum()))
    anim.keyframes.sort(key=lambda k: k.time)
    return anim


def _camera(where: str, c, default: OrbitView | None) -> OrbitView:
    if c is None:
        if default is None:
            raise ValueError(f"{where}: missing (give target, radius, yaw, pitch, fov)")
        return default.copy()
    if not isinstance(c, dict):
        raise ValueError(f"{where}: expected an object with target, radius, yaw, pitch, fov")
    base = default.copy() if default is not None else OrbitView(np.zeros(3), 0.75)
    target = c.get("target", list(base.target))
    if not isinstance(target, list) or len(target) != 3:
        raise ValueError(f"{where}.target: expected [x, y, z] metres, got {target!r}")
    return OrbitView(np.array([_number(f"{where}.target", x, -100, 100) for x in target]),
                     _number(f"{where}.radius", c.get("radius", base.radius), 1e-3, 100.0),
                     _number(f"{where}.yaw", c.get("yaw", base.yaw_deg), -360.0, 360.0),
                     _number(f"{where}.pitch", c.get("pitch", base.pitch_deg), -89.0, 89.0),
                     _number(f"{where}.fov", c.get("fov", base.fov_deg), 1.0, 170.0))


def load_animation(path: str | Path, **names) -> Animation:
    """Read an animation JSON (see `from_json` for `names`); one-line errors naming the file and field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"animation not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None
    return from_json(data, str(path), **names)


# ---- rendering ---------------------------------------------------------------------------------------------
def sample_tensors(s: Sample) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A sample's (expression (E,), pose (J, 3), appearance (A,)) as the float32 tensors a render takes."""
    return (torch.as_tensor(s.expression, dtype=torch.float32), torch.as_tensor(s.pose, dtype=torch.float32),
            torch.as_tensor(s.appearance, dtype=torch.float32))


def default_view(avatar) -> OrbitView:
    """The front view framing the avatar's head (the viewer's 'reset camera')."""
    v = avatar.canonical_vertices
    lo, hi = v.min(0).values.double().numpy(), v.max(0).values.double().numpy()
    return OrbitView((lo + hi) / 2, 1.3 * 0.5 * float((hi - lo).max()) / math.tan(math.radians(20.0) / 2))


def drive_frames(avatar, path: str | Path, size: int):
    """`render --drive anim.json`: the avatar's names validated, one pav.export.ClipFrame per frame
    (size × size), and the animation's fps. Returns (frames, fps)."""
    from .export import ClipFrame

    head = avatar.head
    anim = load_animation(path, expression_names=head.expression_names, joint_names=head.joint_names,
                          appearance_names=avatar.appearance_names, default_camera=default_view(avatar))
    frames = []
    for s in anim.samples():
        e, p, w = sample_tensors(s)
        frames.append(ClipFrame(s.camera.camera(size, size), e, p, None, w))
    return frames, anim.fps
