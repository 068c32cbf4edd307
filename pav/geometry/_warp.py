"""Nearest triangle by warp-lang's BVH (`wp.Mesh` + `mesh_query_point_no_sign`), on CUDA or on the CPU.

Imported only when the warp backend runs (never at `import pav`): `import warp` takes ~1 s and the kernel
below is compiled once per machine (~2-20 s), then loaded from warp's kernel cache (~/.cache/warp, or
$WARP_CACHE_PATH; never the repository). The queries run on the device of the points, zero-copy through
`wp.from_torch`. warp searches in float32: exact ties and float32 rounding aside, it picks the face a
float64 brute force picks (the distance to it agrees to ~1e-8 m on a 0.1 m mesh). warp skips
(near-)degenerate triangles: `closest._with_skipped_faces` checks those exactly, and answers the queries
for which warp found no face.
"""
from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import torch
import warp as wp

__all__ = ["nearest_faces_warp", "WarpMesh"]

MAX_DIST = 1.0e18
"""query radius (m): unbounded in practice, and its square stays finite in float32."""
NO_DRIVER = "Could not find or load the NVIDIA CUDA driver"
BVH_LEAF_SIZE = 4
"""triangles per BVH leaf: warp's default (1) suits ray and box queries; for closest-point queries its docs
suggest 4-8. Measured on a render's queries, one thread: 1635 → 1559 ns at 128²/6 samples, 1454 → 1288 ns
at 256²/24 (docs/performance.md, session 5); the distances agree to 1e-8 m."""


def _init() -> None:
    """wp.init(), without its native warning about a missing CUDA driver when torch sees no GPU either
    (every other line it writes to stderr is passed on)."""
    wp.config.log_level = wp.LOG_WARNING  # no "module loaded" lines on stdout
    if torch.cuda.is_available():
        wp.init()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            wp.init()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(True) if NO_DRIVER not in line]
            sys.stderr.write("".join(kept))


_init()
wp.set_module_options({"enable_backward": False})  # queries only: compiles faster


@wp.kernel
def _nearest_face(mesh: wp.uint64, points: wp.array(dtype=wp.vec3), max_dist: float,
                  face: wp.array(dtype=wp.int32)):
    i = wp.tid()
    hit = wp.mesh_query_point_no_sign(mesh, points[i], max_dist)
    if hit.result:
        face[i] = hit.face
    else:
        face[i] = -1


def nearest_faces_warp(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(N,) int64 nearest triangle of each of points (N, 3) on the mesh vertices (V, 3), faces (F, 3), on
    the points' device (vertices and faces are moved there); −1 where warp found no face."""
    device = points.device
    p = points.detach().to(torch.float32).contiguous()
    v = vertices.detach().to(device=device, dtype=torch.float32).contiguous()
    f = faces.detach().to(device=device, dtype=torch.int32).reshape(-1).contiguous()
    out = torch.empty(len(p), dtype=torch.int32, device=device)
    if device.type != "cuda":
        _query(p, v, f, out, wp.device_from_torch(device))
        return out.long()
    stream = wp.stream_from_torch(torch.cuda.current_stream(device))  # ordered with torch's work
    with wp.ScopedStream(stream):
        _query(p, v, f, out, stream.device)
    wp.synchronize_stream(stream)  # the mesh (its BVH) is freed on return: the kernel must be done
    return out.long()


def _query(p, v, f, out, device) -> None:
    mesh = wp.Mesh(points=wp.from_torch(v, dtype=wp.vec3), indices=wp.from_torch(f), bvh_leaf_size=BVH_LEAF_SIZE)
    wp.launch(_nearest_face, dim=len(p), inputs=[mesh.id, wp.from_torch(p, dtype=wp.vec3), MAX_DIST],
              outputs=[wp.from_torch(out)], device=device)


@wp.kernel
def _closest_along_rays(mesh: wp.uint64, points: wp.array(dtype=wp.vec3), samples_per_ray: int, radius: float,
                        face: wp.array(dtype=wp.int32), bary: wp.array(dtype=wp.vec3),
                        distance: wp.array(dtype=float)):
    """One thread per ray, its samples in order. Each query searches only the ball that must hold the
    nearest point: the shell radius, shrunk to |x − c| (c: the previous sample's closest point, a point
    of the surface, so the nearest point is at most that far). The closest point, barycentrics and signed
    distance come from the face found, as `closest_on_faces` computes them."""
    ray = wp.tid()
    prev = wp.vec3(0.0, 0.0, 0.0)
    have_prev = int(0)
    for k in range(samples_per_ray):
        i = ray * samples_per_ray + k
        x = points[i]
        r = radius
        if have_prev == 1:
            r = wp.min(radius, wp.length(x - prev) * 1.0001 + 1.0e-7)
        hit = wp.mesh_query_point_no_sign(mesh, x, r)
        if hit.result:
            w = 1.0 - hit.u - hit.v
            c = wp.mesh_eval_position(mesh, hit.face, hit.u, hit.v)
            m = wp.mesh_get(mesh)
            a = m.points[m.indices[hit.face * 3 + 0]]
            b = m.points[m.indices[hit.face * 3 + 1]]
            cc = m.points[m.indices[hit.face * 3 + 2]]
            n = wp.cross(b - a, cc - a)
            plane = wp.dot(x - a, n) / wp.max(wp.length(n), 1.0e-20)
            d = wp.length(x - c)
            if plane < 0.0:
                d = -d
            if wp.min(wp.min(hit.u, hit.v), w) > 1.0e-5:  # over the interior: the plane height, as torch
                d = plane                                  # (near an edge w = 1 − u − v rounds off zero)
            face[i] = hit.face
            bary[i] = wp.vec3(hit.u, hit.v, w)
            distance[i] = d
            prev = c
            have_prev = 1
        else:
            face[i] = -1
            bary[i] = wp.vec3(0.0, 0.0, 0.0)
            distance[i] = float(1.0e30)


_POOL: ThreadPoolExecutor | None = None


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool for CPU launches (warp runs a CPU launch on the calling thread and releases the
    GIL, so launches on parts of the rays run in parallel)."""
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pav-warp")
    return _POOL


def split_work(n: int, threads: int, min_part: int) -> list[tuple[int, int]]:
    """[0, n) cut into at most `threads` contiguous (start, stop) parts of at least `min_part` items (one part
    when n is small)."""
    parts = max(1, min(threads, n // min_part))
    cuts = [n * j // parts for j in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def run_parts(launch, parts: list[tuple[int, int]]) -> None:
    """launch(k, start, stop) for every part k: the first on this thread, the others on the pool at once
    (CPU launches release the GIL, so they run in parallel); returns when all are done."""
    jobs = [_pool(len(parts)).submit(launch, k, a, b) for k, (a, b) in enumerate(parts) if k > 0]
    launch(0, *parts[0])
    for job in jobs:
        job.result()


class WarpMesh:
    """warp's BVH over one posed mesh, built once and queried many times (a whole render, or every frame of
    an orbit around one pose). Keeps the float32 vertex and index tensors it was built from alive."""

    def __init__(self, vertices: torch.Tensor, faces: torch.Tensor):
        device = vertices.device
        self.vertices = vertices.detach().to(torch.float32).contiguous()
        self.indices = faces.detach().to(device=device, dtype=torch.int32).reshape(-1).contiguous()
        self.device = device
        self.mesh = wp.Mesh(points=wp.from_torch(self.vertices, dtype=wp.vec3), indices=wp.from_torch(self.indices),
                            bvh_leaf_size=BVH_LEAF_SIZE)

    def closest_along_rays(self, points: torch.Tensor, radius: float, threads: int = 1):
        """points (R, K, 3): K samples of each of R rays, in ray order → face (R·K,) int32 (−1 where no
        surface point is closer than `radius`), bary (R·K, 3), signed distance (R·K,); `threads` CPU
        launches over parts of the rays."""
        R, K = points.shape[0], points.shape[1]
        p = points.detach().to(torch.float32).reshape(-1, 3).contiguous()
        face = torch.empty(R * K, dtype=torch.int32, device=self.device)
        bary = torch.empty(R * K, 3, dtype=torch.float32, device=self.device)
        dist = torch.empty(R * K, dtype=torch.float32, device=self.device)

        def launch(start: int, stop: int, device) -> None:
            s, e = start * K, stop * K
            wp.launch(_closest_along_rays, dim=stop - start,
                      inputs=[self.mesh.id, wp.from_torch(p[s:e], dtype=wp.vec3), K, float(radius)],
                      outputs=[wp.from_torch(face[s:e]), wp.from_torch(bary[s:e], dtype=wp.vec3),
                               wp.from_torch(dist[s:e])], device=device)

        if R == 0:
            pass
        elif self.device.type == "cuda":
            stream = wp.stream_from_torch(torch.cuda.current_stream(self.device))
            with wp.ScopedStream(stream):
                launch(0, R, stream.device)
        else:
            cpu = wp.device_from_torch(self.device)
            run_parts(lambda k, a, b: launch(a, b, cpu), split_work(R, threads, 256))
        return face, bary, dist
