"""Image metrics. PSNR and SSIM are computed here (SSIM checked against scikit-image in the tests).

LPIPS, DISTS and FID need pretrained network weights (AlexNet/VGG16/Inception-v3) that are not shipped and
never downloaded: they are computed by `pav.eval.learned` when the files are on this machine;
`learned_metrics_status()` looks for them and gives, per metric, None or the reason (the exact file and the
folder to put it in). Results carry null for an unavailable metric — never a made-up number.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from .learned import find_learned_weights

def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of images in [0, 1], (H, W, 3) or (N, H, W, 3): 10·log10(1 / MSE) over all values."""
    if prediction.shape != target.shape:
        raise ValueError(f"psnr: shapes differ: {tuple(prediction.shape)} vs {tuple(target.shape)}")
    mse = float(((prediction.double() - target.double()) ** 2).mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | None = None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004) of (H, W, C) images: 11-tap Gaussian window σ = 1.5, K1 = 0.01,
    K2 = 0.03, population covariances, per channel, averaged over the 'valid' region (the window fully
    inside the image) — the same definition as scikit-image's structural_similarity(gaussian_weights=True,
    use_sample_covariance=False, sigma=1.5, data_range=1, channel_axis=-1)."""
    if prediction.shape != target.shape or prediction.ndim != 3:
        raise ValueError(f"ssim: need two (H, W, C) images of one shape, got {tuple(prediction.shape)} and "
                         f"{tuple(target.shape)}")
    x = prediction.double().permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    y = target.double().permute(2, 0, 1)[:, None]
    g = _gaussian_window(device=x.device)
    def blur(img):  # separable Gaussian, 'valid' region only
        img = F.conv2d(img, g.view(1, 1, -1, 1))
        return F.conv2d(img, g.view(1, 1, 1, -1))
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s.mean())


def learned_metrics_status(weights: str | Path | None = None) -> dict[str, str | None]:
    """lpips/dists/fid → None when computable here, else the reason it is unavailable. `weights`: a folder
    searched instead of `$PAV_WEIGHTS`, before torch's hub cache (see pav.eval.learned_weights). Loads nothing."""
    return {metric: found.reason for metric, found in find_learned_weights(weights).items()}
