"""The hash encoding as one compiled warp-lang kernel per pass, for the CPU (spec in `hashgrid.py`).

The torch path (`_hashgrid_torch.hashgrid_fast`) builds each level's corner indices, weights and gathered
rows as whole tensors; here one kernel thread walks one sample through all levels and corners with
everything in registers. Same function, same float32 arithmetic up to summation order and fused
multiply-adds (tests/test_hashgrid.py compares it with the torch path and the reference twin).

Scope: F = 2 features per level (both presets), gradients for the table only (the renderer and the
trainer never differentiate the positions); anything else takes the torch path (`supports`).
CPU launches run on the calling thread with the GIL released, so the forward pass splits the samples over
`torch.get_num_threads()` threads; the backward pass gives each thread its own gradient table (a CPU
launch adds without atomics) and sums them.
Imported only when this backend runs (never at `import pav`); the kernels compile once per machine.
"""
from __future__ import annotations

import torch
import warp as wp

from ..geometry import _warp  # noqa: F401  (wp.init() without the missing-driver warning, shared pool)
from ..geometry._warp import run_parts, split_work

__all__ = ["supports", "hashgrid_warp"]


@wp.func
def _corner_row(cx: int, cy: int, cz: int, rows: int, res: int, hashed: int) -> int:
    if hashed == 1:
        h = (wp.uint32(cx) * wp.uint32(1)) ^ (wp.uint32(cy) * wp.uint32(wp.int32(-1640531535))) ^ (wp.uint32(cz) * wp.uint32(805459861))
        return int(h & wp.uint32(rows - 1))
    return (cx + cy * res + cz * res * res) % rows


@wp.func
def _corner(p: wp.vec3, s: float, c: int, rows: int, res: int, hashed: int):
    """Corner c (= 4z + 2y + x) of the level's cell around p (scale s): its trilinear weight and its row."""
    q = p * s + wp.vec3(0.5, 0.5, 0.5)
    f = wp.vec3(wp.floor(q[0]), wp.floor(q[1]), wp.floor(q[2]))
    t = q - f
    bx, by, bz = c & 1, (c >> 1) & 1, (c >> 2) & 1
    w = wp.where(bx == 1, t[0], 1.0 - t[0]) * wp.where(by == 1, t[1], 1.0 - t[1]) * wp.where(bz == 1, t[2], 1.0 - t[2])
    return w, _corner_row(int(f[0]) + bx, int(f[1]) + by, int(f[2]) + bz, rows, res, hashed)


@wp.kernel
def _forward(x: wp.array(dtype=wp.vec3), table: wp.array(dtype=wp.vec2), offsets: wp.array(dtype=int),
             rows: wp.array(dtype=int), res: wp.array(dtype=int), hashed: wp.array(dtype=int),
             scales: wp.array(dtype=float), level: int, out: wp.array2d(dtype=wp.vec2)):
    i = wp.tid()
    acc = wp.vec2(0.0, 0.0)
    for c in range(8):
        w, row = _corner(x[i], scales[level], c, rows[level], res[level], hashed[level])
        acc = acc + w * table[offsets[level] + row]
    out[i, level] = acc


@wp.kernel
def _backward(x: wp.array(dtype=wp.vec3), grad_out: wp.array2d(dtype=wp.vec2), offsets: wp.array(dtype=int),
              rows: wp.array(dtype=int), res: wp.array(dtype=int), hashed: wp.array(dtype=int),
              scales: wp.array(dtype=float), level: int, grad_table: wp.array(dtype=wp.vec2)):
    i = wp.tid()
    g = grad_out[i, level]
    for c in range(8):
        w, row = _corner(x[i], scales[level], c, rows[level], res[level], hashed[level])
        j = offsets[level] + row
        grad_table[j] = grad_table[j] + w * g


_LEVEL_ARRAYS: dict = {}


def _levels(levels) -> tuple:
    """The level geometry as warp arrays (cached per level tuple)."""
    key = tuple(levels)
    if key not in _LEVEL_ARRAYS:
        as_int = lambda values: wp.array(list(values), dtype=int, device="cpu")  # noqa: E731
        _LEVEL_ARRAYS[key] = (as_int(s.offset for s in levels), as_int(s.rows for s in levels),
                              as_int(s.resolution for s in levels), as_int(int(s.hashed) for s in levels),
                              wp.array([s.scale for s in levels], dtype=float, device="cpu"))
    return _LEVEL_ARRAYS[key]


def supports(x: torch.Tensor, params: torch.Tensor) -> bool:
    """This kernel computes the encoding for these inputs (CPU, float32, F = 2, no gradient for x)."""
    return (x.device.type == "cpu" and params.device.type == "cpu" and params.dtype == torch.float32
            and params.shape[1] == 2 and not x.requires_grad)


MIN_PART = 4096
"""samples per launch at least: smaller batches run on one thread."""


def _run(kernel, parts, n_levels, make_args) -> None:
    """Launch `kernel` on each (start, stop) part, level after level (one level's table stays in cache):
    the first part on this thread, the rest on the pool."""
    def launch(k, a, b):
        args = make_args(k, a, b)
        for level in range(n_levels):
            wp.launch(kernel, dim=b - a, inputs=[*args[:-1], level, args[-1]], device="cpu")

    run_parts(launch, parts)


class _HashGridWarp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, params, levels):
        n, L = x.shape[0], len(levels)
        x = x.contiguous()
        out = torch.empty(n, L, 2, dtype=torch.float32, device=x.device)
        geometry = _levels(levels)
        parts = split_work(n, torch.get_num_threads(), MIN_PART)
        table = wp.from_torch(params.detach(), dtype=wp.vec2)
        if n:
            _run(_forward, parts, L, lambda k, a, b: [wp.from_torch(x[a:b], dtype=wp.vec3), table, *geometry,
                                                      wp.from_torch(out[a:b], dtype=wp.vec2)])
        ctx.save_for_backward(x)
        ctx.levels, ctx.rows = levels, params.shape[0]
        return out.view(n, L * 2)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        levels, n = ctx.levels, x.shape[0]
        if not ctx.needs_input_grad[1] or n == 0:
            return None, None, None
        g = grad.reshape(n, len(levels), 2).to(torch.float32).contiguous()
        parts = split_work(n, torch.get_num_threads(), MIN_PART)
        tables = [torch.zeros(ctx.rows, 2, dtype=torch.float32, device=x.device) for _ in parts]
        geometry = _levels(levels)
        _run(_backward, parts, len(levels), lambda k, a, b: [wp.from_torch(x[a:b], dtype=wp.vec3),
                                                             wp.from_torch(g[a:b], dtype=wp.vec2), *geometry,
                                                             wp.from_torch(tables[k], dtype=wp.vec2)])
        for extra in tables[1:]:
            tables[0] += extra
        return None, tables[0], None


def hashgrid_warp(x: torch.Tensor, params: torch.Tensor, levels) -> torch.Tensor:
    """x (N, 3) in [0,1]³ (no gradient), params (rows, 2) float32 CPU, levels from `level_specs` →
    (N, 2L), differentiable in params. Call only where `supports(x, params)`."""
    return _HashGridWarp.apply(x, params, tuple(levels))
