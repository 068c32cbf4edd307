"""Mesh-guided ray sampling: samples only where the shell around the frame's head mesh is.

Density may exist only within `shell_out` in front of the tracked surface (hair, beards) and `shell_in`
behind it (DESIGN §1.2). So per pixel:
- rasterize the mesh inflated by `shell_out` along its vertex normals → where the ray enters the shell
  (`near`), and which rays can see anything at all (`hit`). `shell_out` may be one distance or one per
  vertex: a trained avatar knows how far its density actually extends above each vertex (hair above the
  scalp, almost nothing above bare skin; `pav.train.occupancy.vertex_extents`), which makes the
  intervals, and so the work per ray, several times shorter;
- rasterize the bare mesh → the surface depth; the ray ends `shell_in` behind it (`far`); rays that only
  graze the shell (silhouette hair) end `max_chord` after entering it.
Distances are along the unit ray direction (t), converted from camera z by t = z / (d · forward).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..camera import Camera
from ..geometry import rasterize
from ..geometry.normals import vertex_normals


class RayIntervals(NamedTuple):
    near: torch.Tensor
    """(H, W) ray distance where the shell starts; +inf where the ray misses it."""
    far: torch.Tensor
    """(H, W) ray distance where sampling stops; +inf where the ray misses the shell."""
    hit: torch.Tensor
    """(H, W) bool: the ray enters the shell."""
    surface_depth: torch.Tensor
    """(H, W) camera z of the bare mesh (+inf on background): the reference for the depth loss."""
    surface_face: torch.Tensor
    """(H, W) int64 visible face of the bare mesh (−1 on background)."""


def ray_intervals(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, shell_out: float | torch.Tensor,
                  shell_in: float, max_chord: float) -> RayIntervals:
    """vertices (V, 3) of the frame's deformed mesh, faces (F, 3), shell_out a distance or (V,) per-vertex
    distances → per-pixel sampling intervals."""
    with torch.no_grad():
        offset = shell_out[:, None] if torch.is_tensor(shell_out) else shell_out
        inflated = vertices + offset * vertex_normals(vertices, faces)
        outer = rasterize(inflated, faces, camera)
        bare = rasterize(vertices, faces, camera)
        _, dirs = camera.rays(vertices.dtype)
        cos = dirs @ camera.c2w[:3, 2].to(vertices.dtype)  # (H, W): d · forward
        hit = outer.face_id >= 0
        near = torch.where(hit, outer.depth / cos, torch.full_like(cos, float("inf")))
        surface_t = bare.depth / cos
        far = torch.where(bare.face_id >= 0, surface_t + shell_in, near + max_chord)
        far = torch.where(hit, torch.maximum(far, near + 1e-4), near)
    return RayIntervals(near, far, hit, bare.depth, bare.face_id)


class RaySamples(NamedTuple):
    t: torch.Tensor
    """(R, K) sample distances along the rays, increasing."""
    dt: torch.Tensor
    """(R, K) sample lengths for compositing."""


def stratified_samples(near: torch.Tensor, far: torch.Tensor, n_samples: int,
                       generator: torch.Generator | None = None, jitter: bool = True) -> RaySamples:
    """K samples per ray in [near, far] (R,): one per equal bin, uniformly jittered inside its bin when
    `jitter` (training), at bin centres otherwise (rendering)."""
    R = near.shape[0]
    step = (far - near) / n_samples  # (R,)
    like = {"dtype": near.dtype, "device": near.device}
    bins = torch.arange(n_samples, **like)
    offset = torch.rand(R, n_samples, generator=generator, **like) if jitter else torch.full((R, n_samples), 0.5, **like)
    t = near[:, None] + (bins + offset) * step[:, None]
    return RaySamples(t, step[:, None].expand(R, n_samples))
