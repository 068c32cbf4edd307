"""Multiresolution hash encoding (Instant-NGP), to the tiny-cuda-nn `HashGrid` specification.

The function, per level l = 0..L-1 (inputs x in [0,1]³, base resolution N_min, growth b, table size
T = 2^log2_hashmap_size, F features per level); all level geometry is computed in float32 exactly as
tcnn's host code does, so the parameter counts agree bit for bit:

    scale_l  = float32(exp2(l · log2(b)) · N_min − 1)
    res_l    = ceil(scale_l) + 1                         grid vertices per axis
    rows_l   = min(next_multiple(res_l³, 8), T)          table rows of the level
    dense_l  = res_l³ ≤ T                                (decided in Python ints: res³ overflows int32)
    pos      = x · scale_l + 0.5,  cell = floor(pos),  frac = pos − cell
    corner c = cell + (c & 1, c>>1 & 1, c>>2 & 1),  weight = Π_d (frac_d if bit_d else 1 − frac_d)
    index    = (c_x + c_y·res_l + c_z·res_l²) % rows_l             dense levels (x fastest)
             = (c_x·1 ⊕ c_y·2654435761 ⊕ c_z·805459861 mod 2³²) % rows_l    hashed levels
    y_l      = Σ_c weight_c · table_l[index_c]                      (F,)

The output is [y_0, y_1, ..., y_{L-1}] concatenated: (N, L·F), level-major, feature-minor.
Because of the +0.5 offset the upper corner of a dense level can reach res_l on an axis; its index then
wraps into the next row or, through `% rows_l`, to the table's start. tcnn does this too (documented in
its source); the torch path reproduces it exactly.

Parameters live in ONE tensor, `HashGrid.params` (rows, F) with rows = Σ rows_l, level l occupying rows
[offset_l, offset_l + rows_l), offset_l = Σ_{k<l} rows_k. Flattened row-major this is exactly
tiny-cuda-nn's `params` vector for `{"otype": "HashGrid", ...}`: checkpoints are backend independent.
Initialisation: U(−1e−4, 1e−4). Inputs outside [0,1]³ are clamped to it (tcnn does not clamp: its
unsigned cell arithmetic wraps around; we clamp on every backend, so all of them compute one function).
See docs/hashgrid.md.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .. import backends
from ..config import HashGridConfig  # defined with the other configs; re-exported here
from ._hashgrid_torch import hashgrid_fast


class LevelSpec(NamedTuple):
    """Geometry of one level, derived from a HashGridConfig by `level_specs`."""

    level: int
    scale: float
    """scale_l: x·scale + 0.5 is the continuous grid coordinate (a float32 value)."""
    resolution: int
    """res_l = ceil(scale_l) + 1 vertices per axis."""
    rows: int
    """rows_l = min(next_multiple(res_l³, 8), T): this level's table rows."""
    offset: int
    """first row of this level in the flat table."""
    hashed: bool
    """True when res_l³ > T (spatial hash), False for a dense level (row-major index, x fastest)."""


def _f32(value: float) -> float:
    """Round a Python float to the nearest float32 (IEEE round-to-nearest-even)."""
    return float(np.float32(value))


def _level_scale(level: int, log2_b: float, base: int) -> float:
    """scale_l = exp2f(l · log2_b) · base − 1 in float32: each step rounded as IEEE float32 does (the
    products and the difference are exact in float64; exp2 is computed in float64, then rounded)."""
    return _f32(_f32(_f32(2.0 ** _f32(level * log2_b)) * base) - 1.0)


def level_specs(config: HashGridConfig) -> tuple[LevelSpec, ...]:
    """Per-level scale, resolution, rows and offset, with tcnn's float32 arithmetic (correctly rounded,
    so the result is the same on every machine; tcnn's libm log2f/exp2f agree to within one ulp)."""
    log2_b = _f32(math.log2(_f32(config.growth)))
    T = 1 << config.log2_hashmap_size
    specs, offset = [], 0
    for level in range(config.n_levels):
        scale = _level_scale(level, log2_b, config.base_resolution)
        res = math.ceil(scale) + 1
        dense_rows = res ** 3
        rows = min(-(-dense_rows // 8) * 8, T)
        specs.append(LevelSpec(level, scale, res, rows, offset, dense_rows > T))
        offset += rows
    return tuple(specs)


def fragile_levels(config: HashGridConfig, ulps: int = 4) -> list[int]:
    """Levels whose layout or function would change if scale_l moved by `ulps` float32 ulps: the
    resolution flips AND the level is dense on either side (a hashed level ignores its resolution). There,
    another libm (tcnn's log2f/exp2f on the host, or the GPU's exp2f) may round to another layout. Level 0
    (exp2(0) = 1) and growths that are powers of two are exact. The `HashGridConfig` presets have none."""
    if math.log2(_f32(config.growth)).is_integer():
        return []
    T = 1 << config.log2_hashmap_size
    fragile = []
    for spec in level_specs(config)[1:]:
        ulp = float(np.spacing(np.float32(spec.scale)))
        low, high = math.ceil(spec.scale - ulps * ulp) + 1, math.ceil(spec.scale + ulps * ulp) + 1
        if low != high and low ** 3 <= T:
            fragile.append(spec.level)
    return fragile


class HashGrid(nn.Module):
    """φ(x): (N, 3) in [0,1]³ → (N, L·F) float. Owns `params` (rows, F) in the canonical (tcnn) layout.

    The backends are chosen once, here, through `pav.backends`; `backend` overrides the PAV_BACKEND
    environment variable. CUDA inputs: tiny-cuda-nn when it imports, else the torch path. CPU inputs: the
    compiled warp kernel (`_hashgrid_warp`, F = 2, table gradients) when warp imports, else the torch path
    (also for inputs that need a gradient for x).
    """

    def __init__(self, config: HashGridConfig | None = None, *, backend: str | None = None,
                 seed: int | None = None):
        super().__init__()
        self.config = config if config is not None else HashGridConfig()
        self.levels = level_specs(self.config)
        last = self.levels[-1]
        self.n_rows = last.offset + last.rows
        self.n_output_dims = self.config.n_output_dims
        table = torch.empty(self.n_rows, self.config.n_features_per_level)
        gen = torch.Generator(device=table.device).manual_seed(seed) if seed is not None else None
        self.params = nn.Parameter(table.uniform_(-1e-4, 1e-4, generator=gen))
        choice = backends.choose_hashgrid_backend(backend, n_features_per_level=self.config.n_features_per_level)
        self.backend, self.backend_reason = choice.name, choice.reason
        cpu = backends.hashgrid_cpu_backend(None if backend == "tcnn" else backend,
                                            n_features_per_level=self.config.n_features_per_level)
        self.cpu_backend, self.cpu_backend_reason = cpu.name, cpu.reason
        self._tcnn = None
        if choice.name == "tcnn":
            from ._hashgrid_tcnn import TcnnHashGrid  # only reached when tinycudann imported with CUDA
            self._tcnn = TcnnHashGrid(self.config, self.n_rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 3) positions, [0,1]³ (clamped) → (N, L·F) features, level-major."""
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"HashGrid: x must be (N, 3), got {tuple(x.shape)}")
        x = x.clamp(0.0, 1.0)
        if self._tcnn is not None and x.is_cuda:
            return self._tcnn(x, self.params)
        x = x.to(self.params.dtype)
        if self.cpu_backend == "warp":
            from . import _hashgrid_warp

            if _hashgrid_warp.supports(x, self.params):
                return _hashgrid_warp.hashgrid_warp(x, self.params, self.levels)
        return hashgrid_fast(x, self.params, self.levels)

    def level_table(self, level: int) -> torch.Tensor:
        """(rows_l, F) view of one level's rows of `params`."""
        spec = self.levels[level]
        return self.params[spec.offset:spec.offset + spec.rows]

    def extra_repr(self) -> str:
        c = self.config
        return (f"levels={c.n_levels}, features={c.n_features_per_level}, T=2^{c.log2_hashmap_size}, "
                f"res={self.levels[0].resolution}..{self.levels[-1].resolution}, rows={self.n_rows}, "
                f"backend={self.backend}")
