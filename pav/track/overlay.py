"""Pictures to check a fit by eye: the fitted mesh shaded over the frame, detected and fitted landmarks."""
from __future__ import annotations

import numpy as np
import torch

from ..camera import Camera
from ..head.preview import shade

DETECTED = (40, 220, 60)
"""colour of mediapipe's detections (green)."""
FITTED = (235, 40, 40)
"""colour of the fitted model's landmarks (red)."""
MESH = (0.45, 0.65, 1.0)
"""albedo of the shaded mesh (light blue: unlike any skin)."""


def _dots(image: np.ndarray, points: np.ndarray, color, radius: int = 1) -> None:
    H, W = image.shape[:2]
    for x, y in np.asarray(points):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        j, i = int(x), int(y)  # the pixel whose square contains the point (centres at +0.5)
        image[max(i - radius, 0):min(i + radius + 1, H), max(j - radius, 0):min(j + radius + 1, W)] = color


def fit_overlay(frame: np.ndarray, vertices: torch.Tensor, faces: torch.Tensor, camera: Camera,
                detected: np.ndarray | None = None, fitted: np.ndarray | None = None,
                opacity: float = 0.5) -> np.ndarray:
    """frame (H, W, 3) uint8 with the mesh vertices (V, 3) shaded over it at `opacity`, then fitted
    landmarks (L, 2) as red 3×3 dots and detected ones (L, 2) as green single pixels on top, side by side
    with the plain frame (to compare the face with and without the mesh) → (H, 2W, 3) uint8."""
    shaded = shade(vertices, faces, camera, albedo=MESH).astype(np.float32)
    covered = shade(vertices, faces, camera, mode="alpha")[..., :1].astype(np.float32) / 255
    mixed = frame.astype(np.float32) * (1 - opacity * covered) + shaded * opacity * covered
    out = (mixed + 0.5).astype(np.uint8)
    if fitted is not None:
        _dots(out, fitted, FITTED)
    if detected is not None:
        _dots(out, detected, DETECTED, radius=0)
    return np.concatenate([frame, out], axis=1)
