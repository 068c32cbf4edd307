"""Keyframe interpolation, channel by channel (numpy, float64). Used by pav.animation.

- `linear` and `catmull_rom` work on any "space" given by its `lerp(a, b, u)`: Euclidean values
  (`lerp`), unit quaternions (`slerp_quat`, rotations) and unit vectors (`slerp_unit`, directions on the
  sphere). Catmull-Rom is evaluated with the Barry-Goldman pyramid (three levels of lerps over the knot
  times), so on the sphere it is built from slerps only: it stays on the sphere and passes through every
  key. With evenly spaced keys it equals the classic Catmull-Rom (tangent (P₂ − P₀)/2).
- `monotone` is Steffen's (1990) monotone cubic Hermite for values: between two keys it never leaves
  their range (no overshoot), so weights stay ≥ 0 and a 0→1 expression never exceeds 1.
Every function takes the key values `values` (N, ...), the key times `times` (N,) strictly increasing, the
segment `i` (times[i] ≤ t ≤ times[i+1]) and the time `t`.
"""
from __future__ import annotations

import numpy as np


def lerp(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    return a + u * (b - a)


# ---- unit quaternions (w, x, y, z) and axis-angle -----------------------------------------------------
def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) quaternions, (w, x, y, z)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def quat_log(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions → (..., 3) half-angle rotation vectors (log map)."""
    v = q[..., 1:]
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = np.arctan2(n, q[..., :1])
    return np.where(n > 1e-12, v / np.maximum(n, 1e-300) * angle, v / np.maximum(q[..., :1], 1e-300))


def quat_exp(v: np.ndarray) -> np.ndarray:
    """(..., 3) half-angle rotation vectors → (..., 4) unit quaternions (exp map)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    s = np.where(n > 1e-12, np.sin(n) / np.maximum(n, 1e-300), 1.0 - n * n / 6)
    return np.concatenate([np.cos(n), s * v], -1)


def axis_angle_to_quat(r: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (radians) → (..., 4) unit quaternions with w ≥ 0."""
    return quat_exp(0.5 * np.asarray(r, np.float64))


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions → (..., 3) axis-angle with angle in [0, π]."""
    q = np.where(q[..., :1] < 0, -q, q)
    return 2.0 * quat_log(q / np.linalg.norm(q, axis=-1, keepdims=True))


def slerp_quat(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    """Spherical interpolation of (..., 4) unit quaternions along the shorter arc; u outside [0, 1]
    extrapolates along the same great circle (Catmull-Rom needs that)."""
    d = quat_mul(a * np.array([1, -1, -1, -1]), b)  # a⁻¹ b
    d = np.where(d[..., :1] < 0, -d, d)  # q and −q are the same rotation: take the short way
    return quat_mul(a, quat_exp(u * quat_log(d)))


def slerp_unit(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    """Spherical interpolation of (..., 3) unit vectors (extrapolates for u outside [0, 1])."""
    cos = np.clip(np.sum(a * b, -1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    small = sin < 1e-9
    safe = np.where(small, 1.0, sin)
    out = np.where(small, a + u * (b - a), (np.sin((1 - u) * omega) * a + np.sin(u * omega) * b) / safe)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


# ---- interpolants --------------------------------------------------------------------------------------
def linear(values, times, i: int, t: float, mix=lerp):
    t1, t2 = times[i], times[i + 1]
    return mix(values[i], values[i + 1], (t - t1) / (t2 - t1))


def catmull_rom(values, times, i: int, t: float, mix=lerp):
    """Catmull-Rom through the keys, knots = key times (Barry-Goldman). At the ends the missing
    neighbour is the end key itself, one segment-length away in time."""
    n = len(times)
    p1, p2, t1, t2 = values[i], values[i + 1], times[i], times[i + 1]
    p0, t0 = (values[i - 1], times[i - 1]) if i > 0 else (p1, t1 - (t2 - t1))
    p3, t3 = (values[i + 2], times[i + 2]) if i + 2 < n else (p2, t2 + (t2 - t1))
    a1 = mix(p0, p1, (t - t0) / (t1 - t0))
    a2 = mix(p1, p2, (t - t1) / (t2 - t1))
    a3 = mix(p2, p3, (t - t2) / (t3 - t2))
    b1 = mix(a1, a2, (t - t0) / (t2 - t0))
    b2 = mix(a2, a3, (t - t1) / (t3 - t1))
    return mix(b1, b2, (t - t1) / (t2 - t1))


def _steffen_slope(values, times, k: int) -> np.ndarray:
    """Steffen's monotone slope at key k (elementwise over the value's components)."""
    n = len(times)
    if n < 2:
        return np.zeros_like(values[0])
    if k == 0 or k == n - 1:  # one-sided: the secant of the end segment (keeps 0 ≤ slope/secant ≤ 3)
        j = 0 if k == 0 else n - 2
        return (values[j + 1] - values[j]) / (times[j + 1] - times[j])
    h0, h1 = times[k] - times[k - 1], times[k + 1] - times[k]
    s0, s1 = (values[k] - values[k - 1]) / h0, (values[k + 1] - values[k]) / h1
    p = (s0 * h1 + s1 * h0) / (h0 + h1)
    return (np.sign(s0) + np.sign(s1)) * np.minimum(np.minimum(np.abs(s0), np.abs(s1)), 0.5 * np.abs(p))


def monotone(values, times, i: int, t: float, mix=None):
    """Steffen's monotone cubic Hermite: within [times[i], times[i+1]] the value stays between
    values[i] and values[i+1] (for each component)."""
    h = times[i + 1] - times[i]
    s = (t - times[i]) / h
    m0, m1 = _steffen_slope(values, times, i), _steffen_slope(values, times, i + 1)
    y0, y1 = values[i], values[i + 1]
    h00, h10, h01, h11 = 2 * s ** 3 - 3 * s ** 2 + 1, s ** 3 - 2 * s ** 2 + s, -2 * s ** 3 + 3 * s ** 2, s ** 3 - s ** 2
    return h00 * y0 + h10 * h * m0 + h01 * y1 + h11 * h * m1


INTERPOLANTS = {"linear": linear, "catmull-rom": catmull_rom, "monotone": monotone}
