"""Orbit camera about the head: drag to rotate, right/middle drag to pan, wheel to zoom. No GL, no GUI.

The camera sits on a sphere of `radius` about `target` (head space: y up, face toward +z). yaw 0 / pitch 0
is in front of the face. `camera()` returns a `pav.Camera` (OpenCV convention).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from pav.animation import OrbitView
from pav.camera import Camera


@dataclass
class OrbitCamera:
    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """(3,) point the camera looks at and orbits about, metres."""
    radius: float = 0.75
    """distance from target, metres."""
    yaw_deg: float = 0.0
    """rotation about the vertical axis; positive moves the camera toward +x."""
    pitch_deg: float = 0.0
    """elevation; positive moves the camera up; clamped to ±85°."""
    fov_deg: float = 20.0
    """vertical field of view."""
    rotate_speed: float = 0.3
    """degrees per pixel of drag."""

    def rotate(self, dx_px: float, dy_px: float) -> None:
        """Drag by (dx, dy) pixels: dragging right turns the head to show its right side (camera moves left)."""
        self.yaw_deg = (self.yaw_deg - dx_px * self.rotate_speed + 180.0) % 360.0 - 180.0
        self.pitch_deg = float(np.clip(self.pitch_deg + dy_px * self.rotate_speed, -85.0, 85.0))

    def pan(self, dx_px: float, dy_px: float, viewport_height_px: int) -> None:
        """Move the target in the image plane so the scene follows the mouse."""
        c2w = self._c2w()
        metres_per_px = 2.0 * self.radius * math.tan(math.radians(self.fov_deg) / 2) / viewport_height_px
        right, down = c2w[:3, 0], c2w[:3, 1]
        self.target = self.target - metres_per_px * (dx_px * right + dy_px * down)

    def zoom(self, wheel_steps: float) -> None:
        """Wheel up (positive) moves closer, by 10 % per step; radius kept within [0.15, 5] m."""
        self.radius = float(np.clip(self.radius * 0.9 ** wheel_steps, 0.15, 5.0))

    def camera(self, width: int, height: int) -> Camera:
        return self.view().camera(width, height)

    def view(self) -> OrbitView:
        """As pav's OrbitView: the animation model's camera (one place computes the pinhole camera)."""
        return OrbitView(np.asarray(self.target, np.float64).copy(), float(self.radius), float(self.yaw_deg),
                         float(self.pitch_deg), float(self.fov_deg))

    @staticmethod
    def from_view(view: OrbitView) -> "OrbitCamera":
        return OrbitCamera(np.asarray(view.target, np.float64).copy(), float(view.radius), float(view.yaw_deg),
                           float(view.pitch_deg), float(view.fov_deg))

    def copy(self) -> "OrbitCamera":
        return replace(self, target=self.target.copy())

    def _c2w(self) -> np.ndarray:
        return self.camera(1, 1).c2w.double().numpy()
