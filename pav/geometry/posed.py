"""One posed mesh, prepared once for many queries: its face maps and its nearest-triangle search structure.

A render asks the same posed mesh for the nearest triangle of every sample of every chunk of rays, and an
orbit (only the camera moves) asks it again for every frame. `pose_mesh` does the per-mesh work once: the
deformed → canonical face maps, and, with warp-lang, the BVH. `PosedMesh.closest_in_shell` then answers
only what the renderer needs: for samples farther than `radius` from the surface it answers "outside"
(face −1) without finding their nearest triangle.

Exact by construction (docs/performance.md): a BVH query within a radius r returns the nearest triangle
whenever that triangle is closer than r. The radius is the shell's, shrunk along each ray to the distance
to the previous sample's closest point: that point lies on the surface, so the nearest one can be no
farther. `closest_in_shell_reference` is the plain twin (every sample's nearest triangle by the backend
of `closest_points`, then the radius cut); tests/test_fast_paths.py holds the two against brute force.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .. import backends
from .canonical import FaceMaps, face_maps
from .closest import WARP_SLIVER, closest_points

__all__ = ["ShellHits", "PosedMesh", "pose_mesh", "closest_in_shell_reference"]


class ShellHits(NamedTuple):
    face_id: torch.Tensor
    """(N,) int64 nearest triangle; −1 where no surface point is closer than the radius."""
    bary: torch.Tensor
    """(N, 3) barycentrics of the closest point (a, b, c order); zeros where face_id is −1."""
    distance: torch.Tensor
    """(N,) signed distance (+ on the side cross(b−a, c−a) points to); ≥ radius in magnitude where −1."""


def closest_in_shell_reference(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, radius: float,
                               backend: str = "auto") -> ShellHits:
    """The plain twin: `closest_points` for every one of points (N, 3), then face −1 where |distance| ≥ radius."""
    cp = closest_points(points, vertices, faces, backend=backend)
    outside = ~(cp.distance.abs() < radius)
    return ShellHits(cp.face_id.masked_fill(outside, -1), cp.bary.masked_fill(outside[:, None], 0.0), cp.distance)


def _warp_can_answer(vertices: torch.Tensor, faces: torch.Tensor) -> bool:
    """warp's answer is exact for this mesh: finite vertices and no triangle thin enough for warp to skip."""
    if not bool(torch.isfinite(vertices).all()):
        return False
    tri = vertices.detach()[faces.long()]
    e0, e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], tri[:, 2] - tri[:, 1]
    ratio = torch.linalg.cross(e0, e1).norm(dim=-1) / ((e0 * e0).sum(-1) + (e1 * e1).sum(-1) + (e2 * e2).sum(-1))
    return not bool((ratio.isnan() | (ratio < 2 * WARP_SLIVER)).any())


class PosedMesh:
    """A frame's deformed mesh with what every query of it shares (see the module docstring)."""

    def __init__(self, vertices: torch.Tensor, canonical_vertices: torch.Tensor, faces: torch.Tensor,
                 backend: str = "auto"):
        self.vertices = vertices.detach()
        self.faces = faces
        self.maps: FaceMaps = face_maps(self.vertices, canonical_vertices, faces)
        self.backend = backend
        self._warp = None
        chosen = backends.nearest_backend(vertices.device, None if backend == "auto" else backend).name
        if chosen == "warp" and _warp_can_answer(self.vertices, faces):
            from ._warp import WarpMesh

            self._warp = WarpMesh(self.vertices, faces)

    def closest_in_shell(self, points: torch.Tensor, radius: float) -> ShellHits:
        """points (R, K, 3): K samples along each of R rays, in order along the ray → `ShellHits` (R·K,)."""
        if points.ndim != 3 or points.shape[2] != 3:
            raise ValueError(f"points must be (R, K, 3), got {tuple(points.shape)}")
        if self._warp is None:
            return closest_in_shell_reference(points.reshape(-1, 3), self.vertices, self.faces, radius, self.backend)
        face, bary, distance = self._warp.closest_along_rays(points, radius, threads=torch.get_num_threads())
        return ShellHits(face.long(), bary.to(points.dtype), distance.to(points.dtype))


def pose_mesh(vertices: torch.Tensor, canonical_vertices: torch.Tensor, faces: torch.Tensor,
              backend: str = "auto") -> PosedMesh:
    """Prepare the deformed mesh vertices (V, 3) (canonical_vertices (V, 3), faces (F, 3)) for queries."""
    return PosedMesh(vertices, canonical_vertices, faces, backend)
