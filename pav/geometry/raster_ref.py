"""The plain reference twin of `raster.rasterize`: float64 numpy, one triangle at a time, every pixel.

Independent formulation: for each triangle, intersect the ray through every pixel centre with the
triangle in camera space (Möller–Trumbore: solve o + t·r = a + β(b−a) + γ(c−a) by Cramer's rule), keep
the hit when β ≥ 0, γ ≥ 0, β + γ ≤ 1, and the nearest camera z wins (strictly nearer, so ties keep the
lower face id). The barycentrics of the 3D hit point are the perspective-correct ones by construction.
Same conventions as `raster.py`. Slow (F × H × W work): for tests on small meshes and images.
"""
from __future__ import annotations

import numpy as np
import torch

from ..camera import Camera
from .raster import Rasterized

__all__ = ["rasterize_reference"]


def rasterize_reference(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, width: int | None = None,
                        height: int | None = None, cull_backfaces: bool = False,
                        near: float = 1e-6) -> Rasterized:
    """Same contract as `pav.geometry.rasterize` (vertices (V, 3), faces (F, 3)) → Rasterized (H, W)."""
    if width is not None or height is not None:
        camera = camera.scaled(width or camera.width, height or camera.height)
    W, H = camera.width, camera.height
    w2c = np.linalg.inv(camera.c2w.double().numpy())
    v = vertices.detach().double().numpy() @ w2c[:3, :3].T + w2c[:3, 3]  # camera space
    f = faces.long().numpy()

    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    rays = np.stack([(jj - camera.cx) / camera.fx, (ii - camera.cy) / camera.fy, np.ones_like(jj)], -1)
    face_id = np.full((H, W), -1, dtype=np.int64)
    bary = np.zeros((H, W, 3))
    depth = np.full((H, W), np.inf)

    for k, (ia, ib, ic) in enumerate(f):
        a, b, c = v[ia], v[ib], v[ic]
        if min(a[2], b[2], c[2]) <= near:
            continue
        e1, e2 = b - a, c - a
        if cull_backfaces and np.dot(np.cross(e1, e2), a) >= 0:  # normal points away from the camera
            continue
        pvec = np.cross(rays, e2)
        det = pvec @ e1
        if np.all(det == 0):
            continue  # edge-on: the triangle projects to a segment
        with np.errstate(divide="ignore", invalid="ignore"):
            tvec = -a  # ray origin (the camera centre, 0) minus a
            beta = (pvec @ tvec) / det
            qvec = np.cross(tvec, e1)
            gamma = (rays @ qvec) / det
            t = (e2 @ qvec) / det  # ray parameter; rays have z = 1, so t is the camera z
        hit = (det != 0) & (beta >= 0) & (gamma >= 0) & (beta + gamma <= 1) & (t < depth)
        depth[hit] = t[hit]
        face_id[hit] = k
        bary[hit] = np.stack([1 - beta[hit] - gamma[hit], beta[hit], gamma[hit]], -1)

    dtype = vertices.dtype if vertices.is_floating_point() else torch.float32
    return Rasterized(torch.from_numpy(face_id), torch.from_numpy(bary).to(dtype), torch.from_numpy(depth).to(dtype))
