"""The one place that probes the optional nearest-triangle accelerators: fcpw, then point-cloud-utils.

- fcpw (a vectorised BVH, both cores): ~1.1 M queries/s on the built-in head; it returns the nearest
  triangle, and `closest_on_faces` computes the point and barycentrics on it in torch;
- point-cloud-utils (`pcu`, an AABB tree): ~0.7 M queries/s, with the point and barycentrics.
Each is imported lazily at first use (never at `import pav`) and the probe is cached; when neither
works, callers fall back to the exact pure-torch search and one warning names the fix. Nothing else
in pav.geometry imports them.
"""
from __future__ import annotations

import importlib
import warnings

import numpy as np

__all__ = ["closest_point_backend", "fcpw_nearest_faces", "pcu_closest", "pcu_nearest_faces", "warn_fallback_once"]

_probe: dict = {}
_fcpw_probe: dict = {}


def _load(probe: dict, module_name: str, needed: str):
    """The module `module_name` if it imports and has `needed`, else None; cached in `probe` with the reason
    it is unavailable in probe['reason'] (ImportError, or a broken binary wheel)."""
    if "module" not in probe:
        try:
            module = importlib.import_module(module_name)
            getattr(module, needed)
            probe["module"], probe["reason"] = module, None
        except Exception as e:
            probe["module"], probe["reason"] = None, f"{type(e).__name__}: {e}"
    return probe["module"]


def _fcpw():
    return _load(_fcpw_probe, "fcpw", "scene_3D")


def _pcu():
    return _load(_probe, "point_cloud_utils", "closest_points_on_mesh")


def available_backends() -> list[str]:
    """The nearest-triangle backends that work here, fastest first; always ends with 'torch'."""
    return [name for name, probe in (("fcpw", _fcpw), ("pcu", _pcu)) if probe() is not None] + ["torch"]


def closest_point_backend() -> tuple[str, str | None]:
    """(the fastest working backend, None), or ('torch', why the accelerators are unavailable)."""
    best = available_backends()[0]
    return (best, None) if best != "torch" else ("torch", f"fcpw: {_fcpw_probe['reason']}; pcu: {_probe['reason']}")


def warn_fallback_once() -> None:
    """Warn (once per process) that the exact pure-torch nearest-triangle search is in use."""
    if not _probe.get("warned"):
        _probe["warned"] = True
        warnings.warn("pav.geometry: no nearest-triangle accelerator (" + closest_point_backend()[1]
                      + "); using the exact but much slower pure-torch search. "
                      "Fix: pip install fcpw point-cloud-utils", RuntimeWarning, stacklevel=3)


def pcu_closest(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray):
    """(distance (N,) unsigned, face id (N,) int64, barycentrics (N, 3)) by point-cloud-utils' AABB tree,
    in float64."""
    pcu = _pcu()
    if pcu is None:
        raise RuntimeError(f"point-cloud-utils is unavailable: {_probe['reason']}")
    p = np.ascontiguousarray(points, dtype=np.float64)
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    distance, face_id, bary = pcu.closest_points_on_mesh(p, v, f)
    return np.asarray(distance), np.asarray(face_id, dtype=np.int64), np.asarray(bary)


def pcu_nearest_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the nearest triangle for each point, by point-cloud-utils' AABB tree (float64;
    exact ties aside, the same face a float64 brute force picks)."""
    return pcu_closest(points, vertices, faces)[1]


def fcpw_nearest_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Index (N,) int64 of the nearest triangle for each point, by fcpw's BVH (float32; exact ties and
    float32 rounding aside, the face a float64 brute force picks: the distance to it agrees to ~1e-7 m)."""
    fcpw = _fcpw()
    if fcpw is None:
        raise RuntimeError(f"fcpw is unavailable: {_fcpw_probe['reason']}")
    scene = fcpw.scene_3D()
    scene.set_object_count(1)
    scene.set_object_vertices(np.asfortranarray(vertices, dtype=np.float32), 0)
    scene.set_object_triangles(np.asfortranarray(faces, dtype=np.int32), 0)
    scene.build(fcpw.aggregate_type.bvh_surface_area, True)
    hits = fcpw.interaction_3D_list()
    scene.find_closest_points(np.asfortranarray(points, dtype=np.float32),
                              np.full(len(points), np.inf, dtype=np.float32), hits)
    return np.fromiter((h.primitive_index for h in hits), dtype=np.int64, count=len(points))
