"""LPIPS (AlexNet, v0.1 linear heads), DISTS (VGG16) and FID (Inception-v3), computed when their weights
are on this machine (see `learned_weights` for the file names and folders), else unavailable with the
reason. Images are (H, W, 3) float in [0, 1]; networks run in float32 on the CPU, frozen.

- LPIPS (Zhang et al. 2018): x ↦ 2x − 1, then the scaling layer (x − shift) / scale; AlexNet features
  after each of its five ReLUs; each unit-normalised over channels (f / (‖f‖ + 1e-10)); squared difference;
  the layer's 1×1 linear head; spatial mean; sum over the five layers.
- DISTS (Ding et al. 2020): ImageNet mean/std normalisation; VGG16 with L2 pooling; stages = the raw image
  and relu1_2 … relu5_3; per channel, structure s = (2 σ_xy + c) / (σ_x² + σ_y² + c) and texture
  t = (2 μ_x μ_y + c) / (μ_x² + μ_y² + c), c = 1e-6; score 1 − Σ (α t + β s) with α, β normalised to sum 1.
- FID (Heusel et al. 2017): Fréchet distance of Gaussians fitted to the 2048-d pool features.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .backbones import FeatureStack, alexnet_features, vgg16_features
from .inception import FIDInception
from .learned_weights import (ALEXNET_FILE, DISTS_WEIGHTS, INCEPTION_FILE, LPIPS_HEADS, VGG16_FILE, Found,
                              find_backbone, find_torchmetrics_file, load_tensors, select)

METRICS = ("lpips", "dists", "fid")
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)


def _batch(image: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) in [0, 1] → (1, 3, H, W) float32."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"learned metrics need (H, W, 3) images, got {tuple(image.shape)}")
    return image.detach().float().cpu().permute(2, 0, 1)[None]


def _load_stack(stack, path: Path):
    stack.load_state_dict(select(load_tensors(path), "", stack.expected_weights(), path), strict=False)
    return stack


@dataclass
class LearnedMetrics:
    """The loaded networks (None when unavailable) and, per metric, None or the reason it is unavailable."""
    reasons: dict[str, str | None]
    alexnet: FeatureStack | None = None
    lpips_heads: list[torch.Tensor] = field(default_factory=list)  # (1, C_k, 1, 1) per AlexNet layer
    vgg: FeatureStack | None = None
    alpha: torch.Tensor | None = None  # (1, 1475, 1, 1) float64, normalised with beta to sum 1
    beta: torch.Tensor | None = None
    inception: FIDInception | None = None

    def lpips(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        """LPIPS distance of two (H, W, 3) images in [0, 1] (lower = more similar)."""
        def features(img):
            x = _batch(img)
            shift = torch.tensor(LPIPS_SHIFT, device=x.device).view(1, 3, 1, 1)
            scale = torch.tensor(LPIPS_SCALE, device=x.device).view(1, 3, 1, 1)
            x = (2 * x - 1 - shift) / scale
            return [f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) for f in self.alexnet(x)]
        with torch.no_grad():
            pairs = zip(features(prediction), features(target), self.lpips_heads)
            return float(sum(F.conv2d((a - b) ** 2, w).mean() for a, b, w in pairs))

    def dists(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        """DISTS distance of two (H, W, 3) images in [0, 1] (lower = more similar)."""
        def features(img):
            x = _batch(img)
            mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
            h = (x - mean) / torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
            return [x] + self.vgg(h)
        c = 1e-6
        with torch.no_grad():
            alphas = torch.split(self.alpha, DISTS_CHANNELS, dim=1)
            betas = torch.split(self.beta, DISTS_CHANNELS, dim=1)
            similarity = 0.0
            for x, y, a, b in zip(features(prediction), features(target), alphas, betas):
                x, y = x.double(), y.double()  # the statistics in float64: the score is 1 − (a sum near 1)
                mx, my = x.mean((2, 3), keepdim=True), y.mean((2, 3), keepdim=True)
                vx, vy = ((x - mx) ** 2).mean((2, 3), keepdim=True), ((y - my) ** 2).mean((2, 3), keepdim=True)
                cxy = (x * y).mean((2, 3), keepdim=True) - mx * my
                texture = (2 * mx * my + c) / (mx ** 2 + my ** 2 + c)
                structure = (2 * cxy + c) / (vx + vy + c)
                similarity = similarity + (a * texture).sum() + (b * structure).sum()
            return float(1 - similarity)

    def inception_features(self, image: torch.Tensor) -> np.ndarray:
        """(2048,) float64 Inception pool features of an (H, W, 3) image in [0, 1]."""
        with torch.no_grad():
            return self.inception(_batch(image))[0].double().numpy()


def _covariance_factor(centred: np.ndarray) -> np.ndarray:
    """X (D, K) with X Xᵀ = the sample covariance of `centred` (N, D): Cᵀ/√(N−1) when N ≤ D, else the
    symmetric square root (eigh, negative round-off clipped)."""
    n, d = centred.shape
    if n <= d:
        return centred.T / np.sqrt(n - 1)
    values, vectors = np.linalg.eigh(centred.T @ centred / (n - 1))
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr (Σ_a Σ_b)^½ of Gaussians fitted to (N, D)
    and (M, D) feature sets (sample covariances, float64). With Σ = X Xᵀ, Σ_a Σ_b has the eigenvalues of
    (X_aᵀ X_b)(X_aᵀ X_b)ᵀ, so tr (Σ_a Σ_b)^½ is the sum of the singular values of X_aᵀ X_b (at most
    min(N, D) × min(M, D)). Exact, and milliseconds where scipy's sqrtm of a 2048² matrix takes a minute
    (sqrtm is the reference in the tests)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance: need two (N≥2, D) feature sets of one D, got {a.shape} and {b.shape}")
    A, B = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.svd(_covariance_factor(A).T @ _covariance_factor(B), compute_uv=False).sum()
    traces = (A * A).sum() / (len(a) - 1) + (B * B).sum() / (len(b) - 1)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + traces - 2 * cross)


_CACHE: dict[tuple, LearnedMetrics] = {}


def find_learned_weights(weights: str | Path | None = None) -> dict[str, Found]:
    """lpips/dists/fid → its files (`Found.path` a tuple of paths) or the reason one is missing."""
    def both(*found: Found) -> Found:
        reasons = [f.reason for f in found if f.reason]
        return Found(None, "; ".join(reasons)) if reasons else Found(tuple(f.path for f in found), None)
    return {"lpips": both(find_backbone(ALEXNET_FILE, weights), find_torchmetrics_file(LPIPS_HEADS)),
            "dists": both(find_backbone(VGG16_FILE, weights), find_torchmetrics_file(DISTS_WEIGHTS)),
            "fid": both(find_backbone(INCEPTION_FILE, weights))}


def load_learned_metrics(weights: str | Path | None = None) -> LearnedMetrics:
    """The learned metrics computable with the files found (`weights` folder, `$PAV_WEIGHTS`, torch's hub
    cache; heads from torchmetrics). Loaded once per set of files and kept; a file that exists but does not
    hold the expected tensors → ValueError naming it."""
    found = find_learned_weights(weights)
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for f in found.values() for p in f.path or ())
    key += tuple(f.reason for f in found.values())
    if key in _CACHE:
        return _CACHE[key]
    out = LearnedMetrics({metric: f.reason for metric, f in found.items()})
    if out.reasons["lpips"] is None:
        alex, heads = found["lpips"].path
        out.alexnet = _load_stack(alexnet_features(), alex)
        expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}
        out.lpips_heads = [v.float() for v in select(load_tensors(heads), "", expected, heads).values()]
    if out.reasons["dists"] is None:
        vgg, alpha_beta = found["dists"].path
        out.vgg = _load_stack(vgg16_features(l2_pooling=True), vgg)
        ab = select(load_tensors(alpha_beta), "", {"alpha": (1, 1475, 1, 1), "beta": (1, 1475, 1, 1)}, alpha_beta)
        total = ab["alpha"].double().sum() + ab["beta"].double().sum()
        out.alpha, out.beta = (ab["alpha"].double() / total), (ab["beta"].double() / total)
    if out.reasons["fid"] is None:
        out.inception = _load_stack(FIDInception(), found["fid"].path[0])
    _CACHE[key] = out
    return out
