"""Volume rendering by alpha compositing (NeRF quadrature), on a dense (rays, samples) layout.

For ray r with samples i = 0..K−1 at distances t_i (sorted) and lengths δ_i:
    α_i = 1 − exp(−σ_i δ_i),   T_i = exp(−Σ_{j<i} σ_j δ_j),   w_i = T_i α_i
    rgb = Σ w_i c_i + (1 − Σ w_i) · background,   alpha = Σ w_i,
    depth = Σ w_i t_i / max(alpha, ε)   (the expected termination depth of the ray, given it terminates)
Samples that are skipped (outside the shell, empty occupancy) simply carry σ = 0.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class Composite(NamedTuple):
    rgb: torch.Tensor
    """(R, 3) composited colour over the background."""
    alpha: torch.Tensor
    """(R,) accumulated opacity Σ w."""
    depth: torch.Tensor
    """(R,) expected termination depth (ray distance t) given termination; 0 where alpha ≈ 0."""
    weights: torch.Tensor
    """(R, K) per-sample weights w."""


def sample_weights(sigma: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """(R, K) weights w_i = T_i α_i of densities sigma (R, K) ≥ 0 over sample lengths dt (R, K)."""
    tau = sigma * dt
    alpha_i = 1.0 - torch.exp(-tau)
    transmittance = torch.exp(-(torch.cumsum(tau, dim=1) - tau))  # exclusive cumulative sum
    return transmittance * alpha_i


def composite(sigma: torch.Tensor, rgb: torch.Tensor, t: torch.Tensor, dt: torch.Tensor,
              background: torch.Tensor | None = None, eps: float = 1e-6) -> Composite:
    """sigma (R, K) ≥ 0 densities; rgb (R, K, 3); t, dt (R, K) sample distances and lengths;
    background (R, 3) or (3,) or None (black)."""
    if sigma.ndim != 2 or rgb.shape != (*sigma.shape, 3) or t.shape != sigma.shape or dt.shape != sigma.shape:
        raise ValueError(f"composite: sigma {tuple(sigma.shape)}, rgb {tuple(rgb.shape)}, t {tuple(t.shape)}, "
                         f"dt {tuple(dt.shape)} must be (R, K), (R, K, 3), (R, K), (R, K)")
    weights = sample_weights(sigma, dt)
    acc = weights.sum(1)
    color = (weights[..., None] * rgb).sum(1)
    if background is not None:
        color = color + (1.0 - acc)[:, None] * background
    depth = (weights * t).sum(1) / acc.clamp_min(eps)
    return Composite(color, acc, depth, weights)
