"""Real spherical harmonics of a unit direction, degrees 0..3 (16 functions), orthonormal on the sphere.

Used to encode view directions for the colour MLP (as Instant-NGP's SphericalHarmonics encoding).
The constants are the standard real SH normalisations; a test checks orthonormality by quadrature.
"""
from __future__ import annotations

import math

import torch

_C0 = 0.5 * math.sqrt(1 / math.pi)
_C1 = math.sqrt(3 / (4 * math.pi))
_C2 = (0.5 * math.sqrt(15 / math.pi), 0.25 * math.sqrt(5 / math.pi), 0.25 * math.sqrt(15 / math.pi))
_C3 = (0.25 * math.sqrt(35 / (2 * math.pi)), 0.5 * math.sqrt(105 / math.pi), 0.25 * math.sqrt(21 / (2 * math.pi)),
       0.25 * math.sqrt(7 / math.pi), 0.25 * math.sqrt(105 / math.pi))


def spherical_harmonics(d: torch.Tensor, degree: int = 4) -> torch.Tensor:
    """Unit directions (N, 3) → (N, degree²) real SH values (degree = number of bands, 1..4)."""
    if d.ndim != 2 or d.shape[1] != 3 or not 1 <= degree <= 4:
        raise ValueError(f"spherical_harmonics: d must be (N, 3) and degree 1..4, got {tuple(d.shape)}, {degree}")
    x, y, z = d.unbind(-1)
    out = [torch.full_like(x, _C0)]
    if degree > 1:
        out += [_C1 * y, _C1 * z, _C1 * x]
    if degree > 2:
        out += [_C2[0] * x * y, _C2[0] * y * z, _C2[1] * (3 * z * z - 1), _C2[0] * x * z, _C2[2] * (x * x - y * y)]
    if degree > 3:
        out += [_C3[0] * y * (3 * x * x - y * y), _C3[1] * x * y * z, _C3[2] * y * (5 * z * z - 1),
                _C3[3] * z * (5 * z * z - 3), _C3[2] * x * (5 * z * z - 1), _C3[4] * z * (x * x - y * y),
                _C3[0] * x * (x * x - 3 * y * y)]
    return torch.stack(out, dim=-1)
