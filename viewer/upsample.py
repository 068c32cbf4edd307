"""The display's resampling, as plain numpy: the twin of shaders/display.frag (tests compare the two).

Two things happen between the rendered picture and the screen:
- **Upsampling.** The preview is 128² and the view ~600 px. Bilinear blurs edges. The edge-aware filter is
  Catmull-Rom bicubic (4×4 texels, sharper than bilinear) whose result is clamped to the range of the 2×2
  texels around the sample: at an edge the bicubic lobes would overshoot (dark/bright halos); the clamp
  keeps them inside the local range, smooth areas keep the bicubic's detail (the deringing of AMD's FSR 1).
- **Reprojection.** A render takes 0.1-3 s; the camera moves meanwhile. The last picture is warped to the
  current camera with the homography of one plane (through the orbit target, facing the camera that
  rendered it; a head is ~0.2 m deep at ~0.7 m), so what the user drags follows the mouse at UI rate.

Coordinates: image pixels as pav.camera (pixel (i, j) covers [j, j+1) × [i, i+1), centres at +0.5).
"""
from __future__ import annotations

import numpy as np

from pav.camera import Camera


def catmull_rom_weights(t: np.ndarray) -> np.ndarray:
    """(..., 4) weights of texels −1, 0, +1, +2 for a sample at fraction t (...,) ∈ [0, 1) past texel 0."""
    t2, t3 = t * t, t * t * t
    return np.stack([-0.5 * t3 + t2 - 0.5 * t, 1.5 * t3 - 2.5 * t2 + 1.0, -1.5 * t3 + 2.0 * t2 + 0.5 * t,
                     0.5 * t3 - 0.5 * t2], -1)


def _texels(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)]


def sample(image: np.ndarray, x: np.ndarray, y: np.ndarray, edge_aware: bool = True) -> np.ndarray:
    """image (h, w, C) float at continuous pixel positions x, y (...,) → (..., C); edges clamped.
    edge_aware: clamped Catmull-Rom, else bilinear."""
    fx, fy = x - 0.5, y - 0.5  # texel-index space: texel j's centre at j
    bx, by = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx, ty = fx - bx, fy - by
    near = [_texels(image, by + dy, bx + dx) for dy in (0, 1) for dx in (0, 1)]  # 4 × (..., C)
    if not edge_aware:
        wx, wy = tx[..., None], ty[..., None]
        return (near[0] * (1 - wx) + near[1] * wx) * (1 - wy) + (near[2] * (1 - wx) + near[3] * wx) * wy
    wx, wy = catmull_rom_weights(tx), catmull_rom_weights(ty)
    out = 0.0
    for j in range(4):
        row = sum(wx[..., i, None] * _texels(image, by + j - 1, bx + i - 1) for i in range(4))
        out = out + wy[..., j, None] * row
    lo, hi = np.minimum.reduce(near), np.maximum.reduce(near)
    return np.clip(out, lo, hi)


def resample(image: np.ndarray, out_w: int, out_h: int, reprojection: np.ndarray | None = None,
             edge_aware: bool = True) -> np.ndarray:
    """The picture the display shader draws into an out_w × out_h viewport: image (h, w, C) uint8 or float,
    each output pixel centre mapped into the image's pixel frame (scaled; then through `reprojection`
    (3, 3), destination image pixels → source image pixels, when given) and sampled. Returns float (out_h,
    out_w, C) in the image's units. Behind the plane's horizon (w ≤ 0) the top-left texel is shown."""
    img = np.asarray(image, np.float64)
    h, w = img.shape[:2]
    jj, ii = np.meshgrid(np.arange(out_w), np.arange(out_h))
    x, y = (jj + 0.5) * w / out_w, (ii + 0.5) * h / out_h
    behind = np.zeros(x.shape, bool)
    if reprojection is not None:
        H = np.asarray(reprojection, np.float64)
        p = np.stack([x, y, np.ones_like(x)], -1) @ H.T
        behind = p[..., 2] <= 1e-6
        z = np.where(behind, 1.0, p[..., 2])
        x, y = p[..., 0] / z, p[..., 1] / z
    out = sample(img, x, y, edge_aware)
    out[behind] = img[0, 0]
    return out


MAX_REPROJECT_DEG = 45.0
"""beyond this angle between the two cameras' axes the plane says little about the picture: shown as rendered."""


def reprojection_or_none(source: Camera, target: Camera, focus_distance: float,
                         max_deg: float = MAX_REPROJECT_DEG) -> np.ndarray | None:
    """`reprojection_homography`, or None when the new camera looks more than `max_deg` away from the one that
    rendered the picture, or sits on or past the focus plane (the plane would be seen from behind: a blank
    view until the next picture, which is worse than the stale picture)."""
    ns, nt = source.c2w[:3, 2].double().cpu().numpy(), target.c2w[:3, 2].double().cpu().numpy()
    cs, ct = source.c2w[:3, 3].double().cpu().numpy(), target.c2w[:3, 3].double().cpu().numpy()
    if float(ns @ nt) < np.cos(np.radians(max_deg)) or float(ns @ (cs + focus_distance * ns - ct)) <= 1e-6:
        return None
    return reprojection_homography(source, target, focus_distance)


def reprojection_homography(source: Camera, target: Camera, focus_distance: float) -> np.ndarray:
    """(3, 3) homography from `target` camera pixels to `source` camera pixels for points on the plane that
    faces `source` at `focus_distance` metres along its axis (the orbit target when it rendered).
    H = K_s R_sᵀ (I + (C_t − C_s) nᵀ / (n · (o − C_t))) R_t K_t⁻¹, n the source axis, o the plane's point."""
    Ks, Kt = source.K.numpy(), target.K.numpy()
    cs, ct = source.c2w.double().cpu().numpy(), target.c2w.double().cpu().numpy()
    Rs, Cs, Rt, Ct = cs[:3, :3], cs[:3, 3], ct[:3, :3], ct[:3, 3]
    n = Rs[:, 2]
    o = Cs + focus_distance * n
    a = float(n @ (o - Ct))
    if abs(a) < 1e-9:  # the new camera sits on the plane: nothing sensible to show, keep the picture
        return np.diag([source.width / target.width, source.height / target.height, 1.0])
    H = Ks @ Rs.T @ (np.eye(3) + np.outer(Ct - Cs, n) / a) @ Rt @ np.linalg.inv(Kt)
    return H / H[2, 2] if abs(H[2, 2]) > 1e-12 else H


class ReprojectionCache:
    """The app's per-frame question, answered once per change: (3, 3) current-camera pixels → pixels of the
    frame on screen, or None (show it as rendered). frame: a scheduler Frame; orbit: the current OrbitCamera."""

    def __init__(self):
        self._key, self._matrix = None, None

    def __call__(self, frame, orbit) -> np.ndarray | None:
        if frame is None or frame.camera is None or frame.focus_distance is None:
            return None
        key = (id(frame), orbit.yaw_deg, orbit.pitch_deg, orbit.radius, orbit.fov_deg,
               *np.asarray(orbit.target).tolist())
        if key != self._key:
            self._key = key
            self._matrix = reprojection_or_none(frame.camera, orbit.camera(frame.width, frame.height),
                                                frame.focus_distance)
        return self._matrix
