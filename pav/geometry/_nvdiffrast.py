"""nvdiffrast's CUDA rasterizer as the fast path of `raster.rasterize`: it decides visibility only.

`visible_faces` returns, per pixel, which of the given triangles nvdiffrast sees; `rasterize` then
recomputes the winners' perspective-correct barycentrics and depth exactly (float64), as its pure-torch
path does, so the two paths differ only where they choose another face: pixel centres within nvdiffrast's
1/16-pixel vertex snapping of an edge (its fill rule is not our inclusive one) and exact depth ties.
Used only where `pav.backends.raster_backend` chooses it (CUDA tensors, `nvdiffrast.torch` imports).

The camera → clip-space map (`clip_space`, pure torch and tested on the CPU against `raster.project`):
pixel coordinates x, y (OpenCV: centres at +0.5, y down) and camera z become clip (x', y', z', w) with
w = z, x'/w = 2x/W' − 1, y'/w = 2y/H' − 1: nvdiffrast samples pixel (i, j) at NDC (2(j + ½)/W' − 1,
2(i + ½)/H' − 1) and stores NDC y = −1 in row 0, so image rows need no flip. z'/w maps [near, far]
(half the nearest and twice the farthest drawn vertex depth, so nothing is clipped) onto [−1, 1],
increasing with depth (nvdiffrast keeps the smallest). W', H' are the image size rounded up to
nvdiffrast's 8-pixel tiles; the result is cropped back. Images larger than `MAX_SIZE` stay on the torch
path.
"""
from __future__ import annotations

import threading

import torch

TILE = 8
"""nvdiffrast's CUDA rasterizer needs width and height divisible by this."""
MAX_SIZE = 2048
"""and at most this many pixels per side."""

_contexts: dict = {}
_lock = threading.Lock()  # one CUDA rasterizer context per device; its buffers are not thread-safe


def padded_size(width: int, height: int) -> tuple[int, int]:
    """(W', H'): the size rounded up to whole tiles."""
    return -(-width // TILE) * TILE, -(-height // TILE) * TILE


def fits(width: int, height: int) -> bool:
    """Whether nvdiffrast can rasterize a width × height image."""
    return max(padded_size(width, height)) <= MAX_SIZE


def clip_space(projected: torch.Tensor, width: int, height: int, near: float, far: float) -> torch.Tensor:
    """projected (V, 3) pixel x, pixel y, camera z (`raster.project`) → (V, 4) clip coordinates of a
    width × height viewport (already padded to tiles) with depth range [near, far], in the input's dtype."""
    x, y, z = projected.unbind(-1)
    a, b = (far + near) / (far - near), -2 * far * near / (far - near)
    return torch.stack([(2 * x / width - 1) * z, (2 * y / height - 1) * z, a * z + b, z], -1)


def visible_faces(projected: torch.Tensor, faces: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """projected (V, 3) vertices (`raster.project`, on a CUDA device), faces (F, 3) the triangles to draw
    (all in front of the camera) → (H, W) int64 index into `faces` of the triangle seen per pixel, −1 on
    background."""
    import nvdiffrast.torch as dr

    device = projected.device
    if len(faces) == 0:
        return torch.full((height, width), -1, dtype=torch.int64, device=device)
    W8, H8 = padded_size(width, height)
    depth = projected[faces.reshape(-1), 2]
    near, far = 0.5 * float(depth.min()), 2.0 * float(depth.max())
    pos = clip_space(projected, W8, H8, near, far).float().contiguous()[None]  # (1, V, 4)
    tri = faces.to(torch.int32).contiguous()
    with _lock:
        context = _contexts.get(device)
        if context is None:
            context = _contexts[device] = dr.RasterizeCudaContext(device=device)
        rast, _ = dr.rasterize(context, pos, tri, resolution=[H8, W8], grad_db=False)
    return rast[0, :height, :width, 3].round().long() - 1  # channel 3: triangle index + 1, 0 = background
