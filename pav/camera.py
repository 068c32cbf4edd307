"""Pinhole cameras in ONE convention: OpenCV.

Convention (used everywhere inside PAV):
- camera axes: x right, y down, z forward (the camera looks along +z);
- `c2w` is the 4×4 camera-to-world matrix (columns 0..2 are the camera axes in world space, column 3
  the camera centre), units metres;
- intrinsics `fx, fy, cx, cy` in pixels, pixel centres at +0.5 (pixel (i, j) covers [j, j+1) × [i, i+1)
  and its centre is at (j + 0.5, i + 0.5)).

OpenGL-style matrices (x right, y up, camera looking along −z) enter and leave only through
`opencv_to_opengl` / `opengl_to_opencv`, which are the same flip and are tested.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Camera", "look_at", "orbit", "opencv_to_opengl", "opengl_to_opencv", "opengl_view_projection"]

_FLIP_YZ = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera (OpenCV convention, see module docstring)."""

    c2w: torch.Tensor
    """(4, 4) camera-to-world, OpenCV axes."""
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self):
        if tuple(self.c2w.shape) != (4, 4):
            raise ValueError(f"Camera.c2w must be (4, 4), got {tuple(self.c2w.shape)}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Camera size must be positive, got {self.width}×{self.height}")

    @property
    def K(self) -> torch.Tensor:
        """(3, 3) intrinsic matrix, float64."""
        return torch.tensor([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
                            dtype=torch.float64, device=self.c2w.device)

    @property
    def w2c(self) -> torch.Tensor:
        """(4, 4) world-to-camera."""
        return torch.linalg.inv(self.c2w.double()).to(self.c2w.dtype)

    @property
    def center(self) -> torch.Tensor:
        """(3,) camera centre in world space."""
        return self.c2w[:3, 3]

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """World points (..., 3) → (..., 3): pixel x, pixel y (continuous, centres at +0.5) and depth z."""
        w2c = self.w2c.to(points)
        p = points @ w2c[:3, :3].T + w2c[:3, 3]
        z = p[..., 2]
        u = self.fx * p[..., 0] / z + self.cx
        v = self.fy * p[..., 1] / z + self.cy
        return torch.stack([u, v, z], dim=-1)

    def rays(self, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel rays through pixel centres: origins (H, W, 3) and unit directions (H, W, 3)."""
        j = torch.arange(self.width, dtype=torch.float64, device=self.c2w.device) + 0.5
        i = torch.arange(self.height, dtype=torch.float64, device=self.c2w.device) + 0.5
        ii, jj = torch.meshgrid(i, j, indexing="ij")
        d_cam = torch.stack([(jj - self.cx) / self.fx, (ii - self.cy) / self.fy, torch.ones_like(ii)], -1)
        c2w = self.c2w.double()
        d = d_cam @ c2w[:3, :3].T
        d = d / d.norm(dim=-1, keepdim=True)
        o = c2w[:3, 3].expand_as(d)
        return o.to(dtype).contiguous(), d.to(dtype).contiguous()

    def to(self, device: torch.device | str) -> "Camera":
        """The same camera with `c2w` on `device` (everything a camera computes follows `c2w`)."""
        return self if self.c2w.device == torch.device(device) else \
            Camera(self.c2w.to(device), self.fx, self.fy, self.cx, self.cy, self.width, self.height)

    def scaled(self, width: int, height: int) -> "Camera":
        """The same view at another resolution (intrinsics scaled with the image)."""
        sx, sy = width / self.width, height / self.height
        return Camera(self.c2w, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)

    @staticmethod
    def from_fov(c2w: torch.Tensor, fov_y_deg: float, width: int, height: int) -> "Camera":
        """A camera with a vertical field of view in degrees and the principal point at the centre."""
        f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
        return Camera(c2w, f, f, width / 2, height / 2, width, height)


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> torch.Tensor:
    """OpenCV camera-to-world (4, 4, float64) at `eye` looking at `target`; `up` is world-up (image up)."""
    device = next((v.device for v in (eye, target, up) if torch.is_tensor(v)), torch.device("cpu"))
    eye, target, up = (torch.as_tensor(v, dtype=torch.float64, device=device) for v in (eye, target, up))
    z = target - eye
    z = z / z.norm()
    x = torch.linalg.cross(z, up)  # camera x (right) = forward × up … with y down below
    if x.norm() < 1e-9:
        raise ValueError("look_at: view direction is parallel to `up`")
    x = x / x.norm()
    y = torch.linalg.cross(z, x)  # y points down in the image
    c2w = torch.eye(4, dtype=torch.float64, device=device)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def orbit(target, radius: float, yaw_deg: float, pitch_deg: float) -> torch.Tensor:
    """Camera-to-world on a sphere about `target`. yaw 0, pitch 0 is in front of the face (+z) looking
    back at it; positive yaw moves the camera toward +x, positive pitch moves it up (+y)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    t = torch.as_tensor(target, dtype=torch.float64, device=target.device if torch.is_tensor(target) else "cpu")
    offset = torch.tensor([math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)],
                          dtype=torch.float64, device=t.device)
    return look_at(t + radius * offset, t)


def opencv_to_opengl(c2w: torch.Tensor) -> torch.Tensor:
    """Camera-to-world (…, 4, 4): OpenCV axes (y down, looks +z) → OpenGL axes (y up, looks −z)."""
    return c2w @ _FLIP_YZ.to(c2w)


def opengl_to_opencv(c2w: torch.Tensor) -> torch.Tensor:
    """Camera-to-world (…, 4, 4): OpenGL axes → OpenCV axes (the flip is its own inverse)."""
    return c2w @ _FLIP_YZ.to(c2w)


def opengl_view_projection(camera: Camera, near: float = 0.01, far: float = 10.0) -> torch.Tensor:
    """(4, 4) float64 OpenGL clip-from-world matrix for `camera`, such that a world point lands on the same
    pixel as `camera.project` (window x = u, window y = height − v) and depth maps [near, far] → [−1, 1]."""
    W, H = camera.width, camera.height
    proj = torch.tensor([[2 * camera.fx / W, 0.0, 1 - 2 * camera.cx / W, 0.0],
                         [0.0, 2 * camera.fy / H, 2 * camera.cy / H - 1, 0.0],
                         [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                         [0.0, 0.0, -1.0, 0.0]], dtype=torch.float64, device=camera.c2w.device)
    view = torch.linalg.inv(opencv_to_opengl(camera.c2w.double()))
    return proj @ view
