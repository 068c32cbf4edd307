"""Throughput of the hash encoding on this machine: `bench_hashgrid()` (called by `python -m pav bench`).

Each pass is timed `repeats` times after a warm-up; the median is reported, and the best as well: on a
shared 2-core machine another process that takes a core stalls every 2-thread op, so the best repeat is
the closest estimate of the quiet-machine speed. Run alone: `python -m pav.nerf.bench_hashgrid`. The grids
timed are the caller's: `python -m pav bench` passes the cpu and paper presets' own grids
(`pav.bench.hashgrid_configs`), as does this module run as a script.
"""
from __future__ import annotations

import json

import torch

from ..timing import time_calls
from .hashgrid import HashGrid, HashGridConfig


def bench_hashgrid(configs: dict[str, HashGridConfig], batch: int = 1 << 17, repeats: int = 5,
                   threads: int | None = 2, seed: int = 0) -> dict:
    """Samples/s of HashGrid forward (no grad) and forward+backward (grad of params) at `batch` samples,
    for each named config.

    Returns {"batch", "threads", "backend", "configs": {name: {"levels", "features", "log2_T", "params",
    "forward_samples_per_s", "forward_backward_samples_per_s" (medians), "forward_best_samples_per_s",
    "forward_backward_best_samples_per_s", "forward_ms", "forward_backward_ms" (medians)}}}.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, generator=gen)
    upstream = None
    result = {"batch": batch, "threads": torch.get_num_threads(), "configs": {}}
    for name, config in configs.items():
        grid = HashGrid(config, seed=seed, backend="torch")
        if upstream is None or upstream.shape[1] != grid.n_output_dims:
            upstream = torch.randn(batch, grid.n_output_dims, generator=gen)

        def forward():
            with torch.no_grad():
                grid(x)

        def forward_backward():
            grid.params.grad = None
            (grid(x) * upstream).sum().backward()

        t_f, best_f = time_calls(forward, repeats)
        t_fb, best_fb = time_calls(forward_backward, repeats)
        result["backend"] = grid.backend
        result["configs"][name] = {
            "levels": config.n_levels, "features": config.n_features_per_level,
            "log2_T": config.log2_hashmap_size, "params": grid.params.numel(),
            "forward_samples_per_s": batch / t_f, "forward_backward_samples_per_s": batch / t_fb,
            "forward_best_samples_per_s": batch / best_f, "forward_backward_best_samples_per_s": batch / best_fb,
            "forward_ms": 1e3 * t_f, "forward_backward_ms": 1e3 * t_fb,
        }
    return result


def _table(result: dict) -> str:
    lines = [f"batch {result['batch']}, {result['threads']} threads, backend {result['backend']}",
             "config      params   fwd M/s (median/best)   fwd+bwd M/s (median/best)"]
    for name, r in result["configs"].items():
        lines.append(f"{name:10s} {r['params'] / 1e6:6.2f}M   {r['forward_samples_per_s'] / 1e6:5.2f} / "
                     f"{r['forward_best_samples_per_s'] / 1e6:5.2f}           "
                     f"{r['forward_backward_samples_per_s'] / 1e6:5.2f} / "
                     f"{r['forward_backward_best_samples_per_s'] / 1e6:5.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    from ..bench import hashgrid_configs

    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 17
    out = bench_hashgrid(hashgrid_configs(), batch=batch)
    print(_table(out))
    print(json.dumps(out))
