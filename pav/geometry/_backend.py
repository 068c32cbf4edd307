"""The nearest-triangle accelerators, one function each; which one runs is decided in `pav.backends`.

- fcpw (a vectorised BVH, CPU, float32): the nearest triangle;
- warp-lang (`_warp.py`: a BVH on CUDA or on the CPU, float32): the nearest triangle;
- point-cloud-utils (`pcu`, an AABB tree, CPU, float64): the nearest triangle.
Each module is imported at first use only (never at `import pav`). The closest point, barycentrics and
signed distance on the chosen triangle are then computed in torch by `closest.closest_on_faces`.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import backends

__all__ = ["fcpw_nearest_faces", "pcu_nearest_faces", "warp_nearest_faces"]


def pcu_nearest_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the nearest triangle for each point, by point-cloud-utils' AABB tree (float64;
    exact ties aside, the same face a float64 brute force picks)."""
    pcu = backends.nearest_module("pcu")
    p = np.ascontiguousarray(points, dtype=np.float64)
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    return np.asarray(pcu.closest_points_on_mesh(p, v, f)[1], dtype=np.int64)


def fcpw_nearest_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the nearest triangle for each point, by fcpw's BVH (float32; exact ties and
    float32 rounding aside, the face a float64 brute force picks: the distance to it agrees to ~1e-7 m)."""
    fcpw = backends.nearest_module("fcpw")
    scene = fcpw.scene_3D()
    scene.set_object_count(1)
    scene.set_object_vertices(np.asfortranarray(vertices, dtype=np.float32), 0)
    scene.set_object_triangles(np.asfortranarray(faces, dtype=np.int32), 0)
    scene.build(fcpw.aggregate_type.bvh_surface_area, True)
    hits = fcpw.interaction_3D_list()
    scene.find_closest_points(np.asfortranarray(points, dtype=np.float32),
                              np.full(len(points), np.inf, dtype=np.float32), hits)
    return np.fromiter((h.primitive_index for h in hits), dtype=np.int64, count=len(points))


def warp_nearest_faces(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Index (N,) int64 of the nearest triangle, by warp-lang's BVH on the points' device (float32);
    −1 where warp found none (it skips near-degenerate triangles)."""
    backends.nearest_module("warp")
    from ._warp import nearest_faces_warp

    return nearest_faces_warp(points, vertices, faces)
