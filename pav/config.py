"""Configuration dataclasses (inert settings, primitive fields only, stored in checkpoints) and presets.

Presets: `cpu` (the fast default for 2 CPU cores, 64–128² images) and `paper` (the PAV paper's
hyper-parameters: hash grid 16 levels, 2^18 table, finest resolution 2048; 512×512×16 latent textures;
15k iterations; Adam β = (0.9, 0.99); lr 2.5e-3 for MLP-D, MLP-C and Z, 2.5e-4 for MLP-O; λ_color = 50,
λ_depth = 10). Variants (DESIGN §1.9): full | no-offset | no-lnf | insta.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .nerf.field import FieldConfig
from .nerf.hashgrid import HashGridConfig

VARIANTS = ("full", "no-offset", "no-lnf", "insta")


PREVIEW_SAMPLES_PER_RAY = 6
"""Samples per ray of the viewer's interactive preview (final renders use ModelConfig.samples_per_ray).
Against a 64-sample render of the demo avatar at 128² (`python -m pav bench`, row "preview fidelity";
2026-11-30), 6 samples give 29.6 dB, 8 give 34.1, 12 give 37.8 and 24 give 47.5; at 128² a 6-sample
frame takes ~80 ms on 2 cores (docs/performance.md)."""


@dataclass
class ModelConfig:
    variant: str = "full"
    """full | no-offset (no MLP-O) | no-lnf (a global code per appearance) | insta (no appearance input)."""
    hashgrid: HashGridConfig = field(default_factory=lambda: HashGridConfig(
        n_levels=12, n_features_per_level=2, log2_hashmap_size=15, base_resolution=16, finest_resolution=512))
    """hash encoding of canonical positions (the canonical box is normalised to [0,1]³)."""
    field: FieldConfig = field(default_factory=FieldConfig)
    """MLP sizes."""
    texture_resolution: int = 256
    """H = W of each latent neural texture (paper 512). The built-in head's UV atlas gives the face only
    ~4 % of the texture, so 256² leaves it ~55 texels across."""
    texture_channels: int = 8
    """C, channels of the latent textures / global codes (paper 16)."""
    shell_out: float = 0.045
    """metres in front of the tracked surface where density may exist (hair, beards; voluminous hair
    reaches ~4 cm above the scalp)."""
    shell_in: float = 0.01
    """metres behind the tracked surface where density may exist."""
    max_chord: float = 0.06
    """metres sampled along rays that graze the shell without hitting the surface."""
    samples_per_ray: int = 24
    """samples per ray in the shell interval."""
    canonical_jaw_deg: float = 8.0
    """the canonical mesh opens the jaw by this many degrees (INSTA: 12 for FLAME)."""
    occupancy_resolution: int = 48
    """cells per axis of the canonical occupancy grid."""

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant '{self.variant}' is not one of {', '.join(VARIANTS)}")


@dataclass
class TrainConfig:
    steps: int = 3000
    """optimisation steps (paper 15k); --minutes stops earlier by wall time."""
    minutes: float | None = None
    """wall-time budget; None = run all steps."""
    rays_per_step: int = 2048
    """rays per batch."""
    frames_per_step: int = 8
    """frames the rays of a batch are drawn from."""
    lr: float = 2.5e-3
    """Adam learning rate of the hash grid, MLP-D, MLP-C and the latent textures."""
    lr_offset: float = 1e-3
    """Adam learning rate of MLP-O (paper 2.5e-4 over 15k steps; the cpu preset runs ~5× fewer steps)."""
    betas: tuple[float, float] = (0.9, 0.99)
    """Adam betas."""
    lambda_color: float = 50.0
    """weight of the L2 colour loss."""
    lambda_depth: float = 10.0
    """weight of the L1 depth loss on the face region."""
    occupancy_every: int = 16
    """steps between occupancy-grid updates."""
    occupancy_warmup: int = 256
    """steps before the occupancy grid starts skipping samples."""
    interval_refresh_every: int = 512
    """steps between recomputing the training rays' sampling intervals from the per-vertex density extents
    (as rendering uses them: samples stay dense where density is); 0 keeps the whole shell."""
    checkpoint_every_s: float = 120.0
    """seconds between periodic checkpoints."""
    seed: int = 0
    """random seed of sampling and initialisation."""


def preset(name: str, variant: str = "full") -> tuple[ModelConfig, TrainConfig]:
    """The named preset's (model, training) configs."""
    if name == "cpu":
        return ModelConfig(variant=variant), TrainConfig()
    if name == "paper":
        model = ModelConfig(variant=variant, hashgrid=HashGridConfig(), texture_resolution=512,
                            texture_channels=16, samples_per_ray=128)
        return model, TrainConfig(steps=15000, rays_per_step=4096, lr_offset=2.5e-4)
    raise ValueError(f"preset '{name}' is not one of cpu, paper")


def to_dict(cfg) -> dict:
    """A dataclass config → plain dict (nested), for checkpoints and logs."""
    return dataclasses.asdict(cfg)


def model_config_from_dict(d: dict) -> ModelConfig:
    d = dict(d)
    d["hashgrid"] = HashGridConfig(**d["hashgrid"])
    d["field"] = FieldConfig(**d["field"])
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"model config has unknown fields {unknown}: written by a newer PAV?")
    return ModelConfig(**d)
