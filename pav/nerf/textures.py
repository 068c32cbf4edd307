"""Per-appearance latent codes in the head model's UV atlas (PAV §3: latent neural textures).

`LatentTextures` holds Z ∈ R^{A×C×H×W} (one H×W×C texture per appearance); `GlobalCodes` holds one C-vector
per appearance (the `no-lnf` ablation, as in NeRF-in-the-wild / GLO). Both answer `lookup(uv, appearance)`.

UV convention: OBJ (u right, v up, [0,1]²); texel centres as in grid_sample(align_corners=False), so
u = 0 and u = 1 are the outer edges of the texture. Lookups are bilinear with border padding.
`appearance` is an index per sample (N,) int64, or a weight vector (A,) that blends appearances
(the blended texture Σ_a w_a Z_a is formed once, then sampled).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def uv_to_grid(uv: torch.Tensor) -> torch.Tensor:
    """OBJ uv (N, 2) in [0,1] → grid_sample coordinates (1, 1, N, 2) in [−1, 1] (row 0 is v = 1)."""
    return torch.stack([2.0 * uv[:, 0] - 1.0, 1.0 - 2.0 * uv[:, 1]], dim=-1)[None, None]


class LatentTextures(nn.Module):
    def __init__(self, n_appearances: int, channels: int, resolution: int, init_std: float = 0.1):
        super().__init__()
        self.textures = nn.Parameter(torch.randn(n_appearances, channels, resolution, resolution) * init_std)

    @property
    def channels(self) -> int:
        return self.textures.shape[1]

    def lookup(self, uv: torch.Tensor, appearance: torch.Tensor) -> torch.Tensor:
        """uv (N, 2); appearance (N,) int64 indices or (A,) float weights → features (N, C)."""
        if uv.ndim != 2 or uv.shape[1] != 2:
            raise ValueError(f"uv must be (N, 2), got {tuple(uv.shape)}")
        if appearance.is_floating_point():
            texture = torch.einsum("a,achw->chw", appearance.to(self.textures), self.textures)
            return _sample(texture, uv)
        out = uv.new_empty(uv.shape[0], self.channels)
        for a in appearance.unique().tolist():
            rows = (appearance == a).nonzero()[:, 0]
            out[rows] = _sample(self.textures[a], uv[rows])
        return out


class GlobalCodes(nn.Module):
    """One learned vector per appearance, the same at every point of the head (`no-lnf`)."""

    def __init__(self, n_appearances: int, channels: int, init_std: float = 0.1):
        super().__init__()
        self.codes = nn.Parameter(torch.randn(n_appearances, channels) * init_std)

    @property
    def channels(self) -> int:
        return self.codes.shape[1]

    def lookup(self, uv: torch.Tensor, appearance: torch.Tensor) -> torch.Tensor:
        if appearance.is_floating_point():
            return (appearance.to(self.codes) @ self.codes).expand(uv.shape[0], -1)
        return self.codes[appearance]


def _sample(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """texture (C, H, W), uv (N, 2) → (N, C), bilinear (float32: fp16 grid_sample crashes on CPU here)."""
    out = F.grid_sample(texture[None], uv_to_grid(uv).to(texture), mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out[0, :, 0].T
