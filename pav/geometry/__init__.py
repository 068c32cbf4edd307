"""Mesh geometry in pure torch: rasterization, closest points, canonicalization (DESIGN §1.2).

- `rasterize` → `Rasterized` (face id, perspective-correct barycentrics, depth per pixel) and
  `interpolate` (differentiable w.r.t. attributes and vertex positions);
- `closest_points` → `ClosestPoints` (nearest triangle, closest point, barycentrics, signed distance);
- `canonicalize` → `Canonicalized` (deformed-space samples to canonical space by per-triangle
  deformation gradients), built from `triangle_frames` / `face_maps` / `map_points` / `map_directions`.
Conventions and measured speeds: docs/geometry.md. The nearest-triangle accelerators run in `_backend.py` /
`_warp.py`; which one runs (per device, with the reason) is decided in `pav/backends.py`.
"""
from .canonical import (Canonicalized, FaceMaps, canonicalize, face_maps, map_directions, map_points,
                        triangle_frames)
from .closest import ClosestPoints, closest_on_faces, closest_points, closest_points_fast, nearest_faces
from .meshes import head_like_mesh, icosphere
from .raster import Rasterized, interpolate, pixel_barycentrics, project, rasterize

__all__ = ["Canonicalized", "ClosestPoints", "FaceMaps", "Rasterized", "canonicalize", "closest_on_faces",
           "closest_points", "closest_points_fast", "face_maps", "head_like_mesh", "icosphere", "interpolate", "map_directions",
           "map_points", "nearest_faces", "pixel_barycentrics", "project", "rasterize", "triangle_frames"]
