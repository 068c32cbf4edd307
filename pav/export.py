"""Headless clip export: a sequence of (camera, expression, pose, appearance) → H.264 mp4.

Sequences come from a collection video (`drive_from_collection`, to replay a video in another
appearance), from a recorded timeline JSON (`read_sequence`, the viewer's format), or a built-in
demo animation (`demo_sequence`). `with_orbit` sweeps the camera around the head. The mp4 is encoded
by the ffmpeg binary bundled with imageio-ffmpeg (libx264, yuv420p) into a temp file, then renamed.

Timeline JSON: {"fps": 25, "frames": [{"expression": {name: value}, "pose": {joint: [x, y, z]},
"yaw": deg, "pitch": deg, "radius": m, "appearance": name | [weights]}, ...]} — every key optional.
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
        e = torch.zeros(len(names))
        for name, weight in (("jawOpen", math.sin(math.pi * s) ** 2 * 0.7), ("mouthSmileLeft", 0.6 * s),
                             ("mouthSmileRight", 0.6 * s), ("browInnerUp", 0.8 * math.sin(2 * math.pi * s) ** 2)):
            if name in names:
                e[names.index(name)] = weight
        pose = torch.zeros(avatar.head.n_joints, 3)
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
        out.append(ClipFrame(camera, torch.as_tensor(f.expression, dtype=torch.float32),
                             torch.as_tensor(f.pose, dtype=torch.float32),
                             torch.as_tensor(f.translation, dtype=torch.float32),
                             appearance if appearance is not None else appearance_name))
    return out


def read_sequence(avatar, path: Path, size: int, appearance=0) -> tuple[list[ClipFrame], int]:
    """A timeline JSON (module docstring) → (frames, fps); errors name the file and the frame."""
    try:
        data = json.loads(Path(path).read_text())
        fps, items = int(data.get("fps", 25)), data["frames"]
    except FileNotFoundError:
        raise FileNotFoundError(f"sequence not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a PAV timeline ({exc})") from None
    names, joints = avatar.head.expression_names, avatar.head.joint_names
    frames = []
    for k, item in enumerate(items):
        e = torch.zeros(len(names))
        for name, value in item.get("expression", {}).items():
            if name not in names or not math.isfinite(float(value)):
                raise ValueError(f"{path}: frames[{k}].expression: bad entry {name}={value}")
            e[names.index(name)] = float(value)
        pose = torch.zeros(len(joints), 3)
        for name, value in item.get("pose", {}).items():
            if name not in joints or len(value) != 3 or not np.isfinite(value).all():
                raise ValueError(f"{path}: frames[{k}].pose: bad entry {name}={value}")
            pose[joints.index(name)] = torch.tensor(value, dtype=torch.float32)
        camera = orbit_camera(avatar, size, item.get("yaw", 0.0), item.get("pitch", 0.0), item.get("radius"))
        frames.append(ClipFrame(camera, e, pose, None, item.get("appearance", appearance)))
    if not frames:
        raise ValueError(f"{path}: the timeline has no frames")
    return frames, fps


def with_orbit(avatar, frames: list[ClipFrame], degrees: float, size: int) -> list[ClipFrame]:
    """Replace the cameras by an orbit sweeping `degrees` of yaw (centred on the front) over the clip."""
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
                image = (out.rgb.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
                if compose is not None:
                    image = compose(k, image)
                if (W2, H2) != (W, H):
                    image = np.pad(image, ((0, H2 - H), (0, W2 - W), (0, 0)), mode="edge")
                writer.send(np.ascontiguousarray(mark_frame(image, provenance)))
                if progress:
                    progress(k + 1, len(frames))
        finally:
            writer.close()
    return len(frames)
