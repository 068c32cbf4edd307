"""Optional tiny-cuda-nn backend of the hash encoding (CUDA only), reading PAV's canonical parameters.

Layout conversion (canonical ⇄ tcnn). tcnn's `HashGrid` keeps one flat vector, level after level; level l
starts at element offset_l·F and its row r, feature f is element (offset_l + r)·F + f, with the same
offset_l and rows_l as `level_specs`. That is exactly `params.reshape(-1)` of the canonical (rows, F)
table, so converting is a reshape plus a dtype cast, and both directions assert the sizes (tcnn's
parameter count has differed between builds before: a mismatch must fail loudly, never load garbage).

This module is imported only when `pav.backends` found tinycudann importable with CUDA present; it gets
the module from there and never imports it itself.
"""
from __future__ import annotations

import warnings

import torch

from .. import backends
from .hashgrid import HashGridConfig, fragile_levels


def tcnn_encoding_config(config: HashGridConfig) -> dict:
    """The tcnn encoding JSON equivalent to `config` (linear interpolation, coherent-prime hash)."""
    return {"otype": "HashGrid", "n_levels": config.n_levels,
            "n_features_per_level": config.n_features_per_level,
            "log2_hashmap_size": config.log2_hashmap_size, "base_resolution": config.base_resolution,
            "per_level_scale": config.growth, "interpolation": "Linear"}


def canonical_to_tcnn(params: torch.Tensor, n_params: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Canonical (rows, F) table → tcnn's flat (rows·F,) vector in `dtype` (differentiable)."""
    if params.ndim != 2 or params.numel() != n_params:
        raise ValueError(f"canonical_to_tcnn: params {tuple(params.shape)} do not hold tcnn's {n_params} values")
    return params.reshape(-1).to(dtype).contiguous()


def tcnn_to_canonical(flat: torch.Tensor, n_rows: int, n_features: int) -> torch.Tensor:
    """tcnn's flat (rows·F,) vector (any float dtype) → canonical (rows, F) float32 table."""
    if flat.ndim != 1 or flat.numel() != n_rows * n_features:
        raise ValueError(f"tcnn_to_canonical: got {tuple(flat.shape)}, expected ({n_rows * n_features},) "
                         f"= {n_rows} rows × {n_features} features")
    return flat.detach().float().view(n_rows, n_features).clone()


class TcnnHashGrid:
    """Callable (x (N, 3) CUDA, params (rows, F)) → (N, L·F) float32 through tcnn's fused kernels.

    Not an nn.Module on purpose: the parameters stay in `HashGrid.params` (canonical layout); tcnn's own
    parameter vector is dropped and the canonical one, flattened, is handed to it on every call, so
    autograd delivers the gradient straight to `HashGrid.params`.
    """

    def __init__(self, config: HashGridConfig, n_rows: int, dtype: torch.dtype = torch.float32):
        tcnn = backends.tcnn_module()
        self.config, self.n_rows, self.dtype = config, n_rows, dtype
        self.encoding = tcnn.Encoding(3, tcnn_encoding_config(config), dtype=dtype)
        got = self.encoding.params.numel()
        self.n_params = n_rows * config.n_features_per_level
        if got != self.n_params:
            raise RuntimeError(
                f"tiny-cuda-nn allocates {got} hash-grid parameters, PAV's layout has {self.n_params} "
                f"({n_rows} rows × {config.n_features_per_level}); fragile levels: {fragile_levels(config)}. "
                "This tcnn build computes a different layout: use PAV_BACKEND=torch.")
        fragile = fragile_levels(config)
        if fragile:
            warnings.warn(f"hash grid levels {fragile} have a scale within float32 rounding of an integer; "
                          "tcnn's GPU exp2f may pick another resolution there than PAV (see "
                          "docs/hashgrid.md). Prefer a configuration without fragile levels.", RuntimeWarning)
        del self.encoding.params                      # ours replace it, see the class docstring
        self.n_output_dims = config.n_levels * config.n_features_per_level

    def __call__(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        if not (x.is_cuda and params.is_cuda):
            raise ValueError(f"TcnnHashGrid: x and params must be CUDA tensors (got {x.device}, {params.device})")
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"TcnnHashGrid: x must be (N, 3), got {tuple(x.shape)}")
        # tcnn's Module.forward pads the batch, casts and slices; it reads the parameters from `.params`.
        self.encoding.params = canonical_to_tcnn(params, self.n_params, self.dtype)
        try:
            out = self.encoding(x.float().contiguous())
        finally:
            del self.encoding.params                  # do not keep a reference to this step's graph
        return out[:, :self.n_output_dims].float()
