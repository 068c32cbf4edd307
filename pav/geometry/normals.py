"""Per-vertex normals of a triangle mesh."""
from __future__ import annotations

import torch


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals: vertices (V, 3), faces (F, 3) → (V, 3), oriented like
    cross(b − a, c − a) of the faces around each vertex."""
    a, b, c = vertices[faces].unbind(1)
    n = torch.linalg.cross(b - a, c - a)  # length = twice the area: area weighting for free
    acc = torch.zeros_like(vertices).index_add_(0, faces.reshape(-1), n.repeat_interleave(3, 0))
    return acc / acc.norm(dim=-1, keepdim=True).clamp_min(1e-12)
