"""Write a collection (format in docs/collection-format.md); every file is written atomically (pav.io).

Order for a new collection: per appearance `write_frame_files` (and `write_background`), then
`write_transforms`, and `write_manifest` last, so a half-written collection is never readable as whole.
Numbers are written as JSON doubles (Python's shortest round-trip repr): the reader gets them back exactly.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..io import atomic_path, write_json, write_png
from .collection import FORMAT_NAME, FORMAT_VERSION, MANIFEST, TRANSFORMS, Appearance, Frame, Manifest


def frame_paths(index: int, depth: bool = True) -> dict[str, str | None]:
    """The default relative file paths of frame `index` (INSTA-like 5-digit names)."""
    name = f"{index:05d}.png"
    return {"file_path": f"images/{name}", "mask_path": f"masks/{name}", "face_mask_path": f"face_masks/{name}",
            "depth_path": f"depth/{name}" if depth else None}


def manifest_dict(m: Manifest) -> dict:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "subject": m.subject,
            "head_model": {"spec": m.head_model.spec, "name": m.head_model.name, "checksum": m.head_model.checksum},
            "shape": [float(x) for x in m.shape],
            "appearances": [{"name": a.name, "folder": a.folder} for a in m.appearances],
            "description": m.description}


def _floats(a) -> list:
    return np.asarray(a, dtype=np.float64).tolist()


def frame_dict(app: Appearance, f: Frame) -> dict:
    d = {"frame_index": int(f.index), "timestamp": float(f.timestamp), "split": f.split}
    for key in ("file_path", "mask_path", "face_mask_path", "depth_path", "source"):
        if getattr(f, key) is not None:
            d[key] = getattr(f, key)
    d["transform_matrix"] = _floats(f.c2w)
    for key, value, default in (("fl_x", f.fx, app.fx), ("fl_y", f.fy, app.fy), ("cx", f.cx, app.cx),
                                ("cy", f.cy, app.cy)):
        if float(value) != float(default):
            d[key] = float(value)
    d |= {"expression": _floats(f.expression), "pose": _floats(f.pose), "translation": _floats(f.translation)}
    if f.view is not None:
        d["view"] = {"yaw": float(f.view.yaw), "pitch": float(f.view.pitch), "center": _floats(f.view.center),
                     "test_frame": int(f.view.test_frame)}
    return d


def transforms_dict(app: Appearance) -> dict:
    d = dict(app.extra)
    d |= {"w": app.width, "h": app.height, "fl_x": float(app.fx), "fl_y": float(app.fy), "cx": float(app.cx),
          "cy": float(app.cy), "camera_angle_x": 2 * math.atan(app.width / (2 * app.fx)),
          "camera_angle_y": 2 * math.atan(app.height / (2 * app.fy)), "camera_convention": "opencv",
          "integer_depth_scale": float(app.depth_scale), "fps": float(app.fps)}
    if app.background_path is not None:
        d["background_path"] = app.background_path
    if app.background_color is not None:
        d["background_color"] = [float(c) for c in app.background_color]
    d |= {"expression_names": list(app.expression_names), "joint_names": list(app.joint_names),
          "frames": [frame_dict(app, f) for f in app.frames]}
    return d


def write_manifest(root: str | Path, manifest: Manifest) -> None:
    write_json(Path(root) / MANIFEST, manifest_dict(manifest))


def write_transforms(app: Appearance) -> None:
    write_json(app.folder / TRANSFORMS, transforms_dict(app))


def _check_image(name: str, a: np.ndarray, app: Appearance, channels: int | None) -> np.ndarray:
    a = np.asarray(a)
    want = (app.height, app.width) + ((channels,) if channels else ())
    if a.shape != want:
        raise ValueError(f"{name} must be {want} for appearance '{app.name}', got {a.shape}")
    return a


def write_depth_png(path: Path, depth: np.ndarray, scale: float) -> None:
    """Depth in metres (H, W), 0 = no surface → uint16 PNG of round(depth / scale), atomically."""
    from PIL import Image

    units = np.round(np.asarray(depth, dtype=np.float64) / scale)
    if not np.isfinite(units).all() or units.min(initial=0) < 0 or units.max(initial=0) > 65535:
        raise ValueError(f"{path}: depth must be finite in [0, {65535 * scale:.3f}] m for integer_depth_scale "
                         f"{scale}; use a larger scale")
    with atomic_path(path) as tmp:
        Image.fromarray(units.astype(np.uint16)).save(tmp, format="PNG")


def write_frame_files(app: Appearance, frame: Frame, image=None, mask=None, face_mask=None, depth=None) -> None:
    """Write the given arrays to the frame's paths: image (H, W, 3) and masks (H, W) as float [0, 1] or
    uint8; depth (H, W) float metres (0 = no surface)."""
    for key, data, channels in (("file_path", image, 3), ("mask_path", mask, None),
                                ("face_mask_path", face_mask, None), ("depth_path", depth, None)):
        if data is None:
            continue
        rel = getattr(frame, key)
        if rel is None:
            raise ValueError(f"frame {frame.index} of '{app.name}' has no {key} to write to")
        data = _check_image(f"frame {frame.index} {key}", np.asarray(data), app, channels)
        if key == "depth_path":
            write_depth_png(app.folder / rel, data, app.depth_scale)
        else:
            write_png(app.folder / rel, data)


def write_background(app: Appearance, image) -> None:
    """Background (H, W, 3) float [0, 1] or uint8 → app.background_path (which must be set)."""
    if app.background_path is None:
        raise ValueError(f"appearance '{app.name}' has no background_path")
    write_png(app.folder / app.background_path, _check_image("background", image, app, 3))
