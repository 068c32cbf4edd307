"""A pure-torch triangle rasterizer (CPU) and differentiable attribute interpolation.

Conventions (DESIGN §2): OpenCV camera (x right, y down, z forward), pixel (i, j) = (row, column) has
its centre at (j + 0.5, i + 0.5) in continuous pixel coordinates; depth is camera-space z (not the ray
length). A pixel is covered by a triangle when its centre is inside or ON an edge (inclusive test, so
meshes have no cracks); the nearest depth wins, exact depth ties go to the lowest face id.
Triangles with a vertex at z ≤ `near` are dropped whole (no clipping); both windings are drawn unless
`cull_backfaces` (a back face's normal cross(b−a, c−a) points away from the camera).

Algorithm (all vectorised, float64 inside): project the vertices; per triangle, the pixel-centre bounding
box clipped to the image; enumerate every (triangle, pixel-in-box) pair exactly with repeat_interleave
(most head triangles cover a few pixels, so this wastes nothing); edge-function coverage test; a z-buffer
by `scatter_reduce('amin')` over int64 keys (depth quantised to 38 bits << 24 | face id); then the
winners' perspective-correct barycentrics and depth are recomputed exactly.

`pixel_barycentrics` recomputes the barycentrics of the covered pixels from the vertices with autograd
(visibility held fixed, as nvdiffrast does), and `interpolate` uses them, so interpolated attributes are
differentiable w.r.t. vertex positions as well as attributes. `raster_ref.py` is the plain twin.

On CUDA, nvdiffrast may decide the visibility instead of the z-buffer, and on the CPU warp-lang's compiled
twin of `_visible` (`pav.backends.raster_backend`, `_nvdiffrast.py`, `_warp_raster.py`); the barycentrics
and depths are recomputed the same way on every path.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .. import backends
from ..camera import Camera
from . import _nvdiffrast

__all__ = ["Rasterized", "rasterize", "pixel_barycentrics", "interpolate", "project"]

_ID_BITS = 24  # up to 16.7 M faces
_DEPTH_LEVELS = (1 << (62 - _ID_BITS)) - 1


class Rasterized(NamedTuple):
    face_id: torch.Tensor
    """(H, W) int64 visible triangle per pixel, −1 on background."""
    bary: torch.Tensor
    """(H, W, 3) perspective-correct barycentrics (a, b, c order) of the pixel centre; 0 on background."""
    depth: torch.Tensor
    """(H, W) camera-space z of the visible surface; +inf on background."""

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool, True where a triangle is visible."""
        return self.face_id >= 0


def project(vertices: torch.Tensor, camera: Camera) -> torch.Tensor:
    """World points (..., 3) → (..., 3): pixel x, pixel y (centres at +0.5), camera-space z; in the
    points' dtype and differentiable (unlike `Camera.project`, which is the same map)."""
    w2c = torch.linalg.inv(camera.c2w.double()).to(vertices)  # full precision even for a float32 c2w
    p = vertices @ w2c[:3, :3].T + w2c[:3, 3]
    z = p[..., 2]
    return torch.stack([camera.fx * p[..., 0] / z + camera.cx, camera.fy * p[..., 1] / z + camera.cy, z], -1)


def _edges(tri: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Edge functions (..., 3) of points (px, py) w.r.t. projected triangles tri (..., 3, 3+): component
    k is twice the signed area of the sub-triangle opposite vertex k; they sum to twice the area."""
    x, y = tri[..., 0], tri[..., 1]
    e = []
    for i, j in ((1, 2), (2, 0), (0, 1)):
        e.append((x[..., j] - x[..., i]) * (py - y[..., i]) - (y[..., j] - y[..., i]) * (px - x[..., i]))
    return torch.stack(e, -1)


def _perspective_bary(tri: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Perspective-correct barycentrics (P, 3) and camera z (P,) at pixel points for projected tri (P, 3, 3)."""
    e = _edges(tri, px, py)
    w = e / tri[..., 2]  # screen-space weights over z: proportional to the 3D barycentrics
    s = w.sum(-1, keepdim=True)
    return w / s, e.sum(-1) / s[..., 0]


def _check(vertices, faces, camera):
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got {tuple(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    if faces.shape[0] >= 1 << _ID_BITS:
        raise ValueError(f"at most {(1 << _ID_BITS) - 1} faces, got {faces.shape[0]}")
    if not isinstance(camera, Camera):
        raise ValueError(f"camera must be a pav.camera.Camera, got {type(camera).__name__}")


@torch.no_grad()
def rasterize(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, width: int | None = None,
              height: int | None = None, cull_backfaces: bool = False, near: float = 1e-6,
              chunk_pairs: int = 1 << 22, backend: str | None = None) -> Rasterized:
    """Rasterize the mesh vertices (V, 3) (world space), faces (F, 3) seen by `camera`, at the camera's
    size or at width × height (intrinsics scaled with `Camera.scaled`). Returns `Rasterized` (H, W).
    Not differentiable itself: use `interpolate(..., vertices=..., camera=...)` for gradients.
    backend: 'torch', 'nvdiffrast' or None/'auto' ($PAV_RASTER, else `pav.backends.raster_backend`'s choice
    for the vertices' device); nvdiffrast falls back to torch above its size limit."""
    _check(vertices, faces, camera)
    if width is not None or height is not None:
        camera = camera.scaled(width or camera.width, height or camera.height)
    W, H = camera.width, camera.height
    dtype = vertices.dtype if vertices.is_floating_point() else torch.float32
    dev = vertices.device
    faces = faces.long().to(dev)
    projected = project(vertices.double(), camera)  # (V, 3): pixel x, pixel y, camera z
    tri = projected[faces]  # (F, 3, 3)
    area = _edges(tri, tri[:, 0, 0], tri[:, 0, 1])[:, 0]  # twice the signed screen area
    ok = (tri[..., 2] > near).all(1) & (area != 0) & torch.isfinite(area)
    if cull_backfaces:
        w2c = torch.linalg.inv(camera.c2w.double()).to(dev)
        cam = vertices.double()[faces] @ w2c[:3, :3].T + w2c[:3, 3]
        ok &= (torch.linalg.cross(cam[:, 1] - cam[:, 0], cam[:, 2] - cam[:, 0]) * cam[:, 0]).sum(-1) < 0
    fid = ok.nonzero()[:, 0]
    choice = backends.raster_backend(dev, None if backend in (None, "auto") else backend).name
    if choice == "nvdiffrast" and _nvdiffrast.fits(W, H):
        seen = _nvdiffrast.visible_faces(projected, faces[fid], W, H).reshape(-1)
        hit = (seen >= 0).nonzero()[:, 0]
        win = fid[seen[hit]]
    elif choice == "warp":
        from ._warp_raster import visible_warp

        hit, win = visible_warp(tri[fid], fid, area[fid], W, H, threads=torch.get_num_threads())
    else:
        hit, win = _visible(tri[fid], fid, area[fid], W, H, chunk_pairs)
    bary, depth = _perspective_bary(tri[win], (hit % W).double() + 0.5, (hit // W).double() + 0.5)
    face_id = torch.full((H * W,), -1, dtype=torch.int64, device=dev).index_put_((hit,), win)
    out_b = torch.zeros(H * W, 3, dtype=dtype, device=dev).index_put_((hit,), bary.to(dtype))
    out_d = torch.full((H * W,), float("inf"), dtype=dtype, device=dev).index_put_((hit,), depth.to(dtype))
    return Rasterized(face_id.view(H, W), out_b.view(H, W, 3), out_d.view(H, W))


def pixel_boxes(t: torch.Tensor, W: int, H: int):
    """For projected triangles t (F', 3, 3): their pixel-centre bounding boxes (columns j with j + 0.5 in
    [xmin, xmax], rows likewise, clipped to the image; j0, j1, i0, i1 (F',) int64, empty when j1 < j0), and
    the depth quantisation of the z-buffer's keys (z_lo, levels per unit depth)."""
    j0 = torch.ceil(t[..., 0].amin(1) - 0.5).clamp(0, W).long()
    j1 = torch.floor(t[..., 0].amax(1) - 0.5).clamp(-1, W - 1).long()
    i0 = torch.ceil(t[..., 1].amin(1) - 0.5).clamp(0, H).long()
    i1 = torch.floor(t[..., 1].amax(1) - 0.5).clamp(-1, H - 1).long()
    z_lo, z_hi = (float(t[..., 2].min()), float(t[..., 2].max())) if len(t) else (1.0, 1.0)
    return j0, j1, i0, i1, z_lo, _DEPTH_LEVELS / max(z_hi - z_lo, 1e-30)


def _visible(t: torch.Tensor, fid: torch.Tensor, area: torch.Tensor, W: int, H: int,
             chunk_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The z-buffer: projected triangles t (F', 3, 3) with face ids fid (F',) and twice their signed screen
    areas (F',) → (covered flat pixel indices (P,), the face id seen at each (P,))."""
    dev = t.device
    j0, j1, i0, i1, z_lo, scale = pixel_boxes(t, W, H)
    bw, bh = (j1 - j0 + 1).clamp_min(0), (i1 - i0 + 1).clamp_min(0)
    count = bw * bh

    zbuf = torch.full((H * W,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=dev)
    ends = torch.cumsum(count, 0)
    start = 0
    while start < len(fid):  # chunks of triangles holding about `chunk_pairs` (triangle, pixel) pairs
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(torch.searchsorted(ends, base + chunk_pairs, right=True)))
        sl = slice(start, stop)
        k = torch.repeat_interleave(torch.arange(stop - start, device=dev), count[sl])  # pair → triangle (in chunk)
        local = torch.arange(len(k), device=dev) - (ends[sl] - count[sl] - base)[k]
        pj = j0[sl][k] + local % bw[sl][k]
        pi = i0[sl][k] + local // bw[sl][k]
        tk = t[sl][k]
        e = _edges(tk, pj + 0.5, pi + 0.5) * area[sl][k].sign()[:, None]
        inside = (e >= 0).all(1)
        tk, e, pj, pi, k = tk[inside], e[inside], pj[inside], pi[inside], k[inside]
        inv_z = (e / tk[..., 2]).sum(1) / e.sum(1)  # 1/z interpolates linearly in screen space
        q = ((1.0 / inv_z - z_lo) * scale).clamp(0, _DEPTH_LEVELS).long()
        key = (q << _ID_BITS) | fid[sl][k]
        zbuf.scatter_reduce_(0, pi * W + pj, key, "amin")
        start = stop

    hit = (zbuf != torch.iinfo(torch.int64).max).nonzero()[:, 0]
    return hit, zbuf[hit] & ((1 << _ID_BITS) - 1)


def pixel_barycentrics(raster: Rasterized, vertices: torch.Tensor, faces: torch.Tensor,
                       camera: Camera) -> torch.Tensor:
    """(H, W, 3) perspective-correct barycentrics of the covered pixel centres, recomputed from vertices
    (V, 3) with autograd (the visible face per pixel is held fixed); 0 on background. `camera` must have
    the raster's size (pass `camera.scaled(W, H)` if `rasterize` was given a size)."""
    H, W = raster.face_id.shape
    _check(vertices, faces, camera)
    if (camera.width, camera.height) != (W, H):
        raise ValueError(f"camera is {camera.width}×{camera.height} but the raster is {W}×{H}")
    hit = (raster.face_id.reshape(-1) >= 0).nonzero()[:, 0]
    tri = project(vertices, camera)[faces.long()[raster.face_id.reshape(-1)[hit]]]
    bary, _ = _perspective_bary(tri, (hit % W).to(tri.dtype) + 0.5, (hit // W).to(tri.dtype) + 0.5)
    return torch.zeros(H * W, 3, dtype=bary.dtype, device=bary.device).index_put((hit,), bary).view(H, W, 3)


def interpolate(attributes: torch.Tensor, raster: Rasterized, faces: torch.Tensor | None = None, *,
                vertices: torch.Tensor | None = None, camera: Camera | None = None) -> torch.Tensor:
    """Per-pixel attributes (H, W, C), 0 on background, from per-vertex attributes (V, C) (needs `faces`)
    or per-corner attributes (F, 3, C) (UV seams). With `vertices` (V, 3), `faces` and `camera`, the
    barycentrics are recomputed with autograd (`pixel_barycentrics`), so the result is differentiable
    w.r.t. vertex positions; otherwise `raster.bary` is used (gradients reach the attributes only)."""
    H, W = raster.face_id.shape
    if attributes.ndim == 3 and attributes.shape[1] == 3:
        corners_of = lambda f: attributes[f]  # noqa: E731
    elif attributes.ndim == 2:
        if faces is None:
            raise ValueError("per-vertex attributes (V, C) need `faces`")
        corners_of = lambda f: attributes[faces.long()[f]]  # noqa: E731
    else:
        raise ValueError(f"attributes must be (V, C) or (F, 3, C), got {tuple(attributes.shape)}")
    if vertices is not None:
        if faces is None or camera is None:
            raise ValueError("differentiable interpolation needs `faces` and `camera` with `vertices`")
        bary = pixel_barycentrics(raster, vertices, faces, camera).reshape(-1, 3)
    else:
        bary = raster.bary.reshape(-1, 3)
    fid = raster.face_id.reshape(-1)
    hit = (fid >= 0).nonzero()[:, 0]
    vals = (bary[hit].to(attributes.dtype)[:, :, None] * corners_of(fid[hit])).sum(1)
    out = torch.zeros(H * W, attributes.shape[-1], dtype=vals.dtype, device=vals.device).index_put((hit,), vals)
    return out.view(H, W, -1)
