"""What the viewer shows, as plain data: settings (inert) apart from the mutable view state.

Panels edit a `ViewerState` and call `touch()` when they change it; `version` is the ONE counter that
invalidates the picture (the render scheduler drops work for older versions).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from pav.camera import Camera
from pav.config import PREVIEW_SAMPLES_PER_RAY

from .orbit import OrbitCamera

VIEW_MODES = ("rgb", "alpha", "depth")


@dataclass(frozen=True)
class ViewerSettings:
    preview_size: int = 128
    """render height (pixels) while the user drags or plays back."""
    final_size: int = 256
    """render height when idle (progressive refinement goes preview → final)."""
    refine_sizes: tuple[int, ...] = ()
    """intermediate sizes rendered on the way to `final_size` when idle."""
    preview_samples: int = PREVIEW_SAMPLES_PER_RAY
    """samples per ray for preview-size renders (final renders use the avatar's own setting)."""


class RenderRequest(NamedTuple):
    """Everything a render function needs for one picture."""

    camera: Camera
    expression: np.ndarray
    """(E,) expression coefficients."""
    pose: np.ndarray
    """(J, 3) axis-angle per joint."""
    appearance: np.ndarray
    """(A,) non-negative weights over appearances, summing to 1."""
    mode: str
    """one of VIEW_MODES."""
    samples_per_ray: int | None = None
    """fewer samples for fast previews; None = the renderer's default."""
    focus_distance: float | None = None
    """metres from the camera to the orbit target (the display reprojects the picture about that plane)."""


@dataclass
class ViewerState:
    expression_names: list[str]
    joint_names: list[str]
    appearance_names: list[str]
    expression: np.ndarray = None
    """(E,) current expression coefficients."""
    pose: np.ndarray = None
    """(J, 3) current axis-angle pose."""
    appearance: int = 0
    """selected appearance."""
    blend_with: int = 0
    """second appearance for blending."""
    blend: float = 0.0
    """0 → `appearance` only, 1 → `blend_with` only."""
    weights: np.ndarray | None = None
    """(A,) weights set by animation playback (any mix of appearances); None: from the three above.
    Editing the appearance controls clears it."""
    orbit: OrbitCamera = field(default_factory=OrbitCamera)
    mode: str = "rgb"
    show_mesh: bool = False
    version: int = 0

    def __post_init__(self):
        if self.expression is None:
            self.expression = np.zeros(len(self.expression_names), np.float32)
        if self.pose is None:
            self.pose = np.zeros((len(self.joint_names), 3), np.float32)

    def touch(self) -> None:
        """Record a change: anything rendered for an older version is stale."""
        self.version += 1

    def reset_pose(self) -> None:
        self.expression[:] = 0.0
        self.pose[:] = 0.0
        self.touch()

    def appearance_weights(self) -> np.ndarray:
        """(A,) weights: one-hot for the selected appearance, moved toward `blend_with` by `blend` (or the
        playback's `weights`)."""
        if self.weights is not None:
            return self.weights.astype(np.float32).copy()
        w = np.zeros(len(self.appearance_names), np.float32)
        w[self.appearance] += 1.0 - self.blend
        w[self.blend_with] += self.blend
        return w

    def request(self, width: int, height: int) -> RenderRequest:
        """A snapshot (copies) of the state for a render at the given size."""
        return RenderRequest(self.orbit.camera(width, height), self.expression.copy(), self.pose.copy(),
                             self.appearance_weights(), self.mode, focus_distance=float(self.orbit.radius))
