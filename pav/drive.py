"""Driving an avatar with a tracked video (`render CKPT --drive DRIVE/NAME`): cameras, relative transfer.

A driving collection is made by `track NEW.mp4 --identity CKPT --out DRIVE` (the avatar's own shape), or is
any collection on the same head model. Per frame it has expression e_t, pose θ_t, translation and a camera.
- camera "driving": the driving video's own tracked cameras and head translation, so the output lines up
  with the driving frames (`--side-by-side` puts them next to each other);
- camera "avatar": a fixed camera in front of the avatar's head (the viewer's default view); the head
  keeps the driving rotations but not the translation;
- camera "orbit": as "avatar", sweeping `--orbit` degrees of yaw over the clip.
Relative transfer (`relative=True`) moves expression and jaw by their change from a neutral frame:
e_out = e_avatar_neutral + (e_t − e_neutral), jaw likewise, where the avatar's neutral is the head model's
zero (the avatar is trained on its own tracked parameters, whose rest is that zero) and the neutral frame
is the one whose expression is nearest to zero (`neutral_frame` overrides).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .export import ClipFrame, drive_from_collection, orbit_camera, with_orbit

CAMERAS = ("driving", "avatar", "orbit")


@dataclass(frozen=True)
class DriveOptions:
    camera: str = "driving"
    """'driving' | 'avatar' | 'orbit' (module docstring)"""
    relative: bool = False
    """transfer expression and jaw relative to a neutral frame"""
    neutral_frame: int | None = None
    """position of the neutral frame in the driving video (None: the one nearest to zero expression)"""
    orbit_degrees: float = 30.0
    """yaw sweep of the 'orbit' camera"""


class DrivenClip(NamedTuple):
    frames: list[ClipFrame]
    driving_images: list[np.ndarray]
    """(H, W, 3) uint8 driving frames, in clip order (for --side-by-side)"""
    neutral_frame: int | None
    """the neutral frame used by relative transfer"""


def neutral_index(expressions: torch.Tensor) -> int:
    """(N, E) → the frame whose expression has the smallest norm."""
    return int(expressions.norm(dim=1).argmin())


def relative_transfer(frames: list[ClipFrame], neutral: int, jaw: int | None) -> list[ClipFrame]:
    """e_out = e_t − e_neutral (+ the avatar's neutral, zero) for expressions and the jaw joint."""
    e0 = frames[neutral].expression
    out = []
    for f in frames:
        pose = f.pose.clone()
        if jaw is not None:
            pose[jaw] = f.pose[jaw] - frames[neutral].pose[jaw]
        out.append(f._replace(expression=f.expression - e0, pose=pose))
    return out


def drive(avatar, collection, name: str, size: int, appearance=None, options: DriveOptions = DriveOptions()
          ) -> DrivenClip:
    """A driving video of `collection` → clip frames for `avatar` (see the module docstring)."""
    if options.camera not in CAMERAS:
        raise ValueError(f"--camera {options.camera!r}: choose one of {', '.join(CAMERAS)}")
    collection.check_head_model(avatar.head)
    if appearance is None and name not in avatar.appearance_names:
        appearance = 0  # a new driving video: the avatar's first appearance unless one is asked for
    frames = drive_from_collection(avatar, collection, name, size, appearance)
    if not frames:
        raise ValueError(f"--drive {name}: the driving video has no frames")
    neutral = None
    if options.relative or options.neutral_frame is not None:
        n = len(frames)
        if options.neutral_frame is not None and not 0 <= options.neutral_frame < n:
            raise ValueError(f"--neutral-frame {options.neutral_frame}: the driving video has frames 0..{n - 1}")
        neutral = options.neutral_frame if options.neutral_frame is not None else \
            neutral_index(torch.stack([f.expression for f in frames]))
    if options.relative:
        joints = avatar.head.joint_names
        frames = relative_transfer(frames, neutral, joints.index("jaw") if "jaw" in joints else None)
    if options.camera != "driving":
        frames = [f._replace(camera=orbit_camera(avatar, size), translation=None) for f in frames]
        if options.camera == "orbit":
            frames = with_orbit(avatar, frames, options.orbit_degrees, size)
    app = collection.appearance(name)
    ordered = sorted((f for f in app.frames if f.view is None), key=lambda f: f.index)  # the video, no novel views
    images = [(app.image(f).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8) if f.file_path else
              np.zeros((app.height, app.width, 3), np.uint8) for f in ordered]
    return DrivenClip(frames, images, neutral)


def side_by_side(driving: np.ndarray, rendered: np.ndarray) -> np.ndarray:
    """[driving | rendered], the driving frame resized to the render's height (uint8 (H, W, 3) each)."""
    from PIL import Image

    H = rendered.shape[0]
    d = driving[..., :3]
    if d.shape[0] != H:
        w = max(1, round(d.shape[1] * H / d.shape[0]))
        d = np.asarray(Image.fromarray(np.ascontiguousarray(d)).resize((w, H), Image.BILINEAR))
    return np.concatenate([d, rendered], axis=1)
