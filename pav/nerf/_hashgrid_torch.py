"""The hash encoding in pure torch, tuned for CPU (the runtime path here; spec in `hashgrid.py`).

What makes it fast on a 2-core CPU (measured, docs/hashgrid.md):
- one level at a time, so only that level's table is hot in cache;
- corners as (2, 2, 2, N) tensors, batch innermost, built by broadcasting per-axis terms (2, N);
- the F features of a row are gathered as ONE machine word (2 × fp32 → int64) with a 1-D index_select;
- a custom autograd.Function that keeps each level's corner indices and per-axis weights for backward,
  which scatters with one 1-D scatter_add_ per level and feature column (no flattened index).
`_hashgrid_ref.hashgrid_reference` is the plain twin it is tested against.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch.autograd.function import once_differentiable

PRIMES = (1, 2654435761, 805459861)
"""tcnn's coherent-prime hash: index = ⊕_d c_d · PRIMES[d] (mod 2³²)."""


def _words(table: torch.Tensor) -> torch.Tensor:
    """(rows, F) float table → the same bytes as one integer word per row (1-D) when a row is 2, 4 or 8
    bytes, else (rows, W) int64/int32/int16 words. A 1-D gather of words is ~1.7× faster than gathering
    2-D float rows, and ~5× faster than `table[idx]` (measured: docs/hashgrid.md)."""
    nbytes = table.shape[1] * table.element_size()
    for dtype, size in ((torch.int64, 8), (torch.int32, 4), (torch.int16, 2)):
        if nbytes % size == 0:
            words = table.view(dtype)
            return words[:, 0] if words.shape[1] == 1 else words
    return table


def _corners(xt: torch.Tensor, spec) -> tuple[torch.Tensor, torch.Tensor]:
    """xt (3, N) → index (8·N,) int64 into the level's rows, corner-major (c = 4z + 2y + x, batch inner),
    and the per-axis weights w (3, 2, N): w[d, 0] = 1 − frac_d, w[d, 1] = frac_d."""
    n = xt.shape[1]
    pos = torch.mul(xt, spec.scale).add_(0.5)        # few, in-place ops: fresh memory is slow here
    cell = pos.floor()
    w = xt.new_empty(3, 2, n)
    torch.sub(pos, cell, out=w[:, 1])
    torch.neg(w[:, 1], out=w[:, 0]).add_(1.0)
    c2 = torch.empty(3, 2, n, dtype=torch.int64, device=xt.device)   # (3, 2, N): cell, cell + 1
    c2[:, 0] = cell
    torch.add(c2[:, 0], 1, out=c2[:, 1])
    if spec.hashed:
        mask = spec.rows - 1                                             # rows == T, a power of two
        terms = c2.mul_(c2.new_tensor(PRIMES).view(3, 1, 1)).bitwise_and_(mask)
        idx = terms[2].view(2, 1, 1, n) ^ terms[1].view(1, 2, 1, n) ^ terms[0].view(1, 1, 2, n)
    else:
        res = spec.resolution
        terms = c2.mul_(c2.new_tensor((1, res, res * res)).view(3, 1, 1))
        idx = terms[2].view(2, 1, 1, n) + terms[1].view(1, 2, 1, n) + terms[0].view(1, 1, 2, n)
        if math.ceil(spec.scale + 0.5) + 1 >= res:                       # the +0.5 offset can wrap
            idx = torch.where(idx >= spec.rows, idx - spec.rows, idx)   # max index < 2·rows
    return idx.view(-1), w


def _weights(w: torch.Tensor) -> torch.Tensor:
    """Per-axis weights (3, 2, N) → corner weights (8, N), c = 4z + 2y + x."""
    n = w.shape[2]
    return (w[2].view(2, 1, 1, n) * w[1].view(1, 2, 1, n) * w[0].view(1, 1, 2, n)).view(8, n)


def _gather(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """table (rows, F), idx (8·N,) → values (8, N, F)."""
    words = _words(table)
    vals = words.index_select(0, idx)
    return vals.view(table.dtype).view(8, -1, table.shape[1])


class _HashGridFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, params, levels, keep):
        n, n_feat = x.shape[0], params.shape[1]
        xt = x.t().contiguous()
        out = x.new_empty(n, len(levels), n_feat)
        kept = []
        for spec in levels:
            table = params[spec.offset:spec.offset + spec.rows]
            idx, w = _corners(xt, spec)
            out[:, spec.level] = (_gather(table, idx) * _weights(w).unsqueeze(2)).sum(0)
            if keep:                       # for backward (recomputing them there is ~11 % slower overall)
                kept += (idx, w)
        ctx.save_for_backward(params, *kept)     # freed by autograd after backward
        ctx.levels = levels
        return out.view(n, len(levels) * n_feat)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        params, *kept = ctx.saved_tensors
        n, n_feat = grad_out.shape[0], params.shape[1]
        want_x, want_params = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g_all = grad_out.reshape(n, len(ctx.levels), n_feat)
        grad_params = torch.zeros_like(params) if want_params else None
        grad_x = params.new_zeros(3, n) if want_x else None
        for spec in ctx.levels:
            idx, w = kept[2 * spec.level], kept[2 * spec.level + 1]
            weights = _weights(w)                                        # (8, N)
            g = g_all[:, spec.level]                                     # (N, F)
            if want_params:                  # one 1-D scatter per feature column of this level's rows
                rows = grad_params[spec.offset:spec.offset + spec.rows]
                for f in range(n_feat):
                    rows[:, f].scatter_add_(0, idx, (weights * g[:, f]).view(-1))
            if want_x:
                table = params[spec.offset:spec.offset + spec.rows]
                gv = (_gather(table, idx) * g.unsqueeze(0)).sum(2).view(2, 2, 2, n)   # z, y, x, N
                wx, wy, wz = w[0], w[1], w[2]
                dx = (gv[:, :, 1] - gv[:, :, 0]) * (wz.unsqueeze(1) * wy.unsqueeze(0))
                dy = (gv[:, 1, :] - gv[:, 0, :]) * (wz.unsqueeze(1) * wx.unsqueeze(0))
                dz = (gv[1] - gv[0]) * (wy.unsqueeze(1) * wx.unsqueeze(0))
                grad_x += torch.stack((dx.sum((0, 1)), dy.sum((0, 1)), dz.sum((0, 1)))) * spec.scale
        return (grad_x.t() if want_x else None), grad_params, None, None


def hashgrid_fast(x: torch.Tensor, params: torch.Tensor, levels: Sequence) -> torch.Tensor:
    """x (N, 3) in [0,1]³, params (rows, F), levels from `level_specs` → (N, L·F), differentiable in
    params and x (first order). Same dtype as params (float32 or float64)."""
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"hashgrid_fast: x must be (N, 3), got {tuple(x.shape)}")
    last = levels[-1]
    if params.ndim != 2 or params.shape[0] != last.offset + last.rows:
        raise ValueError(f"hashgrid_fast: params must be ({last.offset + last.rows}, F), got {tuple(params.shape)}")
    if x.dtype != params.dtype:
        raise ValueError(f"hashgrid_fast: x is {x.dtype} but params are {params.dtype}")
    keep = torch.is_grad_enabled() and (x.requires_grad or params.requires_grad)
    return _HashGridFunction.apply(x, params.contiguous(), tuple(levels), keep)
