"""Headless clip export: a sequence of (camera, expression, pose, appearance) → H.264 mp4.

Sequences come from a collection video (`drive_from_collection`, to replay a video in another
appearance), from a recorded timeline JSON (`read_sequence`, the viewer's format), or a built-in
demo animation (`demo_sequence`). `with_orbit` sweeps the camera around the head. The mp4 is encoded
by the ffmpeg binary bundled with imageio-ffmpeg (libx264, yuv420p) into a temp file, then renamed.

Timeline JSON: {"fps": 25, "frames": [{"expression": {name: value}, "pose": {joint: [x, y, z]},
"yaw": deg, "pitch": deg, "radius": m, "appearance": name | [weights]}, ...]} — every key optional except
a non-empty "frames"; fps a whole number in 1..240, numbers finite, radius > 0 (checked before rendering).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import numpy as np
import torch

from .camera import Camera, orbit
from .io import atomic_path
from .provenance import Provenance, ffmpeg_metadata, for_avatar, mark_frame


class ClipFrame(NamedTuple):
    camera: Camera
    expression: torch.Tensor
    """(E,)"""
    pose: torch.Tensor
    """(J, 3) axis-angle"""
    translation: torch.Tensor | None
    """(3,) or None"""
    appearance: object
    """name, index or (A,) weights"""


def head_centre(avatar) -> list[float]:
    v = avatar.canonical_vertices
    return ((v.min(0).values + v.max(0).values) / 2).tolist()


def orbit_camera(avatar, size: int, yaw: float = 0.0, pitch: float = 0.0, radius: float | None = None,
                 fov_deg: float = 20.0) -> Camera:
    v = avatar.canonical_vertices
    extent = float((v.max(0).values - v.min(0).values).max())
    r = radius if radius is not None else 0.5 * extent / math.tan(math.radians(fov_deg) / 2) * 1.25
    return Camera.from_fov(orbit(head_centre(avatar), r, yaw, pitch).float(), fov_deg, size, size)


def demo_sequence(avatar, size: int, seconds: float = 3.0, fps: int = 25, appearance=0) -> list[ClipFrame]:
    """A short performance: smile, open the mouth, raise the brows, turn the head."""
    names = avatar.head.expression_names
    n = int(seconds * fps)
    frames = []
    for k in range(n):
        s = k / max(n - 1, 1)
        e = torch.zeros(len(names), device="cpu")  # host-side parameters; render moves them
        for name, weight in (("jawOpen", math.sin(math.pi * s) ** 2 * 0.7), ("mouthSmileLeft", 0.6 * s),
                             ("mouthSmileRight", 0.6 * s), ("browInnerUp", 0.8 * math.sin(2 * math.pi * s) ** 2)):
            if name in names:
                e[names.index(name)] = weight
        pose = torch.zeros(avatar.head.n_joints, 3, device="cpu")
        if "neck" in avatar.head.joint_names:
            pose[avatar.head.joint_names.index("neck"), 1] = 0.25 * math.sin(2 * math.pi * s)
        frames.append(ClipFrame(orbit_camera(avatar, size), e, pose, None, appearance))
    return frames


def drive_from_collection(avatar, collection, appearance_name: str, size: int | None, appearance=None) -> list[ClipFrame]:
    """Every frame of one collection video (in time order), its cameras and tracked parameters, rendered
    in `appearance` (default: the video's own)."""
    app = collection.appearance(appearance_name)
    frames = sorted((f for f in app.frames if f.view is None), key=lambda f: f.index)  # the video, no novel views
    out = []
    for f in frames:
        camera = app.camera(f)
        if size is not None:
            camera = camera.scaled(round(size * camera.width / camera.height), size)
        out.append(ClipFrame(camera, torch.as_tensor(f.expression, dtype=torch.float32, device="cpu"),
                             torch.as_tensor(f.pose, dtype=torch.float32, device="cpu"),
                             torch.as_tensor(f.translation, dtype=torch.float32, device="cpu"),
                             appearance if appearance is not None else appearance_name))
    return out


MAX_FPS = 240


def _number(path, where: str, value, positive: bool = False) -> float:
    """A finite JSON number (bool refused), > 0 with `positive`; else a ValueError naming file and field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{path}: {where} must be a finite number, got {json.dumps(value)[:40]}")
    if positive and value <= 0:
        raise ValueError(f"{path}: {where} must be > 0, got {value}")
    return float(value)


def read_sequence(avatar, path: Path, size: int, appearance=0) -> tuple[list[ClipFrame], int]:
    """A timeline JSON (module docstring) → (frames, fps); errors name the file and the field, e.g.
    "seq.json: frames[3].yaw must be a finite number, got \"left\"". """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"sequence not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a PAV timeline (invalid JSON: {exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a PAV timeline: expected an object {{\"fps\": 25, \"frames\": [...]}}, "
                         f"got a JSON {type(data).__name__}")
    fps = data.get("fps", 25)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps != int(fps) \
            or not 1 <= fps <= MAX_FPS:
        raise ValueError(f"{path}: fps must be a whole number in 1..{MAX_FPS}, got {json.dumps(fps)[:40]}")
    items = data.get("frames")
    if not isinstance(items, list):
        raise ValueError(f"{path}: frames must be a list of frame objects, got {json.dumps(items)[:40]}")
    if not items:
        raise ValueError(f"{path}: the timeline has no frames")
    names, joints = avatar.head.expression_names, avatar.head.joint_names
    frames = []
    for k, item in enumerate(items):
        where = f"frames[{k}]"
        if not isinstance(item, dict):
            raise ValueError(f"{path}: {where} must be an object, got {json.dumps(item)[:40]}")
        expression, pose_items = item.get("expression", {}), item.get("pose", {})
        if not isinstance(expression, dict) or not isinstance(pose_items, dict):
            raise ValueError(f"{path}: {where}.expression and .pose must be objects keyed by name")
        e = torch.zeros(len(names), device="cpu")  # host-side parameters; render moves them
        for name, value in expression.items():
            if name not in names:
                raise ValueError(f"{path}: {where}.expression: unknown name {name!r}")
            e[names.index(name)] = _number(path, f"{where}.expression.{name}", value)
        pose = torch.zeros(len(joints), 3, device="cpu")
        for name, value in pose_items.items():
            if name not in joints or not isinstance(value, list) or len(value) != 3:
                raise ValueError(f"{path}: {where}.pose: bad entry {name}={json.dumps(value)[:40]} "
                                 f"(a joint of {', '.join(joints)} and [x, y, z])")
            pose[joints.index(name)] = torch.tensor([_number(path, f"{where}.pose.{name}", v) for v in value], device="cpu")
        yaw = _number(path, f"{where}.yaw", item.get("yaw", 0.0))
        pitch = _number(path, f"{where}.pitch", item.get("pitch", 0.0))
        radius = item.get("radius")
        radius = None if radius is None else _number(path, f"{where}.radius", radius, positive=True)
        camera = orbit_camera(avatar, size, yaw, pitch, radius)
        chosen = item.get("appearance", appearance)
        try:
            avatar.appearance_weights(chosen)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise ValueError(f"{path}: {where}.appearance: {exc}") from None
        frames.append(ClipFrame(camera, e, pose, None, chosen))
    return frames, int(fps)


def with_orbit(avatar, frames: list[ClipFrame], degrees: float, size: int) -> list[ClipFrame]:
    """Replace the cameras by an orbit sweeping `degrees` of yaw (centred on the front) over the clip."""
    if not math.isfinite(degrees):
        raise ValueError(f"orbit must be a finite number of degrees, got {degrees}")
    n = len(frames)
    return [f._replace(camera=orbit_camera(avatar, size, yaw=-degrees / 2 + degrees * k / max(n - 1, 1)))
            for k, f in enumerate(frames)]


def export_clip(avatar, frames: Iterable[ClipFrame], path: str | Path, fps: int = 25,
                background=(1.0, 1.0, 1.0), progress: Callable[[int, int], None] | None = None,
                provenance: Provenance | None = None,
                compose: Callable[[int, np.ndarray], np.ndarray] | None = None) -> int:
    """Render `frames` and encode them to an H.264 mp4 at `path` (atomically). Returns the frame count.
    Every frame is marked as synthetic (`provenance`, default: watermark on, the avatar's checksum and the
    first frame's appearance) and the mp4's comment/description tags say so. `compose(k, image)` may turn
    frame k's uint8 render into the image to encode (e.g. side by side with the driving frame)."""
    import imageio_ffmpeg

    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise ValueError(f"fps must be a number in (0, {MAX_FPS}], got {fps}")
    frames = list(frames)
    if not frames:
        raise ValueError("nothing to export: the sequence is empty")
    if provenance is None:
        provenance = for_avatar(avatar, frames[0].appearance)
    W, H = frames[0].camera.width, frames[0].camera.height
    if compose is not None:
        H, W = compose(0, np.zeros((H, W, 3), np.uint8)).shape[:2]
    W2, H2 = W + W % 2, H + H % 2  # yuv420p needs even sizes
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (W2, H2), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                             quality=8, macro_block_size=1, ffmpeg_log_level="error",
                                             output_params=["-f", "mp4", *ffmpeg_metadata(provenance)])
        writer.send(None)
        try:
            for k, f in enumerate(frames):
                out = avatar.render(f.camera, f.expression, f.pose, f.appearance, translation=f.translation,
                                    background=background)
                image = (out.rgb.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
                if compose is not None:
                    image = compose(k, image)
                if (W2, H2) != (W, H):
                    image = np.pad(image, ((0, H2 - H), (0, W2 - W), (0, 0)), mode="edge")
                writer.send(np.ascontiguousarray(mark_frame(image, provenance)))
                if progress:
                    progress(k + 1, len(frames))
        finally:
            writer.close()
        provenance.sign(tmp)  # a C2PA manifest when asked for, over the finished file
    return len(frames)
