"""Closest points on a triangle mesh: nearest triangle, closest point, barycentrics, signed distance.

Split in two steps so the result is exact AND differentiable:
1. `nearest_faces` finds each query's nearest triangle (no gradient) with the backend that
   `pav.backends.nearest_backend` chooses for the points' device (warp-lang on CUDA; on the CPU the
   fastest installed of warp-lang, fcpw, point-cloud-utils; else an exact pure-torch search, with
   bounding-sphere pruning, and a one-time warning), or the one named by `backend=` / $PAV_NEAREST.
   `nearest_faces_reference` is the plain float64 brute force over all triangles, the test oracle.
2. `closest_on_faces` recomputes, in torch with autograd, the closest point on those (fixed) triangles
   (Ericson's region tests, "Real-Time Collision Detection" §5.1.5), so the outputs are differentiable
   w.r.t. the query points and the vertices.

Signed distance: positive on the side the face normal cross(b−a, c−a) points to, i.e. the sign of
(x − a)·n of the chosen face; for an outward-oriented closed mesh, inside is negative. (Where the
closest feature is a vertex of a saddle, this plane-side sign can disagree with inside/outside.)
Ties (a query equally far from several triangles, e.g. on a shared edge) go to any one of them; the
torch searches pick the lowest face id.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .. import backends
from . import _backend

__all__ = ["ClosestPoints", "closest_points", "closest_on_faces", "nearest_faces",
           "nearest_faces_reference", "closest_point_barycentrics"]


class ClosestPoints(NamedTuple):
    face_id: torch.Tensor
    """(N,) int64 index of the nearest triangle."""
    points: torch.Tensor
    """(N, 3) closest points on the surface."""
    bary: torch.Tensor
    """(N, 3) barycentrics of `points` in their triangle (a, b, c order), each ≥ 0, summing to 1."""
    distance: torch.Tensor
    """(N,) signed distance: + on the side cross(b−a, c−a) points to."""


def _dot(x, y):
    return (x * y).sum(-1)


def _div(num, den):
    """num / den where den ≠ 0, else num (keeps unused torch.where branches finite for autograd)."""
    return num / torch.where(den == 0, torch.ones_like(den), den)


def closest_point_barycentrics(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Barycentrics (..., 3) of the point of triangle (a, b, c) closest to p; all inputs (..., 3),
    broadcastable. Degenerate triangles give a closest point of their segment or vertex."""
    ab, ac = b - a, c - a
    ap, bp, cp = p - a, p - b, p - c
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    one, zero = torch.ones_like(d1), torch.zeros_like(d1)

    # Inside the face, then the Voronoi regions in reverse priority (the last `where` wins).
    s = va + vb + vc
    v, w = _div(vb, s), _div(vc, s)
    out = torch.stack([1 - v - w, v, w], -1)
    t = _div(d4 - d3, (d4 - d3) + (d5 - d6))
    regions = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), (zero, 1 - t, t)),  # edge bc
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), (1 - _div(d2, d2 - d6), zero, _div(d2, d2 - d6))),  # edge ac
        ((d6 >= 0) & (d5 <= d6), (zero, zero, one)),  # vertex c
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), (1 - _div(d1, d1 - d3), _div(d1, d1 - d3), zero)),  # edge ab
        ((d3 >= 0) & (d4 <= d3), (zero, one, zero)),  # vertex b
        ((d1 <= 0) & (d2 <= 0), (one, zero, zero)),  # vertex a
    ]
    for mask, coords in regions:
        out = torch.where(mask[..., None], torch.stack(coords, -1), out)
    return out


def _check(points, vertices, faces):
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {tuple(points.shape)}")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got {tuple(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
        raise ValueError(f"faces must be (F, 3) with F > 0, got {tuple(faces.shape)}")


def _sq_dist_to_faces(q, tri):
    """Squared distances (n,) or (n, F) from q to triangles tri (…, 3, 3); float64."""
    a, b, c = tri.unbind(-2)
    bary = closest_point_barycentrics(q, a, b, c)
    x = bary[..., 0:1] * a + bary[..., 1:2] * b + bary[..., 2:3] * c
    return ((q - x) ** 2).sum(-1)


@torch.no_grad()
def nearest_faces_reference(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                            chunk_pairs: int = 1 << 22) -> torch.Tensor:
    """(N,) int64 nearest triangle by plain float64 brute force over all triangles (lowest id on ties)."""
    _check(points, vertices, faces)
    q, tri = points.double(), vertices.double()[faces.long()]
    n = max(1, chunk_pairs // tri.shape[0])
    return torch.cat([_sq_dist_to_faces(qc[:, None], tri[None]).argmin(1) for qc in q.split(n)]) \
        if len(q) else torch.zeros(0, dtype=torch.int64)


@torch.no_grad()
def _nearest_faces_torch(points, vertices, faces, chunk_pairs: int = 1 << 22) -> torch.Tensor:
    """Exact pure-torch search: a triangle can only be nearest if its bounding-sphere lower bound
    |q − centroid| − radius is ≤ the exact distance to the triangle of the nearest centroid."""
    q, tri = points.double(), vertices.double()[faces.long()]
    F = tri.shape[0]
    cen = tri.mean(1)
    rad = (tri - cen[:, None]).norm(dim=-1).amax(1)
    margin = 1e-6 * (1.0 + float(torch.cat([q.abs().flatten(), tri.abs().flatten()]).max()))
    out = []
    for qc in q.split(max(1, chunk_pairs // F)):
        dc = torch.cdist(qc, cen)  # fast matmul form; its small error is covered by `margin`
        upper = _sq_dist_to_faces(qc, tri[dc.argmin(1)]).sqrt()
        cand = (dc - rad) <= upper[:, None] + margin
        pi, fi = cand.nonzero(as_tuple=True)
        d2 = _sq_dist_to_faces(qc[pi], tri[fi])
        best = torch.full((len(qc),), float("inf"), dtype=d2.dtype, device=q.device).scatter_reduce(0, pi, d2, "amin")
        win = d2 == best[pi]
        fid = torch.full((len(qc),), F, dtype=torch.int64, device=q.device)
        out.append(fid.scatter_reduce(0, pi[win], fi[win], "amin"))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64, device=q.device)


@torch.no_grad()
def nearest_faces(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                  backend: str = "auto") -> torch.Tensor:
    """(N,) int64 index of the nearest triangle (no gradient), on the points' device. points (N, 3),
    vertices (V, 3), faces (F, 3). backend: 'auto' ($PAV_NEAREST, else `pav.backends.nearest_backend`'s
    choice for the points' device), or forced: 'fcpw', 'warp', 'pcu' (an error if it does not import) or
    'torch' (the exact pure-torch search). The CPU libraries copy to and from a CUDA device; the pcu
    queries go in `spatial_order` (faster tree walks)."""
    _check(points, vertices, faces)
    name = backends.nearest_backend(points.device, None if backend == "auto" else backend).name
    if len(points) == 0:
        return torch.zeros(0, dtype=torch.int64, device=points.device)
    if name == "warp":
        return _with_skipped_faces(points, vertices, faces, _backend.warp_nearest_faces(points, vertices, faces))
    if name == "fcpw":
        fid = _backend.fcpw_nearest_faces(points.detach().cpu().numpy(), vertices.detach().cpu().numpy(),
                                          faces.detach().cpu().numpy())
        return torch.from_numpy(fid).to(points.device)
    if name == "pcu":
        q = points.detach().cpu().double()
        order = spatial_order(q)
        fid = _backend.pcu_nearest_faces(q[order].numpy(), vertices.detach().cpu().numpy(),
                                         faces.detach().cpu().numpy())
        return torch.empty_like(order).index_put_((order,), torch.from_numpy(fid)).to(points.device)
    return _nearest_faces_torch(points, vertices, faces)


WARP_SLIVER = 1e-6
"""warp skips a triangle when |cross(b−a, c−a)| / (|ab|² + |ac|² + |bc|²) < 1e-6 (in float32; zero-area
ones too)."""


@torch.no_grad()
def _with_skipped_faces(points, vertices, faces, fid, chunk_pairs: int = 1 << 22) -> torch.Tensor:
    """Warp's nearest faces fid (N,) (−1: none found), corrected exactly for the triangles warp skips:
    each query takes the nearer of its warp face and every skipped triangle (none on a regular mesh)."""
    tri = vertices.detach()[faces.long()]
    e0, e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], tri[:, 2] - tri[:, 1]
    ratio = torch.linalg.cross(e0, e1).norm(dim=-1) / (_dot(e0, e0) + _dot(e1, e1) + _dot(e2, e2))
    skipped = (ratio.isnan() | (ratio < 2 * WARP_SLIVER)).nonzero()[:, 0]  # 2×: float32 rounding margin
    if len(skipped) == 0 and not (fid < 0).any():
        return fid
    q, tri = points.detach().double(), tri.double()
    best = _sq_dist_to_faces(q, tri[fid.clamp_min(0)]).masked_fill(fid < 0, float("inf"))
    for rows in torch.arange(len(q), device=q.device).split(max(1, chunk_pairs // max(1, len(skipped)))):
        if len(skipped):
            dmin, arg = _sq_dist_to_faces(q[rows, None], tri[skipped][None]).min(1)  # over (n, S) pairs
            closer = dmin < best[rows]
            fid[rows[closer]], best[rows[closer]] = skipped[arg[closer]], dmin[closer]
    missed = fid < 0  # non-finite queries: the torch search decides, as without warp
    if missed.any():
        fid[missed] = _nearest_faces_torch(points[missed], vertices, faces)
    return fid


def spatial_order(points: torch.Tensor, cells: int = 32) -> torch.Tensor:
    """A permutation (N,) int64 grouping points (N, 3) by cell of a cells³ grid over their bounding box:
    queries that follow each other then walk the same tree nodes (~25% faster than a random order)."""
    lo, hi = points.amin(0), points.amax(0)
    ijk = ((points - lo) * (cells / (hi - lo).clamp_min(1e-30))).long().clamp_(0, cells - 1)
    return torch.argsort(ijk[:, 0] + cells * (ijk[:, 1] + cells * ijk[:, 2]))


def closest_on_faces(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                     face_id: torch.Tensor, eps: float = 1e-20) -> ClosestPoints:
    """Closest points of `points` (N, 3) on the given triangles face_id (N,) of the mesh (vertices (V, 3),
    faces (F, 3)); differentiable w.r.t. points and vertices. `eps` clamps |cross(b−a, c−a)| (units m²)."""
    _check(points, vertices, faces)
    if face_id.shape != points.shape[:1]:
        raise ValueError(f"face_id must be ({points.shape[0]},), got {tuple(face_id.shape)}")
    a, b, c = vertices[faces[face_id].long()].unbind(1)
    bary = closest_point_barycentrics(points, a, b, c)
    x = bary[:, 0:1] * a + bary[:, 1:2] * b + bary[:, 2:3] * c
    n = torch.linalg.cross(b - a, c - a)
    n_hat = n / n.norm(dim=-1, keepdim=True).clamp_min(eps)
    plane = _dot(points - a, n_hat)  # signed height above the face's plane
    inside = (bary > 0).all(-1)  # in the face's interior the distance IS the plane height (smooth at 0)
    sign = torch.where(plane >= 0, 1.0, -1.0).to(points.dtype)
    distance = torch.where(inside, plane, sign * (points - x).norm(dim=-1))
    return ClosestPoints(face_id.long(), x, bary, distance)


def closest_points(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                   backend: str = "auto") -> ClosestPoints:
    """Nearest triangle, closest point, barycentrics and signed distance for each of points (N, 3) on
    the mesh vertices (V, 3), faces (F, 3). Exact; differentiable w.r.t. points and vertices with the
    nearest triangle held fixed. See the module docstring for the sign and `nearest_faces` for backend."""
    face_id = nearest_faces(points, vertices, faces, backend=backend)
    return closest_on_faces(points, vertices, faces, face_id)


@torch.no_grad()
def closest_points_fast(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                        backend: str = "auto") -> ClosestPoints:
    """`closest_points` without gradients, for rendering: the backend chosen for the points' device (see
    `nearest_faces`), then the point on the triangle in torch, on that device."""
    return closest_points(points, vertices, faces, backend=backend)
