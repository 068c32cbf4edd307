"""Bake the canonical head surface into the UV atlas: for every texel, the 3D point, normal and face
region it shows. Procedural textures are then painted per texel from 3D positions (brows above the eyes,
irises around each eye's axis) and UV-space noise, and looked up at render time through the per-corner
UVs — the same atlas the avatar's latent textures live in.

The atlas is rasterized with the geometry rasterizer itself: each UV triangle becomes a flat triangle at
depth 1 in front of an identity camera with fx = fy = size and cx = cy = 0, so texel (row i, column j)
is sampled at u = (j + 0.5)/size, v = 1 − (i + 0.5)/size (OBJ convention, v up; row 0 is v = 1).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ...camera import Camera


class UVBake(NamedTuple):
    position: np.ndarray
    """(T, T, 3) canonical surface point of each texel (texels outside every UV triangle: nearest inside)."""
    normal: np.ndarray
    """(T, T, 3) unit surface normal, same filling."""
    inside: np.ndarray
    """(T, T) bool, the texel centre lies in a UV triangle."""
    regions: dict
    """name → (T, T) bool: the texel's triangle belongs to the head model's region `name`."""
    fill_index: np.ndarray
    """(T, T) int64 flat index of the inside texel whose values each texel takes."""

    def evaluate(self, fn) -> np.ndarray:
        """(T, T) values of fn(points (N, 3)) → (N,), evaluated at the inside texels only, then filled."""
        flat = np.zeros(self.inside.size)
        inside = self.inside.ravel()
        flat[inside] = fn(self.position.reshape(-1, 3)[inside].astype(np.float64))
        return flat[self.fill_index]


def bake_uv(model, vertices: torch.Tensor, size: int) -> UVBake:
    """vertices (V, 3): the canonical (shaped, neutral) head; size: texture side T."""
    from scipy.ndimage import distance_transform_edt

    from ...geometry import interpolate, rasterize
    from ...geometry.normals import vertex_normals

    uv = model.uv.double()
    flat = torch.stack([uv[:, 0], 1.0 - uv[:, 1], torch.ones_like(uv[:, 0])], -1)
    camera = Camera(torch.eye(4, dtype=torch.float64), float(size), float(size), 0.0, 0.0, size, size)
    raster = rasterize(flat, model.faces_uv, camera)
    faces = model.faces
    vertices = vertices.double()
    position = interpolate(vertices[faces], raster)  # per-corner attributes (F, 3, 3)
    normal = interpolate(vertex_normals(vertices, faces)[faces], raster)
    inside = (raster.face_id >= 0).numpy()
    # every texel takes the values of its nearest inside texel, so bilinear lookups never see a hole
    _, (ii, jj) = distance_transform_edt(~inside, return_indices=True)
    fid = raster.face_id.numpy()[ii, jj]
    position = position.numpy()[ii, jj]
    normal = normal.numpy()[ii, jj]
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True).clip(1e-12)
    regions = {name: mask.numpy()[fid] & (fid >= 0) for name, mask in model.regions.items()}
    return UVBake(position.astype(np.float32), normal.astype(np.float32), inside, regions, ii * size + jj)
