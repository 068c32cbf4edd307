"""Canonicalization (DESIGN §1.2): deformed-space samples → canonical space through the nearest triangle.

Per triangle (a, b, c), the frame T = [b−a | c−a | n̂] (columns: the two edges and the UNIT normal
n̂ = cross(b−a, c−a)/|cross|). With T_d for the deformed and T_c for the canonical triangle, the
deformation gradient maps a sample x near deformed triangle f to

    x_c = T_c · T_d⁻¹ · (x − a_d) + a_c  =  L_f · x + t_f,    L_f = T_c T_d⁻¹,  t_f = a_c − L_f a_d,

so a point of the deformed triangle lands on the same barycentric point of the canonical triangle, and
an offset h·n̂_d along the normal lands at h·n̂_c (length and sign kept). Directions go through L_f and
are renormalised. T_d⁻¹ has a closed form (n̂ ⟂ both edges): rows (e2 × n̂)/|e1×e2|, (n̂ × e1)/|e1×e2|, n̂.

Degenerate triangles: |e1 × e2| is clamped to `eps` (m²) before dividing, so the maps stay finite; for
a deformed triangle of (near) zero area the in-plane part is then meaningless and a zero normal drops
the normal offset. A valid head mesh has no such triangles.

Reuse: `face_maps` computes the per-face (L, t) once per frame; pass them as `maps=` to canonicalize
many batches of samples of the same frame.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .closest import ClosestPoints, closest_points

__all__ = ["FaceMaps", "Canonicalized", "triangle_frames", "face_maps", "map_points", "map_directions",
           "canonicalize"]


class FaceMaps(NamedTuple):
    linear: torch.Tensor
    """(F, 3, 3) L_f = T_c T_d⁻¹."""
    offset: torch.Tensor
    """(F, 3) t_f = a_c − L_f a_d, so x_c = L_f x + t_f."""


class Canonicalized(NamedTuple):
    points: torch.Tensor
    """(N, 3) canonical positions."""
    directions: torch.Tensor | None
    """(N, 3) unit canonical directions, or None when no directions were given."""
    distance: torch.Tensor
    """(N,) signed distance to the deformed mesh (+ on the normal's side)."""
    face_id: torch.Tensor
    """(N,) int64 nearest triangle of the deformed mesh."""
    bary: torch.Tensor
    """(N, 3) barycentrics of the closest surface point (same for deformed and canonical triangle)."""


def _check_mesh(vertices: torch.Tensor, faces: torch.Tensor, name: str = "vertices") -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{name} must be (V, 3), got {tuple(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")


def _edges_normal(vertices, faces, eps):
    a, b, c = vertices[faces.long()].unbind(1)
    e1, e2 = b - a, c - a
    n = torch.linalg.cross(e1, e2)
    length = n.norm(dim=-1, keepdim=True).clamp_min(eps)
    return a, e1, e2, n / length, length


def triangle_frames(vertices: torch.Tensor, faces: torch.Tensor, eps: float = 1e-20) -> torch.Tensor:
    """(F, 3, 3) per-triangle frames T = [b−a | c−a | n̂] (as columns) of vertices (V, 3), faces (F, 3)."""
    _check_mesh(vertices, faces)
    _, e1, e2, n_hat, _ = _edges_normal(vertices, faces, eps)
    return torch.stack([e1, e2, n_hat], -1)


def face_maps(deformed_vertices: torch.Tensor, canonical_vertices: torch.Tensor, faces: torch.Tensor,
              eps: float = 1e-20) -> FaceMaps:
    """Per-face affine maps deformed → canonical (see module docstring). Both vertex sets (V, 3)."""
    _check_mesh(deformed_vertices, faces, "deformed_vertices")
    _check_mesh(canonical_vertices, faces, "canonical_vertices")
    if deformed_vertices.shape != canonical_vertices.shape:
        raise ValueError(f"deformed_vertices {tuple(deformed_vertices.shape)} and canonical_vertices "
                         f"{tuple(canonical_vertices.shape)} must have the same shape")
    a_d, e1, e2, n_d, length = _edges_normal(deformed_vertices, faces, eps)
    inv_d = torch.stack([torch.linalg.cross(e2, n_d) / length, torch.linalg.cross(n_d, e1) / length, n_d], 1)
    linear = triangle_frames(canonical_vertices, faces, eps) @ inv_d
    a_c = canonical_vertices[faces[:, 0].long()]
    return FaceMaps(linear, a_c - (linear @ a_d[..., None])[..., 0])


def map_points(maps: FaceMaps, points: torch.Tensor, face_id: torch.Tensor) -> torch.Tensor:
    """(N, 3) canonical positions L_f x + t_f of points (N, 3) with triangles face_id (N,)."""
    if points.ndim != 2 or points.shape[1] != 3 or face_id.shape != points.shape[:1]:
        raise ValueError(f"points must be (N, 3) and face_id (N,), got {tuple(points.shape)}, {tuple(face_id.shape)}")
    return (maps.linear[face_id] @ points[..., None])[..., 0] + maps.offset[face_id]


def map_directions(maps: FaceMaps, directions: torch.Tensor, face_id: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(N, 3) unit canonical directions L_f d / |L_f d| of directions (N, 3) with triangles face_id (N,)."""
    if directions.ndim != 2 or directions.shape[1] != 3 or face_id.shape != directions.shape[:1]:
        raise ValueError(f"directions must be (N, 3) and face_id (N,), got {tuple(directions.shape)}, "
                         f"{tuple(face_id.shape)}")
    d = (maps.linear[face_id] @ directions[..., None])[..., 0]
    return d / d.norm(dim=-1, keepdim=True).clamp_min(eps)


def canonicalize(points: torch.Tensor, deformed_vertices: torch.Tensor, canonical_vertices: torch.Tensor,
                 faces: torch.Tensor, directions: torch.Tensor | None = None, closest: ClosestPoints | None = None,
                 maps: FaceMaps | None = None, backend: str = "auto") -> Canonicalized:
    """Map samples points (N, 3) of deformed space (the frame's mesh deformed_vertices (V, 3)) to the
    canonical space (canonical_vertices (V, 3), same faces (F, 3)) through each sample's nearest
    triangle; optional view directions (N, 3) too. `closest` (from `closest_points` on the deformed
    mesh) and `maps` (from `face_maps`) skip recomputing them. Differentiable w.r.t. points, directions
    and both vertex sets, with the nearest triangle held fixed."""
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {tuple(points.shape)}")
    if directions is not None and directions.shape != points.shape:
        raise ValueError(f"directions must be {tuple(points.shape)} like points, got {tuple(directions.shape)}")
    if closest is None:
        closest = closest_points(points, deformed_vertices, faces, backend=backend)
    elif closest.face_id.shape != points.shape[:1]:
        raise ValueError(f"closest.face_id must be ({points.shape[0]},), got {tuple(closest.face_id.shape)}")
    if maps is None:
        maps = face_maps(deformed_vertices, canonical_vertices, faces)
    x_c = map_points(maps, points, closest.face_id)
    d_c = None if directions is None else map_directions(maps, directions, closest.face_id)
    return Canonicalized(x_c, d_c, closest.distance, closest.face_id, closest.bary)
