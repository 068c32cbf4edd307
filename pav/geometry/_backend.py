"""The one place that probes the optional closest-point accelerator, point-cloud-utils (`pcu`).

Imported lazily at first use (never at `import pav`). The probe result is cached; when the library is
missing, callers fall back to the exact pure-torch search and one warning names the fix. The project's
global `pav/backends.py` may absorb this module later; nothing else in pav.geometry imports `pcu`.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["closest_point_backend", "pcu_closest", "pcu_nearest_faces", "warn_fallback_once"]

_probe: dict = {}


def _pcu():
    """The `point_cloud_utils` module, or None (cached, with the reason in `_probe['reason']`)."""
    if "module" not in _probe:
        try:
            import point_cloud_utils as pcu
            pcu.closest_points_on_mesh  # noqa: B018 - the function we rely on must exist
            _probe["module"], _probe["reason"] = pcu, None
        except Exception as e:  # ImportError, or a broken binary wheel
            _probe["module"], _probe["reason"] = None, f"{type(e).__name__}: {e}"
    return _probe["module"]


def closest_point_backend() -> tuple[str, str | None]:
    """('pcu', None) when point-cloud-utils works, else ('torch', why it is unavailable)."""
    return ("pcu", None) if _pcu() is not None else ("torch", _probe["reason"])


def warn_fallback_once() -> None:
    """Warn (once per process) that the exact pure-torch nearest-triangle search is in use."""
    if not _probe.get("warned"):
        _probe["warned"] = True
        warnings.warn("pav.geometry: point-cloud-utils is unavailable (" + str(_probe.get("reason"))
                      + "); using the exact but much slower pure-torch nearest-triangle search. "
                      "Fix: pip install point-cloud-utils", RuntimeWarning, stacklevel=3)


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
