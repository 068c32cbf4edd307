"""Random backgrounds for training: the same frame recomposited over a new colour every step.

Every collection stores its images composited over a known background b with the person mask m (track:
white; synth: the backdrop image, with m the render's alpha), i.e. I = m·F + (1 − m)·b for the person's
(premultiplied) colour m·F. Over another background b' the same frame is exactly

    I' = I + (1 − m)·(b' − b).

Trained on one fixed background, the avatar may explain a pale pixel as a half-transparent darker one (a
white background makes translucency free), and that translucency does not transfer to other poses or
views. With a random b' per ray and step, any transparency inside the mask costs colour error, so the
avatar becomes opaque where the person is and stays empty elsewhere. It changes the data, not the loss
(DESIGN §1.8 keeps λ_color and λ_depth). `TrainConfig.random_background` switches it on; docs/quality.md
has its ablation rows.
"""
from __future__ import annotations

import torch


def recomposite(image: torch.Tensor, background: torch.Tensor, mask: torch.Tensor,
                new_background: torch.Tensor) -> torch.Tensor:
    """image, background, new_background (R, 3); mask (R,) in [0, 1] → (R, 3) the image over new_background."""
    return image + (1.0 - mask)[:, None] * (new_background - background)


def random_colors(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3) uniform random RGB in [0, 1] from `generator` (on its device)."""
    return torch.rand(n, 3, generator=generator, device=generator.device)
