"""The plain twin of the hash encoding: the spec of `hashgrid.py` written out literally, one level and one
corner at a time, differentiated by autograd. Slow; it exists to be obviously right, and the tests compare
the fast path (`_hashgrid_torch.hashgrid_fast`) with it, forward and backward."""
from __future__ import annotations

from typing import Sequence

import torch

PRIMES = (1, 2654435761, 805459861)
UINT32 = 0xFFFFFFFF


def corner_index(corner: torch.Tensor, spec) -> torch.Tensor:
    """corner (N, 3) int64 grid vertices of one level → (N,) row index within the level."""
    cx, cy, cz = corner.unbind(1)
    if spec.hashed:
        h = ((cx * PRIMES[0]) & UINT32) ^ ((cy * PRIMES[1]) & UINT32) ^ ((cz * PRIMES[2]) & UINT32)
    else:
        res = spec.resolution
        h = cx + cy * res + cz * res * res
    return h % spec.rows


def hashgrid_reference(x: torch.Tensor, params: torch.Tensor, levels: Sequence) -> torch.Tensor:
    """x (N, 3) in [0,1]³, params (rows, F) canonical table, levels from `level_specs` → (N, L·F)."""
    outputs = []
    for spec in levels:
        table = params[spec.offset:spec.offset + spec.rows]
        pos = x * spec.scale + 0.5
        cell = torch.floor(pos).detach()
        frac = pos - cell
        y = torch.zeros(x.shape[0], params.shape[1], dtype=params.dtype, device=params.device)
        for c in range(8):
            bits = [(c >> d) & 1 for d in range(3)]
            corner = cell.to(torch.int64) + torch.tensor(bits, device=x.device)
            weight = torch.ones_like(frac[:, 0])
            for d in range(3):
                weight = weight * (frac[:, d] if bits[d] else 1.0 - frac[:, d])
            y = y + weight.unsqueeze(1) * table[corner_index(corner, spec)]
        outputs.append(y)
    return torch.cat(outputs, dim=1)
