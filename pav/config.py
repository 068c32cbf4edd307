"""Configuration dataclasses (inert settings, primitive fields only, stored in checkpoints) and presets.

Presets: `cpu` (the fast default for 2 CPU cores, 64–128² images) and `paper` (the PAV paper's
hyper-parameters: hash grid 16 levels, 2^18 table, finest resolution 2048; 512×512×16 latent textures;
15k iterations; Adam β = (0.9, 0.99); lr 2.5e-3 for MLP-D, MLP-C and Z, 2.5e-4 for MLP-O; λ_color = 50,
λ_depth = 10). Variants (DESIGN §1.9): full | no-offset | no-lnf | insta.

Inert data: this module imports nothing from pav (the hash grid and the field import their configs from
here; `pav.nerf.hashgrid.HashGridConfig` and `pav.nerf.field.FieldConfig` are the same classes).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HashGridConfig:
    """Hyper-parameters of the hash encoding (primitive fields only: stored in checkpoints); the encoding
    itself and its level geometry: pav/nerf/hashgrid.py."""

    n_levels: int = 16
    """L, number of resolution levels (1..32)."""
    n_features_per_level: int = 2
    """F, features per level; the encoding has L·F outputs. tcnn supports 1, 2, 4, 8."""
    log2_hashmap_size: int = 18
    """log2 of T, the maximum number of table rows per level (paper: 18)."""
    base_resolution: int = 16
    """N_min, vertices per axis of the coarsest level (as tcnn: scale_0 = N_min − 1)."""
    finest_resolution: float | None = 2048
    """N_max; sets the growth b = exp(ln(N_max / N_min) / (L − 1)). Ignored when per_level_scale is set."""
    per_level_scale: float | None = None
    """b, the growth factor between levels; overrides finest_resolution when given."""

    def __post_init__(self):
        if not 1 <= self.n_levels <= 32:
            raise ValueError(f"HashGridConfig: n_levels={self.n_levels} must be in 1..32")
        if self.n_features_per_level < 1:
            raise ValueError(f"HashGridConfig: n_features_per_level={self.n_features_per_level} must be ≥ 1")
        if not 3 <= self.log2_hashmap_size <= 30:
            raise ValueError(f"HashGridConfig: log2_hashmap_size={self.log2_hashmap_size} must be in 3..30")
        if self.base_resolution < 1:
            raise ValueError(f"HashGridConfig: base_resolution={self.base_resolution} must be ≥ 1")
        if self.per_level_scale is None and self.finest_resolution is None:
            raise ValueError("HashGridConfig: set finest_resolution or per_level_scale")
        if self.growth < 1.0:
            raise ValueError(f"HashGridConfig: growth {self.growth} < 1 (finest_resolution below base_resolution?)")

    @property
    def growth(self) -> float:
        """b, the per-level scale actually used (and handed to tcnn as `per_level_scale`)."""
        if self.per_level_scale is not None:
            return float(self.per_level_scale)
        if self.n_levels == 1:
            return 1.0
        return math.exp(math.log(self.finest_resolution / self.base_resolution) / (self.n_levels - 1))

    @property
    def n_output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    @classmethod
    def paper(cls) -> "HashGridConfig":
        """The PAV/INSTA paper's grid: 16 levels × 2 features, T = 2^18, resolutions 16 → 2048."""
        return cls(n_levels=16, n_features_per_level=2, log2_hashmap_size=18, base_resolution=16,
                   finest_resolution=2048)

    @classmethod
    def cpu(cls) -> "HashGridConfig":
        """A CPU-sized grid: 16 levels × 2 features, T = 2^15, resolutions 16 → 1024 (0.93 M parameters)."""
        return cls(n_levels=16, n_features_per_level=2, log2_hashmap_size=15, base_resolution=16,
                   finest_resolution=1024)


@dataclass
class FieldConfig:
    hidden: int = 64
    """width of MLP-D and MLP-C."""
    density_layers: int = 2
    """hidden layers of MLP-D."""
    color_layers: int = 2
    """hidden layers of MLP-C."""
    offset_hidden: int = 32
    """width of MLP-O."""
    offset_layers: int = 1
    """hidden layers of MLP-O."""
    geo_features: int = 15
    """geometric features passed from MLP-D to MLP-C."""
    sh_degree: int = 4
    """spherical-harmonics bands for the view direction (1..4; 4 = 16 functions)."""

    def __post_init__(self):
        if not 1 <= self.sh_degree <= 4:
            raise ValueError(f"FieldConfig: sh_degree={self.sh_degree} must be in 1..4 (1: no view dependence)")


VARIANTS = ("full", "no-offset", "no-lnf", "insta")


PREVIEW_SAMPLES_PER_RAY = 6
"""Samples per ray of the viewer's interactive preview (final renders use ModelConfig.samples_per_ray).
Against a 64-sample render of the demo avatar at 128² (`python -m pav bench`, row "preview fidelity";
2026-12-01, the demo retrained with random backgrounds), 6 samples give 28.4 dB, 8 give 31.7, 12 give 36.6
and 24 give 44.4 (the previous demo: 29.6, 34.1, 37.8, 47.5, unchanged by session 5's render changes: its
more opaque, sharper surfaces are harder to sample); at 128² a 6-sample frame takes ~130 ms on this
project's 2 cores (docs/performance.md)."""


@dataclass
class ModelConfig:
    variant: str = "full"
    """full | no-offset (no MLP-O) | no-lnf (one global code per appearance instead of the latent textures;
    MLP-O kept) | insta (no appearance input at all: no codes, and so no MLP-O). Each differs from `full` in
    that one thing only (docs/avatar.md, tests/test_variants.py)."""
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
    # Regularizers for unseen views (issue 18 §2; pav/train/losses.py, docs/quality.md). Weight 0 = off.
    lambda_distortion: float = 0.0
    """weight of the Mip-NeRF 360 distortion loss (distances normalised per ray by its sampled length).
    Needs the render path to return per-sample weights (docs/quality.md, "hook")."""
    lambda_alpha_entropy: float = 0.0
    """weight of the binary entropy of each ray's accumulated opacity."""
    lambda_far_density: float = 0.0
    """weight of the density penalty at random canonical points above the mesh (far_density)."""
    far_density_start: float = 0.015
    """metres above the surface where the far-density penalty starts; it grows linearly to full weight at
    the model's shell_out."""
    far_density_probes: int = 1024
    """random canonical points per step for each probe term (far density, inner opacity)."""
    far_density_delta: float = 0.002
    """metres: the sample length whose opacity 1 − exp(−σδ) is penalised."""
    lambda_inner_opacity: float = 0.0
    """weight of the transparency exp(−σ·shell_in) at random canonical points in the layer shell_in under
    the surface (the tracked skin is opaque, also where the camera hardly looked)."""
    lambda_view_smooth: float = 0.0
    """weight of the Dirichlet energy on the sphere of MLP-C's first-layer view-direction weights
    (Σ_l l(l+1)|W_l|²): penalises colour that changes quickly with the view direction."""
    random_background: bool = False
    """recomposite every training ray over a random background colour (pav/train/background.py): the
    avatar cannot use translucency against the collection's fixed background. Needs the person masks."""

    def __post_init__(self):
        for name in ("lambda_distortion", "lambda_alpha_entropy", "lambda_far_density", "lambda_inner_opacity",
                     "lambda_view_smooth", "far_density_start"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig: {name}={getattr(self, name)} must be ≥ 0")
        if self.far_density_probes < 1 or not self.far_density_delta > 0:
            raise ValueError(f"TrainConfig: far_density_probes={self.far_density_probes} must be ≥ 1 and "
                             f"far_density_delta={self.far_density_delta} > 0")


def preset(name: str, variant: str = "full") -> tuple[ModelConfig, TrainConfig]:
    """The named preset's (model, training) configs."""
    if name == "cpu":
        return ModelConfig(variant=variant), TrainConfig()
    if name == "paper":
        model = ModelConfig(variant=variant, hashgrid=HashGridConfig(), texture_resolution=512,
                            texture_channels=16, samples_per_ray=128)
        return model, TrainConfig(steps=15000, rays_per_step=4096, lr_offset=2.5e-4)
    raise ValueError(f"preset '{name}' is not one of cpu, paper")


def apply_overrides(model: ModelConfig, train: TrainConfig, items: list[str]) -> tuple[ModelConfig, TrainConfig]:
    """`--set` items "model.FIELD=VALUE", "model.field.FIELD=VALUE", "model.hashgrid.FIELD=VALUE" or
    "train.FIELD=VALUE" → new configs (the inputs are not changed). VALUE is parsed as the field's
    current type (a None default takes a float; "none" sets None). Unknown names raise ValueError."""
    configs = {"model": model, "train": train}
    for item in items:
        key, sep, text = item.partition("=")
        path = key.strip().split(".")
        if not sep or path[0] not in configs or len(path) < 2:
            raise ValueError(f"--set {item}: expected model.FIELD=VALUE or train.FIELD=VALUE "
                             "(e.g. train.lambda_distortion=0.01, model.field.sh_degree=2)")
        chain = [configs[path[0]]]
        for name in path[1:]:
            obj = chain[-1]
            names = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else []
            if name not in names:
                raise ValueError(f"--set {item}: '{name}' is not a field of {type(obj).__name__} "
                                 f"({', '.join(names) or 'not a config'})")
            chain.append(getattr(obj, name))
        value = _parse_value(item, chain[-1], text.strip())
        for obj, name in zip(reversed(chain[:-1]), reversed(path[1:])):
            value = dataclasses.replace(obj, **{name: value})
        configs[path[0]] = value
    return configs["model"], configs["train"]


def _parse_value(item: str, current, text: str):
    if text.lower() == "none":
        return None
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, str):
            return text
        if isinstance(current, float) or current is None:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        pass
    raise ValueError(f"--set {item}: '{text}' is not a valid {type(current).__name__} for this field")


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
