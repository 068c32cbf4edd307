"""Throughput of the hash encoding on this machine: `bench_hashgrid()` (called by `python -m pav bench`).

Timings are the median of several repeats after a warm-up (these machines are shared; the median is
robust to another process stealing a core for a moment). Run alone: `python -m pav.nerf.bench_hashgrid`.
"""
from __future__ import annotations

import json
import statistics
import time

import torch

from .hashgrid import HashGrid, HashGridConfig

CONFIGS = {
    "cpu": HashGridConfig.cpu(),
    "paper": HashGridConfig.paper(),
    "paper_T14": HashGridConfig(log2_hashmap_size=14),
}


def _median_seconds(fn, repeats: int) -> float:
    fn()                                                   # warm-up (allocator, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_hashgrid(batch: int = 1 << 17, repeats: int = 5, threads: int | None = 2,
                   configs: dict[str, HashGridConfig] | None = None, seed: int = 0) -> dict:
    """Samples/s of HashGrid forward (no grad) and forward+backward (grad of params) at `batch` samples.

    Returns {"batch", "threads", "backend", "configs": {name: {"levels", "features", "log2_T", "params",
    "forward_samples_per_s", "forward_backward_samples_per_s", "forward_ms", "forward_backward_ms"}}}.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, generator=gen)
    upstream = None
    result = {"batch": batch, "threads": torch.get_num_threads(), "configs": {}}
    for name, config in (configs or CONFIGS).items():
        grid = HashGrid(config, seed=seed, backend="torch")
        if upstream is None or upstream.shape[1] != grid.n_output_dims:
            upstream = torch.randn(batch, grid.n_output_dims, generator=gen)

        def forward():
            with torch.no_grad():
                grid(x)

        def forward_backward():
            grid.params.grad = None
            (grid(x) * upstream).sum().backward()

        t_f = _median_seconds(forward, repeats)
        t_fb = _median_seconds(forward_backward, repeats)
        result["backend"] = grid.backend
        result["configs"][name] = {
            "levels": config.n_levels, "features": config.n_features_per_level,
            "log2_T": config.log2_hashmap_size, "params": grid.params.numel(),
            "forward_samples_per_s": batch / t_f, "forward_backward_samples_per_s": batch / t_fb,
            "forward_ms": 1e3 * t_f, "forward_backward_ms": 1e3 * t_fb,
        }
    return result


if __name__ == "__main__":
    print(json.dumps(bench_hashgrid(), indent=2))
