"""Optional regularizers for views the training camera never saw (issue 18 §2); all off by default.

Each term is a plain function of tensors the trainer already has; `TrainConfig` holds their weights.

- `distortion_loss` (Mip-NeRF 360, Barron et al. 2022): per ray with weights w_i on intervals of midpoint
  s_i and length δ_i (distances normalised by the ray's sampled length),
      L = Σ_i Σ_j w_i w_j |s_i − s_j| + ⅓ Σ_i w_i² δ_i,
  the exact ∫∫ w(u) w(v) |u − v| du dv of the piecewise-constant weight density w_i / δ_i. It is small
  when a ray's weight sits in one short interval: it pulls density into a surface and removes floaters.
  Computed in O(K) with cumulative sums (samples sorted along the ray); the O(K²) twin is in the test.
- `alpha_entropy`: the binary entropy −a ln a − (1 − a) ln(1 − a) of a ray's accumulated opacity a,
  pushing pixels to fully opaque or fully transparent (no half-transparent haze).
- `far_density`: on random canonical points at height h above the surface (`shell_probes`), the opacity
  1 − exp(−σ δ) that a sample of length δ would have there, weighted by a ramp that is 0 below
  `start` and 1 from `stop` on: density far from the mesh costs something wherever no training ray
  asks for it (the colour loss outweighs it where rays do).
- `inner_transparency`: on random canonical points in the layer `shell_in` below the surface, the
  transparency exp(−σ δ) of a sample of length δ: the tracked skin is opaque, also on the sides and back
  of the head that the training camera hardly saw (where novel views otherwise show holes).
- `sh_dirichlet_energy`: the view-dependent part of the colour. MLP-C's first layer sees the view
  direction d as W·Y(d) (Y the real SH basis); its Dirichlet energy on the sphere,
      ∫_{S²} |∇_S (W Y)|² dΩ = Σ_l l(l+1) Σ_m |W_{:, lm}|²
  (SH are orthonormal eigenfunctions of the Laplace–Beltrami operator with eigenvalue −l(l+1)),
  penalises fast variation with d while leaving the constant band l = 0 free.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


def distortion_loss(weights: torch.Tensor, t: torch.Tensor, dt: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """weights, t, dt (R, K): per-sample weights, midpoints (increasing along each ray) and lengths;
    length (R,) the ray's sampled length (far − near) that distances are normalised by → (R,) loss."""
    scale = 1.0 / length.clamp_min(1e-12)[:, None]
    s, ds = t * scale, dt * scale
    w_before = torch.cumsum(weights, 1) - weights  # Σ_{j<i} w_j
    ws_before = torch.cumsum(weights * s, 1) - weights * s  # Σ_{j<i} w_j s_j
    # Σ_i Σ_j w_i w_j |s_i − s_j| = 2 Σ_i w_i (s_i Σ_{j<i} w_j − Σ_{j<i} w_j s_j) for sorted s
    cross = 2 * (weights * (s * w_before - ws_before)).sum(1)
    return cross + (weights ** 2 * ds).sum(1) / 3


def alpha_entropy(alpha: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """(R,) accumulated opacity → (R,) binary entropy in nats (alpha clamped to [eps, 1 − eps])."""
    a = alpha.clamp(eps, 1 - eps)
    return -(a * torch.log(a) + (1 - a) * torch.log1p(-a))


def far_density(sigma: torch.Tensor, height: torch.Tensor, start: float, stop: float, delta: float) -> torch.Tensor:
    """sigma (N,) density at probe points at height (N,) metres above the surface → (N,) penalty
    ramp(h) · (1 − exp(−σ δ)), ramp 0 at h ≤ start rising linearly to 1 at h ≥ stop."""
    if not 0 <= start < stop:
        raise ValueError(f"far_density: need 0 ≤ start < stop, got start={start}, stop={stop}")
    ramp = ((height - start) / (stop - start)).clamp(0, 1)
    return ramp * -torch.expm1(-sigma * delta)


def inner_transparency(sigma: torch.Tensor, delta: float) -> torch.Tensor:
    """sigma (N,) density at probe points under the surface → (N,) transparency exp(−σ δ)."""
    return torch.exp(-sigma * delta)


def sh_dirichlet_energy(weight: torch.Tensor, degree: int) -> torch.Tensor:
    """weight (H, degree²): the columns of a linear layer that multiply the SH values (band l occupies
    columns l² … (l+1)² − 1) → Σ_l l(l+1) Σ_m |W_{:, lm}|² (scalar)."""
    if weight.ndim != 2 or weight.shape[1] != degree ** 2:
        raise ValueError(f"sh_dirichlet_energy: weight must be (H, {degree ** 2}), got {tuple(weight.shape)}")
    band = torch.cat([torch.full((2 * l + 1,), float(l * (l + 1))) for l in range(degree)]).to(weight)
    return (weight ** 2 * band).sum()


class ShellProbes(NamedTuple):
    """Random canonical points in the shell above the canonical mesh."""

    points: torch.Tensor
    """(N, 3) canonical positions a + h·n̂ (a on a face, n̂ its unit normal)."""
    height: torch.Tensor
    """(N,) h, metres above the surface along the face normal (negative below it)."""
    face: torch.Tensor
    """(N,) int64 face the point stands on."""
    bary: torch.Tensor
    """(N, 3) barycentrics of its foot point a."""


def shell_probes(vertices: torch.Tensor, faces: torch.Tensor, n: int, max_height: float,
                 generator: torch.Generator, min_height: float = 0.0) -> ShellProbes:
    """n points: a face drawn by area, a uniform point on it, a height uniform in [min_height, max_height]
    along its normal (negative: below the surface). vertices (V, 3), faces (F, 3)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    normal = torch.linalg.cross(b - a, c - a)
    area = normal.norm(dim=-1)
    dev = vertices.device
    face = torch.multinomial(area, n, replacement=True, generator=generator)
    r = torch.rand(n, 3, generator=generator, device=dev, dtype=vertices.dtype)
    flip = r[:, 0] + r[:, 1] > 1  # fold the unit square onto the triangle: uniform barycentrics
    u = torch.where(flip, 1 - r[:, 0], r[:, 0])
    v = torch.where(flip, 1 - r[:, 1], r[:, 1])
    bary = torch.stack([1 - u - v, u, v], -1)
    foot = (bary[:, :, None] * vertices[faces[face]]).sum(1)
    height = min_height + r[:, 2] * (max_height - min_height)
    points = foot + height[:, None] * normal[face] / area[face, None]
    return ShellProbes(points, height, face, bary)
