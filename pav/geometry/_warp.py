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

import torch
import warp as wp

__all__ = ["nearest_faces_warp"]

MAX_DIST = 1.0e18
"""query radius (m): unbounded in practice, and its square stays finite in float32."""
NO_DRIVER = "Could not find or load the NVIDIA CUDA driver"


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
    mesh = wp.Mesh(points=wp.from_torch(v, dtype=wp.vec3), indices=wp.from_torch(f))
    wp.launch(_nearest_face, dim=len(p), inputs=[mesh.id, wp.from_torch(p, dtype=wp.vec3), MAX_DIST],
              outputs=[wp.from_torch(out)], device=device)
