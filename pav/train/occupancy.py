"""The canonical occupancy grid: which cells of the canonical box may hold density.

- `shell_cells`: cells that can be reached at all: their centre lies within the shell (plus half a cell
  diagonal) of the canonical mesh. Canonicalization keeps normal offsets, so a sample within the shell of a
  frame's mesh lands within the shell of the canonical mesh.
- `update_occupancy`: an exponential-max estimate of the density per reachable cell (Instant-NGP's rule:
  d ← max(0.95·d, σ(random point in the cell))), evaluated under a random training expression and a
  random appearance; a cell stays occupied while d ≥ `threshold`;
- `vertex_extents`: how far above each vertex the occupied cells reach (where rendering starts rays).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..geometry import closest_points
from ..nerf.avatar import Avatar


def cell_size(avatar: Avatar) -> float:
    """The longest side of an occupancy cell (metres)."""
    return float(((avatar.aabb[1] - avatar.aabb[0]) / avatar.occupancy.shape[0]).max())


def cell_centres(G: int, aabb: torch.Tensor) -> torch.Tensor:
    """(G³, 3) canonical-space centres of the grid cells, index order (x, y, z) with z fastest."""
    c = (torch.arange(G, dtype=torch.float32, device=aabb.device) + 0.5) / G
    x01 = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3)
    return aabb[0] + x01 * (aabb[1] - aabb[0])


@torch.no_grad()
def shell_cells(avatar: Avatar) -> torch.Tensor:
    """(G, G, G) bool: cells within reach of the canonical shell. Cells whose nearest VERTEX is farther
    than the reach plus the longest edge cannot be reached (the surface is at least that far) and skip
    the exact query, which is slowest deep inside the head."""
    from scipy.spatial import cKDTree

    G, cfg = avatar.occupancy.shape[0], avatar.config
    vertices, faces = avatar.canonical_vertices, avatar.head.faces
    centres = cell_centres(G, avatar.aabb)
    half_diag = 0.5 * float(((avatar.aabb[1] - avatar.aabb[0]) / G).norm())
    reach = max(cfg.shell_out, cfg.shell_in) + half_diag
    longest_edge = float((vertices[faces] - vertices[faces.roll(1, 1)]).norm(dim=-1).max())
    to_vertex, _ = cKDTree(vertices.cpu().numpy()).query(centres.cpu().numpy())  # host copies (once per run)
    candidates = torch.from_numpy(to_vertex - longest_edge <= reach).to(centres.device).nonzero()[:, 0]
    d = closest_points(centres[candidates], vertices, faces).distance
    near = (d <= cfg.shell_out + half_diag) & (d >= -cfg.shell_in - half_diag)
    cells = torch.zeros(G ** 3, dtype=torch.bool, device=centres.device)
    cells[candidates[near]] = True
    return cells.view(G, G, G)


@torch.no_grad()
def update_occupancy(avatar: Avatar, reachable: torch.Tensor, expressions: torch.Tensor, generator: torch.Generator,
                     decay: float = 0.95, threshold: float = 1.0) -> float:
    """Refresh `avatar.occupancy` in place; expressions (M, E) to draw from. Returns the occupied fraction
    of the reachable cells."""
    G = avatar.occupancy.shape[0]
    cells = reachable.reshape(-1).nonzero()[:, 0]
    ijk = torch.stack([cells // (G * G), (cells // G) % G, cells % G], -1).float()
    dev = generator.device
    x01 = (ijk + torch.rand(len(cells), 3, generator=generator, device=dev)) / G
    x_c = avatar.aabb[0] + x01 * (avatar.aabb[1] - avatar.aabb[0])
    z = None
    if avatar.codes is not None:
        near = closest_points(x_c, avatar.canonical_vertices, avatar.head.faces)
        uv = (near.bary[:, :, None] * avatar.face_uv[near.face_id]).sum(1)
        appearance = torch.randint(len(avatar.appearance_names), (len(cells),), generator=generator, device=dev)
        z = avatar.codes.lookup(uv, appearance)
    n_groups = min(16, len(expressions))
    pick = torch.randint(len(expressions), (n_groups,), generator=generator, device=dev)
    group = torch.randint(n_groups, (len(cells),), generator=generator, device=dev)
    directions = torch.nn.functional.normalize(torch.randn(len(cells), 3, generator=generator, device=dev), dim=-1)
    sigma = avatar.field(x01, directions, expressions[pick], group, z).sigma
    density = avatar.occupancy_density.view(-1)
    density[cells] = torch.maximum(density[cells] * decay, sigma)
    occupied = torch.zeros(G ** 3, dtype=torch.bool, device=dev)
    occupied[cells] = density[cells] >= threshold
    avatar.occupancy.copy_(occupied.view(G, G, G))
    return float(occupied[cells].float().mean())


class ExtentProbes(NamedTuple):
    """Points above each canonical vertex where `vertex_extents` looks for occupied cells."""

    points: torch.Tensor
    """(V, S, 3) canonical points v + h·n at heights h = `heights` along the vertex normal n."""
    heights: torch.Tensor
    """(S,) metres, 0 … shell_out."""
    genuine: torch.Tensor
    """(V, S) bool: the point really is ~h above the surface (its distance to the mesh is at least h minus
    one cell). Points that are closer to some other part of the head (the nose, seen from the cheek)
    do not count for this vertex."""


@torch.no_grad()
def extent_probes(avatar: Avatar, steps: int = 24) -> ExtentProbes:
    """The probes of `vertex_extents` (computed once: the canonical mesh does not change)."""
    from ..geometry.normals import vertex_normals

    v = avatar.canonical_vertices
    n = vertex_normals(v, avatar.head.faces)
    h = torch.linspace(0.0, avatar.config.shell_out, steps, device=v.device)
    points = v[:, None] + h[None, :, None] * n[:, None]  # (V, S, 3)
    distance = closest_points(points.reshape(-1, 3), v, avatar.head.faces).distance.abs().view(len(v), steps)
    return ExtentProbes(points, h, distance >= h - cell_size(avatar))


@torch.no_grad()
def vertex_extents(avatar: Avatar, probes: ExtentProbes | None = None) -> torch.Tensor:
    """(V,) how far above each canonical vertex (along its normal) occupied cells reach, plus one cell
    of margin, at most `shell_out`; only `probes.genuine` points count. Canonicalization keeps normal
    offsets, so this bounds the density above the posed mesh too (rays start there: `Avatar.render`)."""
    probes = probes if probes is not None else extent_probes(avatar)
    V, S = probes.genuine.shape
    occupied = avatar.occupied(avatar.to_unit_cube(probes.points.reshape(-1, 3))).view(V, S) & probes.genuine
    highest = torch.where(occupied, probes.heights, probes.heights.new_zeros(())).max(1).values
    return (highest + cell_size(avatar)).clamp(max=avatar.config.shell_out)
