"""PSNR and SSIM against closed forms and scikit-image's implementations."""
import math

import pytest
import torch

from pav.eval.metrics import learned_metrics_status, psnr, ssim


def test_psnr_closed_form():
    a = torch.full((8, 8, 3), 0.5, dtype=torch.float64)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-9)  # 10·log10(1 / 0.01)
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, a[:4])


def test_ssim_identity_and_constant_shift_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(32, 32, 3, generator=g, dtype=torch.float64)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    # a constant image vs another constant: only the luminance term, (2μxμy + c1) / (μx² + μy² + c1)
    x, y, c1 = 0.3, 0.6, 0.01 ** 2
    expected = (2 * x * y + c1) / (x * x + y * y + c1)
    assert ssim(torch.full((20, 20, 1), x), torch.full((20, 20, 1), y)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("noise", [0.02, 0.1, 0.3])
def test_metrics_match_scikit_image(noise):
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(1)
    a = torch.rand(40, 50, 3, generator=g, dtype=torch.float64)
    b = (a + noise * torch.randn(40, 50, 3, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = metrics.structural_similarity(a.numpy(), b.numpy(), gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0, channel_axis=-1)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)
    assert psnr(a, b) == pytest.approx(metrics.peak_signal_noise_ratio(a.numpy(), b.numpy(), data_range=1.0), abs=1e-9)


def test_learned_metrics_are_reported_unavailable_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no weight files (tests/test_learned_metrics.py: with them)
    monkeypatch.delenv("PAV_WEIGHTS", raising=False)
    status = learned_metrics_status()
    assert set(status) == {"lpips", "dists", "fid"} and all("weights" in why for why in status.values())
