"""Hash encoding: the tcnn spec by hand, dense levels against grid_sample, float64 gradchecks, the fast
path against its plain twin (forward and backward), and tcnn parity (GPU + tinycudann only)."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from pav import backends
from pav.nerf import HashGrid, HashGridConfig, level_specs
from pav.nerf._hashgrid_ref import hashgrid_reference
from pav.nerf._hashgrid_tcnn import canonical_to_tcnn, tcnn_to_canonical
from pav.nerf._hashgrid_torch import _corners, hashgrid_fast
from pav.nerf.hashgrid import fragile_levels

# Two levels, growth 2 (exact in float32): level 0 dense, level 1 hashed.
TOY = HashGridConfig(n_levels=2, n_features_per_level=2, log2_hashmap_size=6, base_resolution=3,
                     per_level_scale=2.0)
# Six levels: two dense levels whose +0.5 offset wraps, four hashed ones.
MULTI = HashGridConfig(n_levels=6, n_features_per_level=2, log2_hashmap_size=10, base_resolution=4,
                       finest_resolution=190)


def _inputs(n, seed, dtype=torch.float32):
    x = torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    x[:4] = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.5], [0.0, 1.0, 1.0]], dtype=dtype)
    return x


def _table(config, seed, dtype=torch.float32):
    specs = level_specs(config)
    rows = specs[-1].offset + specs[-1].rows
    return torch.randn(rows, config.n_features_per_level, generator=torch.Generator().manual_seed(seed),
                       dtype=dtype)


def test_toy_grid_matches_hand_computed_spec():
    l0, l1 = level_specs(TOY)
    # scale = 2^l · 3 − 1; res = ceil(scale) + 1; rows = min(next_multiple(res³, 8), 2^6)
    assert (l0.scale, l0.resolution, l0.rows, l0.offset, l0.hashed) == (2.0, 3, 32, 0, False)   # 27 → 32
    assert (l1.scale, l1.resolution, l1.rows, l1.offset, l1.hashed) == (5.0, 6, 64, 32, True)   # 216 > 64
    x = torch.tensor([[0.375, 0.625, 0.875]])   # binary fractions: exact in float32
    # level 0: pos = x·2 + 0.5 = (1.25, 1.75, 2.25); corners c = 4z + 2y + x; index x + 3y + 9z mod 32
    # (corner 5 = (2,1,3) → 32 → 0, corner 6 = (1,2,3) → 34 → 2, corner 7 → 35 → 3: the +0.5 wrap)
    idx0 = [22, 23, 25, 26, 31, 0, 2, 3]
    # level 1: pos = x·5 + 0.5 = (2.375, 3.625, 4.875); index (x ⊕ 2654435761·y ⊕ 805459861·z mod 2³²) mod 64,
    # e.g. corner 0: 2 ⊕ (3·2654435761 mod 2³² = 3668339987) ⊕ 3221839444 → low 6 bits 000101 = 5
    idx1 = [5, 4, 18, 19, 56, 57, 47, 46]
    for spec, want, frac in ((l0, idx0, (0.25, 0.75, 0.25)), (l1, idx1, (0.375, 0.625, 0.875))):
        got, w = _corners(x.t().contiguous(), spec)
        assert got.tolist() == want
        assert torch.allclose(w[:, 1, 0], torch.tensor(frac))
    params = torch.arange(96 * 2, dtype=torch.float64).view(96, 2) / 7.0
    expected = []
    for spec, idx, frac in ((l0, idx0, (0.25, 0.75, 0.25)), (l1, idx1, (0.375, 0.625, 0.875))):
        y = torch.zeros(2, dtype=torch.float64)
        for c in range(8):
            w = math.prod(frac[d] if (c >> d) & 1 else 1 - frac[d] for d in range(3))
            y += w * params[spec.offset + idx[c]]
        expected.append(y)
    expected = torch.cat(expected).unsqueeze(0)
    for fn in (hashgrid_fast, hashgrid_reference):
        torch.testing.assert_close(fn(x.double(), params, (l0, l1)), expected, rtol=1e-12, atol=1e-12)


def test_paper_levels_and_fragile_configs():
    specs = level_specs(HashGridConfig.paper())
    assert [s.resolution for s in specs] == [16, 23, 31, 43, 59, 81, 112, 154, 213, 295, 407, 562, 777,
                                             1073, 1483, 2048]
    assert [s.hashed for s in specs] == [False] * 5 + [True] * 11      # dense while res³ ≤ 2^18
    assert specs[1].rows == 12168 and specs[4].rows == 205384           # 23³ = 12167 → 12168
    assert all(b.offset == a.offset + a.rows for a, b in zip(specs, specs[1:]))
    assert specs[-1].offset + specs[-1].rows == 3214536
    assert specs[14].resolution ** 3 > 2 ** 31                           # needs Python ints, not int32
    edge = level_specs(HashGridConfig(n_levels=2, base_resolution=16, log2_hashmap_size=12, per_level_scale=1.05))
    assert [(s.resolution, s.rows, s.hashed) for s in edge] == [(16, 4096, False), (17, 4096, True)]  # 16³ = T
    assert fragile_levels(HashGridConfig.paper()) == [] and fragile_levels(HashGridConfig.cpu()) == []
    # 16 → 1024: level 5 is 63.0000076 (float32) → res 65, but 63 → 64 on another libm; 64³ = 2^18 is dense
    assert fragile_levels(HashGridConfig(log2_hashmap_size=18, finest_resolution=1024)) == [5]
    assert fragile_levels(HashGridConfig(log2_hashmap_size=15, finest_resolution=1024)) == []   # hashed both ways


def test_dense_levels_are_trilinear_interpolation():
    config = HashGridConfig(n_levels=3, n_features_per_level=3, log2_hashmap_size=12, base_resolution=5,
                            per_level_scale=1.5)
    specs = level_specs(config)
    assert not any(s.hashed for s in specs)
    params = _table(config, 1, torch.float64)
    x = torch.rand(500, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = hashgrid_fast(x, params, specs).view(500, 3, 3)
    for s in specs:
        res = s.resolution
        keep = (x * s.scale + 0.5 < res - 1).all(1)                      # all corners inside the grid
        assert keep.sum() > 100
        grid = params[s.offset:s.offset + res ** 3].view(res, res, res, 3).permute(3, 0, 1, 2)  # F, z, y, x
        u = x[keep] * s.scale + 0.5                                      # continuous vertex coordinate
        g = (2 * u / (res - 1) - 1).view(1, 1, 1, -1, 3)                 # (x, y, z) → (W, H, D)
        ref = F.grid_sample(grid[None], g, mode="bilinear", align_corners=True)[0, :, 0, 0].t()
        torch.testing.assert_close(out[keep, s.level], ref, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    specs = level_specs(TOY)
    params = _table(TOY, 3, torch.float64).requires_grad_()
    x = (torch.rand(6, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 0.9 + 0.05)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda p, q: hashgrid_fast(q, p, specs), (params, x))
    assert torch.autograd.gradcheck(lambda p, q: hashgrid_reference(q, p, specs), (params, x))


@pytest.mark.parametrize("n_features", [2, 1, 3, 4])
def test_fast_path_equals_twin_forward_and_backward(n_features):
    config = dataclasses.replace(MULTI, n_features_per_level=n_features)
    specs = level_specs(config)
    assert [s.hashed for s in specs] == [False, False, True, True, True, True] and not fragile_levels(config)
    x = _inputs(3000, 5)
    upstream = torch.randn(3000, config.n_output_dims, generator=torch.Generator().manual_seed(6))
    results = []
    for fn in (hashgrid_fast, hashgrid_reference):
        params = _table(config, 7).requires_grad_()
        xg = x.clone().requires_grad_()
        y = fn(xg, params, specs)
        (y * upstream).sum().backward()
        results.append((y.detach(), params.grad, xg.grad))
    (y_f, gp_f, gx_f), (y_r, gp_r, gx_r) = results
    torch.testing.assert_close(y_f, y_r, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gp_f, gp_r, rtol=1e-4, atol=1e-4)      # sums of ~100s of terms, float32
    torch.testing.assert_close(gx_f, gx_r, rtol=1e-4, atol=1e-5 * gx_r.abs().max().item())


@pytest.mark.skipif(not backends.nearest_probe("warp").available, reason="warp-lang does not import")
def test_warp_kernel_equals_twin_forward_and_backward():
    """The compiled CPU kernel (F = 2: dense levels with the +0.5 wrap, hashed levels) against the plain
    twin: features, and the table gradient for a random upstream; split over 2 threads (n ≥ 8192)."""
    from pav.nerf._hashgrid_warp import hashgrid_warp, supports

    specs = level_specs(MULTI)
    x = torch.cat([_inputs(9000, 5), torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.375, 0.625, 0.875]])])
    upstream = torch.randn(len(x), MULTI.n_output_dims, generator=torch.Generator().manual_seed(6))
    results, threads = [], torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for fn in (hashgrid_warp, hashgrid_reference):
            params = _table(MULTI, 7).requires_grad_()
            assert fn is hashgrid_reference or supports(x, params)
            y = fn(x, params, specs)
            (y * upstream).sum().backward()
            results.append((y.detach(), params.grad))
    finally:
        torch.set_num_threads(threads)
    (y_w, gp_w), (y_r, gp_r) = results
    torch.testing.assert_close(y_w, y_r, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gp_w, gp_r, rtol=1e-4, atol=1e-4)
    l0, l1 = level_specs(TOY)  # the hand-computed toy grid of the first test
    params = torch.arange(96 * 2, dtype=torch.float32).view(96, 2) / 7.0
    toy = torch.tensor([[0.375, 0.625, 0.875]])
    torch.testing.assert_close(hashgrid_warp(toy, params, (l0, l1)), hashgrid_reference(toy.double(), params.double(),
                               (l0, l1)).float(), rtol=1e-6, atol=1e-5)
    assert not supports(x.requires_grad_(), params) and not supports(x.detach().double(), params.double())


def test_hashgrid_module_contract(monkeypatch):
    grid = HashGrid(TOY, seed=0, backend="torch")
    assert grid.params.shape == (96, 2) and list(grid.state_dict()) == ["params"]
    assert grid.params.abs().max() <= 1e-4 and grid.params.std() > 3e-5     # U(−1e−4, 1e−4)
    assert grid.backend == "torch" and grid.n_output_dims == 4
    torch.testing.assert_close(HashGrid(TOY, seed=0).params, grid.params)   # seeded
    assert grid.level_table(1).data_ptr() == grid.params[32:].data_ptr()
    x = torch.tensor([[-0.5, 0.3, 1.7], [0.2, 2.0, -1.0]])
    torch.testing.assert_close(grid(x), grid(x.clamp(0, 1)))                # outside [0,1]³: clamped
    empty = grid(torch.zeros(0, 3, requires_grad=True))
    empty.sum().backward()
    assert empty.shape == (0, 4) and grid.params.grad.abs().sum() == 0
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        grid(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="n_levels"):
        HashGridConfig(n_levels=0)
    monkeypatch.setenv("PAV_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="PAV_BACKEND"):
        HashGrid(TOY)


def test_tcnn_layout_conversion_is_a_checked_reshape():
    specs = level_specs(MULTI)
    rows = specs[-1].offset + specs[-1].rows
    params = _table(MULTI, 8)
    flat = canonical_to_tcnn(params, rows * 2)
    level, row, feat = 3, 17, 1                                          # tcnn: (offset_l + row)·F + f
    assert flat[(specs[level].offset + row) * 2 + feat] == params[specs[level].offset + row, feat]
    torch.testing.assert_close(tcnn_to_canonical(flat.half(), rows, 2), params.half().float())
    with pytest.raises(ValueError, match="rows"):
        tcnn_to_canonical(flat[:-2], rows, 2)
    with pytest.raises(ValueError, match="tcnn"):
        canonical_to_tcnn(params, rows * 2 + 16)


@pytest.mark.cuda
@pytest.mark.skipif(not backends.tcnn().available, reason=backends.tcnn().reason)
def test_tcnn_matches_torch_forward_and_backward():
    config = HashGridConfig(n_levels=8, log2_hashmap_size=14, base_resolution=8, finest_resolution=300)
    torch_grid = HashGrid(config, seed=0, backend="torch").cuda()
    tcnn_grid = HashGrid(config, seed=0, backend="tcnn").cuda()
    with torch.no_grad():
        torch_grid.params.normal_()
        tcnn_grid.params.copy_(torch_grid.params)
    x = torch.rand(1 << 16, 3, device="cuda")
    upstream = torch.randn(1 << 16, config.n_output_dims, device="cuda")
    outs = []
    for grid in (torch_grid, tcnn_grid):
        y = grid(x)
        (y * upstream).sum().backward()
        outs.append((y.detach(), grid.params.grad))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(outs[1][1], outs[0][1], rtol=1e-3, atol=1e-3)   # atomics: order differs
