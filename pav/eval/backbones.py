"""The convolutional feature stacks of LPIPS (AlexNet) and DISTS (VGG16), in torchvision's layout.

`features` is an nn.Sequential whose indices match torchvision's `alexnet().features` /
`vgg16().features`, so a torchvision weight file loads by its `features.{i}.weight|bias` keys. Only the
convolutions carry weights; ReLUs and poolings sit at torchvision's indices. `forward` returns the
activations after the ReLUs the metrics tap. Frozen, eval mode, float32.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# (in, out, kernel, stride, padding) per convolution, and the layer sequence by torchvision index:
# "C" a convolution + "R" its ReLU, "M" a 3×3/2 max pooling (AlexNet) or 2×2/2 (VGG16).
ALEXNET_CONVS = [(3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1),
                 (256, 256, 3, 1, 1)]
ALEXNET_LAYOUT = "CRM" "CRM" "CR" "CR" "CRM"
ALEXNET_TAPS = (1, 4, 7, 9, 11)  # relu1 … relu5
VGG16_WIDTHS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG16_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3


class L2Pool(nn.Module):
    """DISTS' L2 pooling in place of VGG's max pooling: sqrt(h ⊛ x² + 1e-12) per channel, h the 3×3
    outer product of the Hann window [0.5, 1, 0.5] normalised to sum 1, stride 2, padding 1."""

    def __init__(self):
        super().__init__()
        w = np.hanning(5)[1:-1]
        h = torch.tensor(np.outer(w, w) / np.outer(w, w).sum(), dtype=torch.float32, device="cpu")  # a buffer: moves with .to()
        self.register_buffer("kernel", h[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) → (N, C, ⌊(H−1)/2⌋+1, ⌊(W−1)/2⌋+1)."""
        k = self.kernel.to(x.dtype).expand(x.shape[1], 1, 3, 3)
        return (F.conv2d(x * x, k, stride=2, padding=1, groups=x.shape[1]) + 1e-12).sqrt()


class FeatureStack(nn.Module):
    """A frozen torchvision-layout `features` stack returning the activations at `taps`."""

    def __init__(self, layers: list[nn.Module], taps: tuple[int, ...]):
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.taps = taps
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (N, 3, H, W), already normalised for the network → one (N, C_k, H_k, W_k) per tap."""
        out = []
        for i, layer in enumerate(self.features[:self.taps[-1] + 1]):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out

    def expected_weights(self) -> dict[str, torch.Size]:
        """The `features.*` keys a torchvision file must provide, with their shapes."""
        return {f"features.{k}": v.shape for k, v in self.features.state_dict().items()}


def alexnet_features() -> FeatureStack:
    """AlexNet's five convolutions (torchvision layout) tapped after each ReLU, as LPIPS uses them."""
    layers, convs = [], iter(ALEXNET_CONVS)
    for kind in ALEXNET_LAYOUT:
        if kind == "C":
            i, o, k, s, p = next(convs)
            layers.append(nn.Conv2d(i, o, k, stride=s, padding=p))
        else:
            layers.append(nn.ReLU() if kind == "R" else nn.MaxPool2d(3, 2))
    return FeatureStack(layers, ALEXNET_TAPS)


def vgg16_features(l2_pooling: bool = True) -> FeatureStack:
    """VGG16's thirteen 3×3 convolutions (torchvision layout) tapped at relu1_2 … relu5_3; with
    `l2_pooling` (DISTS) each max pooling is replaced by `L2Pool`."""
    layers, width = [], 3
    for w in VGG16_WIDTHS:
        if w == "M":
            layers.append(L2Pool() if l2_pooling else nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(width, w, 3, padding=1), nn.ReLU()]
            width = w
    return FeatureStack(layers, VGG16_TAPS)
