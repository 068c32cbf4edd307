"""Speed of the geometry hot paths, for `python -m pav bench` (not a test: timings vary ±30% here).

Workload (docs/geometry.md): the procedural head-sized mesh (`head_like_mesh`, 10,000 triangles,
~0.1 m), a camera 0.6 m away with fx = 1.2 × width; query points = random surface points pushed off
the surface by Gaussian noise (σ = 5 mm, the shell where NeRF samples live), float32 like the model.
"""
from __future__ import annotations


import torch

from ..camera import Camera, orbit
from ..timing import time_calls
from .canonical import canonicalize, face_maps
from .closest import closest_points, nearest_faces
from .meshes import head_like_mesh
from .raster import rasterize
from .. import backends

__all__ = ["bench_geometry", "bench_nearest"]


def _best_of(fn, repeats: int) -> float:
    """Fastest of `repeats` calls, seconds."""
    return time_calls(fn, repeats).best


def shell_points(vertices: torch.Tensor, faces: torch.Tensor, n: int, sigma: float = 5e-3,
                 seed: int = 0) -> torch.Tensor:
    """(n, 3) points: uniform random triangles and barycentrics, plus isotropic Gaussian noise σ (m)."""
    g = torch.Generator().manual_seed(seed)
    fid = torch.randint(0, len(faces), (n,), generator=g)
    w = torch.rand(n, 3, generator=g, dtype=vertices.dtype)
    w = w / w.sum(1, keepdim=True)
    p = (w[:, :, None] * vertices[faces[fid]]).sum(1)
    return p + sigma * torch.randn(n, 3, generator=g, dtype=vertices.dtype)


def bench_geometry(size: int = 256, n_points: int = 200_000, repeats: int = 5,
                   threads: int | None = 2) -> dict:
    """Times the rasterizer, closest points and canonicalization on the head-sized 10k-triangle mesh.
    `threads` sets torch's thread count for the run (restored after); None keeps it. Returns a dict of
    plain numbers (JSON-ready): ms per frame and queries or samples per second."""
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        v, f = head_like_mesh()
        v = v.float()
        cam = Camera(orbit((0.0, 0.0, 0.0), 0.6, 20.0, 10.0), 1.2 * size, 1.2 * size, size / 2, size / 2, size, size)
        raster_s = _best_of(lambda: rasterize(v, f, cam), repeats)
        coverage = float(rasterize(v, f, cam).mask.float().mean())

        p = shell_points(v, f, n_points)
        dirs = torch.nn.functional.normalize(torch.randn_like(p), dim=-1)
        canonical = v * 1.05
        search_s = _best_of(lambda: nearest_faces(p, v, f), max(1, repeats // 2))
        closest_s = _best_of(lambda: closest_points(p, v, f), max(1, repeats // 2))
        closest = closest_points(p, v, f)
        maps_s = _best_of(lambda: face_maps(v, canonical, f), repeats)
        maps = face_maps(v, canonical, f)
        apply_s = _best_of(lambda: canonicalize(p, v, canonical, f, dirs, closest=closest, maps=maps), repeats)
        full_s = _best_of(lambda: canonicalize(p, v, canonical, f, dirs), max(1, repeats // 2))
        return {
            "threads": torch.get_num_threads(),
            "closest_backend": backends.nearest_backend(p.device).name,
            "mesh_faces": int(len(f)),
            "raster_size": size,
            "raster_ms": 1e3 * raster_s,
            "raster_coverage": coverage,
            "points": n_points,
            "nearest_face_queries_per_s": n_points / search_s,
            "closest_queries_per_s": n_points / closest_s,
            "face_maps_ms": 1e3 * maps_s,
            "canonicalize_samples_per_s": n_points / full_s,
            "canonicalize_given_closest_samples_per_s": n_points / apply_s,
        }
    finally:
        torch.set_num_threads(old_threads)


def bench_nearest(n_points: int = 50_000, repeats: int = 3, threads: int | None = 1,
                  device: str = "cpu") -> dict:
    """Nearest-triangle queries/s of every backend that imports, on the same shell points of the head-sized
    mesh (the tree build included, as per render chunk), forced in turn; `threads` as in bench_geometry.
    Each backend runs once first (warp compiles or loads its kernel then). Returns {"points", "threads",
    "device", "auto": the choice's name, "auto_reason", "queries_per_s": {backend: fastest of repeats}}."""
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        v, f = head_like_mesh()
        v, f = v.float().to(device), f.to(device)
        p = shell_points(v.cpu(), f.cpu(), n_points).to(device)
        names = [n for n in ("fcpw", "warp", "pcu") if backends.nearest_probe(n).available]
        rates = {}
        for name in names:
            nearest_faces(p[:100], v, f, backend=name)
            rates[name] = n_points / _best_of(lambda: nearest_faces(p, v, f, backend=name), repeats)
        choice = backends.nearest_backend(device)
        return {"points": n_points, "threads": torch.get_num_threads(), "device": device, "auto": choice.name,
                "auto_reason": choice.reason, "queries_per_s": rates}
    finally:
        torch.set_num_threads(old_threads)


if __name__ == "__main__":
    import sys

    if "--nearest" in sys.argv:
        for threads in (1, 2):
            print(bench_nearest(threads=threads))
    else:
        for k, val in bench_geometry().items():
            print(f"{k:42s} {val:.4g}" if isinstance(val, float) else f"{k:42s} {val}")
