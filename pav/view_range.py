"""The range of view directions an avatar was trained on: yaw and pitch of the camera relative to the
head (the orbit convention of pav.animation.OrbitView: yaw 0 / pitch 0 in front of the face, + yaw toward
the head's +x, + pitch up). Written into the checkpoint's info at training time; the viewer warns when
the camera leaves it (monocular avatars fall apart beyond ~45° of yaw).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .interpolate import axis_angle_to_quat, quat_mul


def view_angles(camera_centres: np.ndarray, head_centres: np.ndarray, head_rotations: np.ndarray) -> np.ndarray:
    """(N, 2) yaw, pitch in degrees of each camera seen from its head: camera_centres (N, 3) and
    head_centres (N, 3) in world space, head_rotations (N, 3) the head's global axis-angle."""
    d = np.asarray(camera_centres, np.float64) - np.asarray(head_centres, np.float64)
    q = axis_angle_to_quat(np.asarray(head_rotations, np.float64))
    q_inv = q * np.array([1.0, -1.0, -1.0, -1.0])
    v = np.concatenate([np.zeros((len(d), 1)), d], 1)
    local = quat_mul(quat_mul(q_inv, v), q)[:, 1:]  # R⁻¹ d
    yaw = np.degrees(np.arctan2(local[:, 0], local[:, 2]))
    pitch = np.degrees(np.arctan2(local[:, 1], np.hypot(local[:, 0], local[:, 2])))
    return np.stack([yaw, pitch], 1)


def trained_view_range(avatar, data) -> dict:
    """{"yaw_deg": [lo, hi], "pitch_deg": [lo, hi]} over the training frames (a pav.data FrameBatch)."""
    heads = []
    with torch.no_grad():
        for start in range(0, len(data.expression), 64):
            s = slice(start, start + 64)
            v = avatar.deform(data.expression[s], data.pose[s], data.translation[s])
            heads.append(((v.min(1).values + v.max(1).values) / 2).double().numpy())
    names = avatar.head.joint_names
    rot = data.pose[:, names.index("global")] if "global" in names else torch.zeros(len(data.pose), 3)
    angles = view_angles(data.c2w[:, :3, 3].double().numpy(), np.concatenate(heads), rot.double().numpy())
    return {"yaw_deg": [round(float(angles[:, 0].min()), 2), round(float(angles[:, 0].max()), 2)],
            "pitch_deg": [round(float(angles[:, 1].min()), 2), round(float(angles[:, 1].max()), 2)]}


def outside(yaw: float, pitch: float, view_range: dict | None, margin_deg: float = 5.0) -> bool:
    """Is the view (degrees) outside the trained range (by more than `margin_deg`)? False when unknown."""
    if not view_range:
        return False
    (ylo, yhi), (plo, phi) = view_range["yaw_deg"], view_range["pitch_deg"]
    return not (ylo - margin_deg <= yaw <= yhi + margin_deg and plo - margin_deg <= pitch <= phi + margin_deg)


def into_range(yaw: float, pitch: float, view_range: dict) -> tuple[float, float]:
    """The nearest view (yaw, pitch degrees) inside the trained range."""
    (ylo, yhi), (plo, phi) = view_range["yaw_deg"], view_range["pitch_deg"]
    return min(max(yaw, ylo), yhi), min(max(pitch, plo), phi)


def describe(view_range: dict | None) -> str:
    if not view_range:
        return "trained view range: unknown (older checkpoint)"
    (ylo, yhi), (plo, phi) = view_range["yaw_deg"], view_range["pitch_deg"]
    # "to", not an ellipsis: the viewer's imgui font has no glyph for it
    return f"trained views: yaw {ylo:.0f} to {yhi:.0f}°, pitch {plo:.0f} to {phi:.0f}°"



def world_angles(yaw: float, pitch: float, head_rotation: np.ndarray) -> tuple[float, float]:
    """Inverse of `view_angles` for one view: head-relative (yaw, pitch) degrees → the orbit camera's
    world (yaw, pitch) for a head turned by `head_rotation` (3,) axis-angle."""
    y, p = math.radians(yaw), math.radians(pitch)
    local = np.array([0.0, math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])
    q = axis_angle_to_quat(np.asarray(head_rotation, np.float64))
    d = quat_mul(quat_mul(q, local), q * np.array([1.0, -1.0, -1.0, -1.0]))[1:]
    return math.degrees(math.atan2(d[0], d[2])), math.degrees(math.atan2(d[1], math.hypot(d[0], d[2])))
