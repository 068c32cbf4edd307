"""Compositing against closed forms and a float64 loop; latent-texture lookups against texel arithmetic."""
import math

import pytest
import torch

from pav.nerf.textures import GlobalCodes, LatentTextures
from pav.nerf.volume import composite


def loop_composite(sigma, rgb, t, dt, background):
    """Front-to-back loop, float64, one ray at a time: the plain reference."""
    out_rgb, out_a, out_d = [], [], []
    for r in range(sigma.shape[0]):
        T, c, a, d = 1.0, torch.zeros(3, dtype=torch.float64), 0.0, 0.0
        for i in range(sigma.shape[1]):
            alpha = 1 - math.exp(-float(sigma[r, i] * dt[r, i]))
            c = c + T * alpha * rgb[r, i].double()
            a += T * alpha
            d += T * alpha * float(t[r, i])
            T *= 1 - alpha
        out_rgb.append(c + (1 - a) * background[r].double())
        out_a.append(a)
        out_d.append(d / max(a, 1e-6))
    return torch.stack(out_rgb), torch.tensor(out_a, dtype=torch.float64), torch.tensor(out_d, dtype=torch.float64)


def test_composite_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    R, K = 7, 13
    sigma = torch.rand(R, K, generator=g, dtype=torch.float64) * 30
    sigma[0] = 0  # an empty ray shows the background
    rgb = torch.rand(R, K, 3, generator=g, dtype=torch.float64)
    dt = torch.rand(R, K, generator=g, dtype=torch.float64) * 0.02 + 0.001
    t = 0.4 + torch.cumsum(dt, 1) - dt / 2
    bg = torch.rand(R, 3, generator=g, dtype=torch.float64)
    out = composite(sigma, rgb, t, dt, bg)
    ref_rgb, ref_a, ref_d = loop_composite(sigma, rgb, t, dt, bg)
    torch.testing.assert_close(out.rgb, ref_rgb, atol=1e-12, rtol=0)
    torch.testing.assert_close(out.alpha, ref_a.double(), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.depth[1:], ref_d[1:].double(), atol=1e-12, rtol=0)
    torch.testing.assert_close(out.rgb[0], bg[0])


def test_constant_density_closed_form():
    sigma, L, K = 12.0, 0.05, 64
    dt = torch.full((1, K), L / K, dtype=torch.float64)
    t = torch.cumsum(dt, 1) - dt / 2
    out = composite(torch.full((1, K), sigma, dtype=torch.float64), torch.ones(1, K, 3, dtype=torch.float64), t, dt)
    assert float(out.alpha) == pytest.approx(1 - math.exp(-sigma * L), abs=1e-12)
    # expected depth of a geometric series of weights: Σ q^i (1−q) t_i / (1 − q^K), q = e^{−σδ}
    q, d = math.exp(-sigma * L / K), L / K
    ref = sum(q ** i * (1 - q) * (i + 0.5) * d for i in range(K)) / (1 - q ** K)
    assert float(out.depth) == pytest.approx(ref, abs=1e-12)


def test_opaque_sample_terminates_the_ray():
    sigma = torch.tensor([[0.0, 0.0, 1e6, 5.0]])
    rgb = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0.2, 0.4, 0.6], [1, 1, 1]]])
    t = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    out = composite(sigma, rgb, t, torch.full_like(t, 0.1), torch.tensor([1.0, 1.0, 1.0]))
    assert out.rgb[0].tolist() == pytest.approx([0.2, 0.4, 0.6], abs=1e-6)
    assert float(out.depth) == pytest.approx(0.3) and float(out.alpha) == pytest.approx(1.0)


def test_composite_gradcheck():
    g = torch.Generator().manual_seed(1)
    sigma = (torch.rand(3, 5, generator=g, dtype=torch.float64) * 20).requires_grad_()
    rgb = torch.rand(3, 5, 3, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.linspace(0.1, 0.2, 5, dtype=torch.float64).expand(3, 5)
    bg = torch.rand(3, 3, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda s, c: composite(s, c, t, torch.full_like(t, 0.02), bg)[:3], (sigma, rgb))


def test_composite_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"rgb \(2, 4\)"):
        composite(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4))


def test_texture_lookup_at_texel_centres_and_between():
    tex = LatentTextures(2, 3, 4)
    with torch.no_grad():
        tex.textures.copy_(torch.arange(2 * 3 * 16, dtype=torch.float32).reshape(2, 3, 4, 4))
    # texel (row 0, col 1) has its centre at u = 1.5/4, v = 1 − 0.5/4 (row 0 is the top, v up)
    uv = torch.tensor([[1.5 / 4, 1 - 0.5 / 4], [2.0 / 4, 1 - 0.5 / 4], [0.5 / 4, 0.5 / 4]])
    out = tex.lookup(uv, torch.tensor([0, 0, 1]))
    Z = tex.textures.detach()
    torch.testing.assert_close(out[0], Z[0, :, 0, 1])
    torch.testing.assert_close(out[1], (Z[0, :, 0, 1] + Z[0, :, 0, 2]) / 2)  # half-way: linear blend
    torch.testing.assert_close(out[2], Z[1, :, 3, 0])  # bottom-left texel of appearance 1


def test_blending_is_linear_in_the_weights():
    torch.manual_seed(0)
    for codes in (LatentTextures(3, 4, 8), GlobalCodes(3, 4)):
        uv = torch.rand(10, 2)
        w = torch.tensor([0.2, 0.0, 0.8])
        blended = codes.lookup(uv, w)
        ref = 0.2 * codes.lookup(uv, torch.zeros(10, dtype=torch.long)) + 0.8 * codes.lookup(uv, torch.full((10,), 2))
        torch.testing.assert_close(blended, ref)
        one_hot = codes.lookup(uv, torch.tensor([0.0, 1.0, 0.0]))
        torch.testing.assert_close(one_hot, codes.lookup(uv, torch.ones(10, dtype=torch.long)))
