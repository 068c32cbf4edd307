"""The rasterizer's z-buffer (`raster._visible`) as a compiled warp kernel on the CPU.

Imported only when the warp rasterizer runs (`pav.backends.raster_backend`: the CPU default when warp
imports; PAV_RASTER=torch takes the pure-torch twin). One thread per triangle walks its pixel-centre
bounding box and does the twin's float64 arithmetic operation for operation: the same edge functions, the
same 1/z interpolation, the same 38-bit depth quantisation and key (depth << 24 | face id), kept with an
atomic minimum. So it picks exactly the pixels and faces the twin picks (tests/test_fast_paths.py
compares them on every pixel). The image is cut into bands of rows, one launch per band on its own thread
(warp releases the GIL; a band's launch writes only its own rows, so the bands never race).
"""
from __future__ import annotations

import torch
import warp as wp

from . import _warp  # noqa: F401  (initialises warp once, quietly)
from ._warp import run_parts, split_work
from .raster import _DEPTH_LEVELS, _ID_BITS, pixel_boxes

EMPTY = torch.iinfo(torch.int64).max


@wp.kernel
def _zbuffer(tri: wp.array2d(dtype=wp.float64), fid: wp.array(dtype=wp.int64), sign: wp.array(dtype=wp.float64),
             box: wp.array2d(dtype=wp.int32), width: int, row0: int, row1: int, z_lo: wp.float64,
             scale: wp.float64, levels: wp.float64, zbuf: wp.array(dtype=wp.int64)):
    t = wp.tid()
    i0 = wp.max(box[t, 2], row0)
    i1 = wp.min(box[t, 3], row1 - 1)
    if i0 > i1:
        return
    x0, y0, z0 = tri[t, 0], tri[t, 1], tri[t, 2]
    x1, y1, z1 = tri[t, 3], tri[t, 4], tri[t, 5]
    x2, y2, z2 = tri[t, 6], tri[t, 7], tri[t, 8]
    s = sign[t]
    half = wp.float64(0.5)
    zero = wp.float64(0.0)
    one = wp.float64(1.0)
    for i in range(i0, i1 + 1):
        py = wp.float64(i) + half
        for j in range(box[t, 0], box[t, 1] + 1):
            px = wp.float64(j) + half
            e0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) * s
            e1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) * s
            e2 = ((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)) * s
            if e0 >= zero and e1 >= zero and e2 >= zero:
                inv_z = (e0 / z0 + e1 / z1 + e2 / z2) / (e0 + e1 + e2)
                q = wp.clamp((one / inv_z - z_lo) * scale, zero, levels)
                key = (wp.int64(q) << wp.int64(24)) | fid[t]  # 24 = raster._ID_BITS
                wp.atomic_min(zbuf, i * width + j, key)


def visible_warp(t: torch.Tensor, fid: torch.Tensor, area: torch.Tensor, W: int, H: int,
                 threads: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """`raster._visible` on the CPU: projected triangles t (F', 3, 3) float64, face ids fid (F',), twice their
    signed screen areas (F',) → (covered flat pixel indices (P,), the face id seen at each (P,))."""
    j0, j1, i0, i1, z_lo, scale = pixel_boxes(t, W, H)
    box = torch.stack([j0, j1, i0, i1], 1).to(torch.int32).contiguous()
    zbuf = torch.full((H * W,), EMPTY, dtype=torch.int64, device=t.device)
    if len(t):
        tri = t.reshape(-1, 9).contiguous()
        ids, sign = fid.contiguous(), area.sign().contiguous()
        cpu = wp.get_device("cpu")
        args = [wp.from_torch(tri), wp.from_torch(ids), wp.from_torch(sign), wp.from_torch(box), W]

        def launch(band: int, row0: int, row1: int) -> None:
            wp.launch(_zbuffer, dim=len(tri), inputs=[*args, row0, row1, z_lo, scale, float(_DEPTH_LEVELS)],
                      outputs=[wp.from_torch(zbuf)], device=cpu)

        run_parts(launch, split_work(H, threads, 32))  # bands of at least 32 rows
    hit = (zbuf != EMPTY).nonzero()[:, 0]
    return hit, zbuf[hit] & ((1 << _ID_BITS) - 1)
