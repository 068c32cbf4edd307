"""Small procedural meshes for tests and benchmarks: an icosphere and a head-sized closed surface.

Both are closed, outward-oriented (the normal cross(b−a, c−a) points away from the inside), float64
vertices (V, 3) and int64 faces (F, 3). Head space conventions: metres, y up, the face looks toward +z.
"""
from __future__ import annotations

import math

import torch

__all__ = ["icosphere", "head_like_mesh", "orient_outward"]


def orient_outward(vertices: torch.Tensor, faces: torch.Tensor, center=None) -> torch.Tensor:
    """Faces (F, 3) reordered so every normal points away from `center` (default: the vertex mean).
    Only meaningful for star-shaped surfaces about `center`."""
    c = vertices.mean(0) if center is None else torch.as_tensor(center, dtype=vertices.dtype)
    a, b, d = vertices[faces].unbind(1)
    n = torch.linalg.cross(b - a, d - a)
    flip = ((n * ((a + b + d) / 3 - c)).sum(-1) < 0)
    out = faces.clone()
    out[flip] = faces[flip][:, [0, 2, 1]]
    return out


def _icosahedron() -> tuple[torch.Tensor, torch.Tensor]:
    t = (1.0 + math.sqrt(5.0)) / 2.0
    v = []
    for s1 in (-1.0, 1.0):
        for s2 in (-t, t):
            v += [(0.0, s1, s2), (s1, s2, 0.0), (s2, 0.0, s1)]  # cyclic permutations of (0, ±1, ±t)
    v = torch.tensor(v, dtype=torch.float64)
    v = v / v.norm(dim=1, keepdim=True)
    # The 20 faces are the vertex triples that are pairwise at the shortest distance (edge length).
    d = torch.cdist(v, v)
    edge = d[d > 1e-9].min()
    adj = (d - edge).abs() < 1e-6
    faces = [(i, j, k) for i in range(12) for j in range(i + 1, 12) for k in range(j + 1, 12)
             if adj[i, j] and adj[j, k] and adj[i, k]]
    f = torch.tensor(faces, dtype=torch.int64)
    return v, orient_outward(v, f, center=(0.0, 0.0, 0.0))


def _subdivide(vertices: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split every triangle into four at its edge midpoints (shared midpoints are shared vertices)."""
    V = vertices.shape[0]
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # (3F, 2)
    uniq, inverse = torch.unique(edges.sort(dim=1).values, dim=0, return_inverse=True)
    mid = vertices[uniq].mean(1)
    F = faces.shape[0]
    ab, bc, ca = (V + inverse[i * F:(i + 1) * F] for i in range(3))
    a, b, c = faces.unbind(1)
    new = torch.cat([torch.stack(t, 1) for t in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))])
    return torch.cat([vertices, mid]), new


def icosphere(subdivisions: int = 2, radius: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertices (V, 3) float64 and faces (F, 3) int64 of a geodesic sphere about the origin;
    F = 20·4^subdivisions."""
    v, f = _icosahedron()
    for _ in range(subdivisions):
        v, f = _subdivide(v, f)
        v = v / v.norm(dim=1, keepdim=True)
    return v * radius, f


def head_like_mesh(n_lon: int = 100, n_lat: int = 50, radius: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """A closed, head-sized surface: a latitude/longitude ellipsoid (half-axes 0.8r, r, 0.9r in x, y, z)
    with a nose-like bump toward +z. F = 2·n_lon·n_lat (the defaults give 10,000 faces, ~0.1 m)."""
    theta = torch.arange(1, n_lat + 1, dtype=torch.float64) * math.pi / (n_lat + 1)  # polar angle from +y
    phi = torch.arange(n_lon, dtype=torch.float64) * 2 * math.pi / n_lon
    th, ph = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([th.sin() * ph.sin(), th.cos(), th.sin() * ph.cos()], -1).reshape(-1, 3)
    unit = torch.cat([torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64), ring,
                      torch.tensor([[0.0, -1.0, 0.0]], dtype=torch.float64)])
    nose = 0.25 * torch.exp(-((unit[:, 0] / 0.18) ** 2 + ((unit[:, 1] + 0.05) / 0.3) ** 2)) * (unit[:, 2] > 0)
    v = unit * torch.tensor([0.8, 1.0, 0.9], dtype=torch.float64) * radius * (1 + nose)[:, None]

    def idx(i, j):  # ring i (0-based), longitude j (wraps)
        return 1 + i * n_lon + (j % n_lon)

    j = torch.arange(n_lon)
    top = torch.stack([torch.zeros_like(j), idx(0, j), idx(0, j + 1)], 1)
    bottom = torch.stack([torch.full_like(j, 1 + n_lat * n_lon), idx(n_lat - 1, j + 1), idx(n_lat - 1, j)], 1)
    i, jj = torch.meshgrid(torch.arange(n_lat - 1), j, indexing="ij")
    i, jj = i.reshape(-1), jj.reshape(-1)
    quads_a = torch.stack([idx(i, jj), idx(i + 1, jj), idx(i + 1, jj + 1)], 1)
    quads_b = torch.stack([idx(i, jj), idx(i + 1, jj + 1), idx(i, jj + 1)], 1)
    f = torch.cat([top, quads_a, quads_b, bottom])
    return v, orient_outward(v, f, center=(0.0, 0.0, 0.0))
