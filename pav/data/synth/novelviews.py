"""Novel viewpoints with ground truth: a test frame's camera rotated about the head centre.

For a test frame with camera-to-world C = [Rc | p] and head centre c (the centre of the posed bare head's
bounding box), the view (yaw θ, pitch φ) has the camera

    R = Ry(θ) · Rot(−x_cam, φ),    C' = [R·Rc | p + (R − I)(p − c)]   (= c + R(p − c))

Ry(θ) turns about the world up axis (+y; positive θ moves the camera toward +x, as `pav.camera.orbit`);
Rot(−x_cam, φ) turns about the test camera's horizontal axis (positive φ moves the camera up). The head centre
keeps its camera coordinates, so it stays on the same pixel at the same depth. At θ = φ = 0, R is exactly
the identity and C' equals C bit for bit.
"""
from __future__ import annotations

import math

import numpy as np


def view_angles(yaws, pitches) -> list[tuple[float, float]]:
    """The (yaw, pitch) views in degrees: every yaw at pitch 0, then every pitch at yaw 0 (duplicates once)."""
    out: list[tuple[float, float]] = []
    for view in [(float(y), 0.0) for y in yaws] + [(0.0, float(p)) for p in pitches]:
        if view not in out:
            out.append(view)
    return out


def axis_rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """(3, 3) float64 right-handed rotation by `degrees` about the unit `axis` (Rodrigues' formula)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    K = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    t = math.radians(degrees)
    return np.eye(3) + math.sin(t) * K + (1.0 - math.cos(t)) * (K @ K)


def view_rotation(c2w: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """(3, 3) the world rotation R = Ry(yaw) · Rot(−x_cam, pitch) of the view; c2w (4, 4) the test camera."""
    return axis_rotation(np.array([0.0, 1.0, 0.0]), yaw) @ axis_rotation(-np.asarray(c2w)[:3, 0], pitch)


def rotate_camera(c2w: np.ndarray, center: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """(4, 4) float64 camera-to-world of the test camera `c2w` rotated about `center` (3,) by the view."""
    c2w = np.asarray(c2w, dtype=np.float64)
    R = view_rotation(c2w, yaw, pitch)
    out = c2w.copy()
    out[:3, :3] = R @ c2w[:3, :3]
    p = c2w[:3, 3]
    out[:3, 3] = p + (R - np.eye(3)) @ (p - np.asarray(center, dtype=np.float64))
    return out


def head_center(vertices) -> np.ndarray:
    """(3,) float64 centre of the bounding box of the posed bare-head vertices (V, 3)."""
    v = np.asarray(vertices, dtype=np.float64)
    return (v.min(0) + v.max(0)) / 2


def pick_test_frames(test_indices: list[int], n: int) -> list[int]:
    """At most `n` of the test frame indices, evenly spread (first and last included when n ≥ 2)."""
    if n <= 0 or not test_indices:
        return []
    if n >= len(test_indices):
        return list(test_indices)
    if n == 1:
        return [test_indices[len(test_indices) // 2]]
    return [test_indices[round(k * (len(test_indices) - 1) / (n - 1))] for k in range(n)]
