"""The PAV avatar: head model + canonical field + per-appearance latent codes, rendered by volume rendering.

A ray sample x of frame i (deformed space) is carried to canonical space through its nearest triangle of
the frame's mesh M_i (pav.geometry.canonicalize); samples farther than the shell from M_i carry no
density. The closest point's barycentrics give a UV, where the appearance's latent texture is looked up.
The canonical field (pav.nerf.field) turns (x_c, view direction, expression, Z^x) into density and colour,
and alpha compositing (pav.nerf.volume) over the known background gives the pixel.

`render_rays` is the one path used by training, evaluation and the viewer; `render` wraps it for a whole
camera image. An occupancy grid over the canonical box (a bit per cell, refreshed during training)
skips samples in empty space before the field is evaluated.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn

from ..camera import Camera
from ..config import ModelConfig
from ..geometry import map_directions, map_points
from ..geometry.posed import PosedMesh, pose_mesh
from ..head import HeadModel
from .expression_range import clamp_expression
from .field import CanonicalField
from .hashgrid import HashGrid
from .sampling import ray_intervals, stratified_samples
from .textures import GlobalCodes, LatentTextures
from .volume import composite, sample_weights


FAINT_WEIGHT = 1e-4
"""Rendering skips the colour of samples whose compositing weight is at most this (see `render_rays`)."""
RENDER_CHUNK_SAMPLES = 8192 * 24
"""Samples per `render_rays` call in `render` (rays per call = this ÷ samples per ray), which bounds a call's
memory. Session 6, demo avatar, 2 threads, interleaved rounds: the 6-sample previews ran faster in bigger
chunks (128² 165 → 143 ms, 256² 501 → 427 ms from 8192 to 16384 rays; 32768 and 65536 within noise of that),
the 24-sample 256² final did not (4096 rays 1523 ms, 8192 rays 1300 ms, 16384 rays 1305 ms, and 625 → 734-820
MB peak at 512²), and a viewer checks for cancellation between calls (longest gap 258 / 355 / 669 ms)."""


class RayOutput(NamedTuple):
    rgb: torch.Tensor
    """(R, 3) colour over the background."""
    alpha: torch.Tensor
    """(R,) opacity."""
    depth: torch.Tensor
    """(R,) expected termination distance along the ray (t, metres)."""
    n_field_samples: int
    """samples that reached the field (after the shell cut and the occupancy grid)."""
    weights: torch.Tensor | None = None
    """(R, K) compositing weights w_i (for the distortion loss)."""
    t: torch.Tensor | None = None
    """(R, K) sample distances along the rays."""
    dt: torch.Tensor | None = None
    """(R, K) sample lengths."""


class RenderOutput(NamedTuple):
    rgb: torch.Tensor
    """(H, W, 3) in [0, 1]."""
    alpha: torch.Tensor
    """(H, W) opacity."""
    depth: torch.Tensor
    """(H, W) camera-space z of the expected termination (0 where nothing is hit)."""


class Avatar(nn.Module):
    def __init__(self, config: ModelConfig, head: HeadModel, shape: torch.Tensor, appearance_names: list[str]):
        super().__init__()
        if shape.ndim != 1 or shape.shape[0] > head.n_shape:
            raise ValueError(f"shape must be (≤{head.n_shape},), got {tuple(shape.shape)}")
        if not appearance_names:
            raise ValueError("an avatar needs at least one appearance")
        self.config = config
        self.head = head
        self.appearance_names = list(appearance_names)
        self.info: dict = {}
        """the checkpoint's training record (`load_avatar` fills it): steps, history, view and expression range."""
        self.register_buffer("shape", shape.float().to(head.device))
        with torch.device(head.device):  # every buffer and parameter on the head model's device
            self._build(config, head)

    def _build(self, config: ModelConfig, head: HeadModel) -> None:
        with torch.no_grad():
            canonical = self._canonical_vertices()
        self.register_buffer("canonical_vertices", canonical)
        margin = config.shell_out + 0.01
        self.register_buffer("aabb", torch.stack([canonical.min(0).values - margin, canonical.max(0).values + margin]))
        self.register_buffer("face_uv", head.uv[head.faces_uv])  # (F, 3, 2) per-corner UVs
        G = config.occupancy_resolution
        self.register_buffer("occupancy", torch.ones(G, G, G, dtype=torch.bool))
        self.register_buffer("occupancy_density", torch.zeros(G, G, G))
        self.register_buffer("vertex_extent", torch.full((head.n_vertices,), config.shell_out))
        # Variants (DESIGN §1.9), each differing from `full` in one thing: no-offset drops MLP-O; no-lnf swaps
        # the latent textures for one global code per appearance (MLP-O(Z, e) stays); insta has no appearance
        # input at all, so neither codes nor MLP-O (MLP-O's input is the appearance code).
        self.codes = None
        if config.variant in ("full", "no-offset"):
            self.codes = LatentTextures(len(self.appearance_names), config.texture_channels, config.texture_resolution)
        elif config.variant == "no-lnf":
            self.codes = GlobalCodes(len(self.appearance_names), config.texture_channels)
        encoder = HashGrid(config.hashgrid)
        self.field = CanonicalField(config.field, encoder, encoder.n_output_dims, head.n_expression,
                                    self.codes.channels if self.codes is not None else 0,
                                    use_offset=config.variant in ("full", "no-lnf"))

    @property
    def device(self) -> torch.device:
        """Where the avatar's tensors live (move them all with `avatar.to(device)`)."""
        return self.shape.device

    @property
    def appearances(self) -> list[str]:
        """The appearance names (DESIGN §3 contract; the same list as `appearance_names`)."""
        return list(self.appearance_names)

    # ---- geometry ----------------------------------------------------------------------------------
    def _canonical_vertices(self) -> torch.Tensor:
        """Identity shape, zero expression, neutral pose, jaw opened by `canonical_jaw_deg` (V, 3)."""
        pose = torch.zeros(1, self.head.n_joints, 3, device=self.shape.device)
        if "jaw" in self.head.joint_names:
            pose[0, self.head.joint_names.index("jaw"), 0] = math.radians(self.config.canonical_jaw_deg)
        return self.head(shape=self.shape[None], pose=pose).vertices[0]

    def deform(self, expression: torch.Tensor, pose: torch.Tensor, translation: torch.Tensor | None = None) -> torch.Tensor:
        """The tracked mesh of frames: expression (B, E), pose (B, J, 3), translation (B, 3) → (B, V, 3)."""
        shape = self.shape[None].expand(expression.shape[0], -1)
        return self.head(shape=shape, expression=expression, pose=pose, translation=translation).vertices

    def pose(self, vertices: torch.Tensor) -> PosedMesh:
        """One frame's deformed mesh (V, 3), prepared for `render_rays` (face maps and search structure)."""
        return pose_mesh(vertices, self.canonical_vertices, self.head.faces)

    def to_unit_cube(self, x_c: torch.Tensor) -> torch.Tensor:
        return (x_c - self.aabb[0]) / (self.aabb[1] - self.aabb[0])

    def occupied(self, x01: torch.Tensor) -> torch.Tensor:
        """(N,) bool: the occupancy cell of each unit-cube point (N, 3) may hold density."""
        G = self.occupancy.shape[0]
        cell = (x01 * G).long().clamp(0, G - 1)
        return self.occupancy[cell[:, 0], cell[:, 1], cell[:, 2]]

    # ---- rendering ---------------------------------------------------------------------------------
    def render_rays(self, origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor, far: torch.Tensor,
                    group: torch.Tensor, vertices: torch.Tensor, expression: torch.Tensor, appearance: torch.Tensor,
                    background: torch.Tensor, jitter: bool = False, generator: torch.Generator | None = None,
                    use_occupancy: bool = True, samples_per_ray: int | None = None,
                    posed: Sequence[PosedMesh] | None = None, skip_faint_color: bool = False) -> RayOutput:
        """Render R rays that belong to G frames.

        origins, directions (R, 3) (unit directions); near, far (R,) sampling interval; group (R,) int64
        frame of each ray in [0, G); vertices (G, V, 3) each frame's deformed mesh; expression (G, E);
        appearance (G,) int64 appearance per frame, or (A,) float weights (blend, all frames);
        background (R, 3) or (3,); posed: `pose_mesh(vertices[g], ...)` per frame when the caller keeps them
        across calls (a whole render), else they are prepared here. skip_faint_color (no gradients):
        the density first, then the colour only of samples whose weight exceeds FAINT_WEIGHT; the others
        count as grey (0.5), which moves a pixel by at most 0.5·K·FAINT_WEIGHT.
        """
        cfg = self.config
        R, K = origins.shape[0], samples_per_ray or cfg.samples_per_ray
        samples = stratified_samples(near, far, K, generator=generator, jitter=jitter)
        x = (origins[:, None] + samples.t[..., None] * directions[:, None]).reshape(-1, 3)
        d = directions[:, None].expand(R, K, 3).reshape(-1, 3)
        radius = max(cfg.shell_out, cfg.shell_in) * 1.001  # the exact shell test below decides
        steps = torch.arange(K, device=origins.device)
        keep_index, x01, d_c, uv, kept_group = [], [], [], [], []
        with torch.no_grad():
            for g in group.unique().tolist():
                ray_rows = (group == g).nonzero()[:, 0]
                rows = (ray_rows[:, None] * K + steps).reshape(-1)
                mesh = posed[g] if posed is not None else self.pose(vertices[g])
                hits = mesh.closest_in_shell(x.view(R, K, 3)[ray_rows], radius)
                inside = (hits.face_id >= 0) & (hits.distance <= cfg.shell_out) & (hits.distance >= -cfg.shell_in)
                rows, face, bary = rows[inside], hits.face_id[inside], hits.bary[inside]
                maps = mesh.maps
                p01 = self.to_unit_cube(map_points(maps, x[rows], face))
                if use_occupancy:
                    occ = self.occupied(p01)
                    rows, face, bary, p01 = rows[occ], face[occ], bary[occ], p01[occ]
                keep_index.append(rows)
                x01.append(p01)
                d_c.append(map_directions(maps, d[rows], face))
                uv.append((bary[:, :, None] * self.face_uv[face]).sum(1))
                kept_group.append(torch.full_like(rows, g))
        keep_index, x01, d_c, uv, kept_group = (torch.cat(v) for v in (keep_index, x01, d_c, uv, kept_group))
        sigma = torch.zeros(R * K, dtype=origins.dtype, device=origins.device)
        rgb = torch.zeros(R * K, 3, dtype=origins.dtype, device=origins.device)
        if len(keep_index):
            z = None
            if self.codes is not None:
                per_sample = appearance if appearance.is_floating_point() else appearance[kept_group]
                z = self.codes.lookup(uv, per_sample)
            if skip_faint_color and not torch.is_grad_enabled():
                density = self.field.density(x01.clamp(0, 1), expression, kept_group, z)
                sigma = sigma.index_put((keep_index,), density.sigma)
                bright = sample_weights(sigma.view(R, K), samples.dt).view(-1)[keep_index] > FAINT_WEIGHT
                color = torch.full((len(keep_index), 3), 0.5, dtype=rgb.dtype, device=rgb.device)
                color[bright] = self.field.color(d_c[bright], density.geo[bright], None if z is None else z[bright])
                rgb = rgb.index_put((keep_index,), color)
            else:
                out = self.field(x01.clamp(0, 1), d_c, expression, kept_group, z)
                sigma = sigma.index_put((keep_index,), out.sigma)
                rgb = rgb.index_put((keep_index,), out.rgb)
        bg = background.expand(R, 3) if background.ndim == 1 else background
        comp = composite(sigma.view(R, K), rgb.view(R, K, 3), samples.t, samples.dt, bg)
        return RayOutput(comp.rgb, comp.alpha, comp.depth, len(keep_index), comp.weights, samples.t, samples.dt)

    @torch.no_grad()
    def render(self, camera: Camera, expression: torch.Tensor, pose: torch.Tensor, appearance,
               translation: torch.Tensor | None = None, background=(1.0, 1.0, 1.0), chunk: int | None = None,
               cancelled: Callable[[], bool] | None = None, samples_per_ray: int | None = None,
               skip_faint_color: bool = True) -> RenderOutput | None:
        """Render a whole image. expression (E,), pose (J, 3), translation (3,) or None; appearance: a name,
        an index, or (A,) weights over appearances (blending); background (3,) colour or (H, W, 3) image.
        samples_per_ray overrides the config's (fewer for fast previews). Rays start where the avatar's
        density can begin (`vertex_extent` above each vertex of the posed mesh). `chunk` rays are rendered
        at a time (default: RENDER_CHUNK_SAMPLES samples' worth); `cancelled` is checked between chunks.
        The posed mesh is prepared once and kept while the pose stays the same (`_posed_cached`: an orbit
        reuses it). The field is conditioned on the expression clamped to the trained range when the
        checkpoint records one (pav/nerf/expression_range.py); the mesh follows the expression as given.
        skip_faint_color: see `render_rays` (False: the plain twin, every sample's colour).
        Returns None if `cancelled()` turns True."""
        dev = self.device
        weights = self.appearance_weights(appearance)
        expression = torch.as_tensor(expression, dtype=torch.float32, device=dev).reshape(1, -1)
        pose = torch.as_tensor(pose, dtype=torch.float32, device=dev).reshape(1, self.head.n_joints, 3)
        if translation is not None:
            translation = torch.as_tensor(translation, dtype=torch.float32, device=dev).reshape(1, 3)
        camera = camera.to(dev)
        vertices = self.deform(expression, pose, translation)
        conditioning = clamp_expression(expression, self.info.get("expression_range"))
        posed = self._posed_cached(vertices[0])
        cfg = self.config
        chunk = chunk or max(1, RENDER_CHUNK_SAMPLES // (samples_per_ray or cfg.samples_per_ray))
        iv = ray_intervals(vertices[0], self.head.faces, camera, self.vertex_extent, cfg.shell_in, cfg.max_chord)
        origins, dirs = camera.rays()
        H, W = camera.height, camera.width
        bg = torch.as_tensor(background, dtype=torch.float32, device=dev)
        if bg.shape not in ((3,), (H, W, 3)):
            raise ValueError(f"background must be (3,) or ({H}, {W}, 3), got {tuple(bg.shape)}")
        bg = bg.reshape(-1, 3).expand(H * W, 3)
        rgb = bg.clone()
        alpha, depth = torch.zeros(H * W, device=dev), torch.zeros(H * W, device=dev)
        hits = iv.hit.reshape(-1).nonzero()[:, 0]
        cos = (dirs.reshape(-1, 3) @ camera.c2w[:3, 2].float())
        for start in range(0, len(hits), chunk):
            if cancelled is not None and cancelled():
                return None
            idx = hits[start:start + chunk]
            out = self.render_rays(origins.reshape(-1, 3)[idx], dirs.reshape(-1, 3)[idx], iv.near.reshape(-1)[idx],
                                   iv.far.reshape(-1)[idx], torch.zeros(len(idx), dtype=torch.long, device=dev),
                                   vertices, conditioning, weights, bg[idx], samples_per_ray=samples_per_ray,
                                   posed=[posed], skip_faint_color=skip_faint_color)
            rgb[idx], alpha[idx], depth[idx] = out.rgb, out.alpha, out.depth * cos[idx]
        return RenderOutput(rgb.view(H, W, 3), alpha.view(H, W), depth.view(H, W))

    def __getstate__(self) -> dict:
        """Copies and pickles leave the prepared posed mesh behind (it holds warp's native BVH)."""
        state = dict(super().__getstate__())
        state.pop("_posed", None)
        return state

    def _posed_cached(self, vertices: torch.Tensor) -> PosedMesh:
        """`pose(vertices)`, reused while the posed mesh stays the same (an orbit moves only the camera)."""
        cached = getattr(self, "_posed", None)
        if cached is not None and cached.vertices.device == vertices.device and torch.equal(cached.vertices, vertices):
            return cached
        self._posed = self.pose(vertices)
        return self._posed

    def appearance_weights(self, appearance) -> torch.Tensor:
        """A name, an index or a weight vector (A,) → normalised weights (A,) float."""
        A = len(self.appearance_names)
        if isinstance(appearance, str):
            if appearance not in self.appearance_names:
                raise ValueError(f"appearance '{appearance}' is not one of {self.appearance_names}")
            appearance = self.appearance_names.index(appearance)
        if isinstance(appearance, int):
            if not 0 <= appearance < A:
                raise ValueError(f"appearance index {appearance} is out of range 0..{A - 1}")
            return nn.functional.one_hot(torch.tensor(appearance, device=self.device), A).float()
        w = torch.as_tensor(appearance, dtype=torch.float32, device=self.device)
        if w.shape != (A,) or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"appearance weights must be {A} non-negative finite numbers with a positive sum, "
                             f"got {w.tolist()}")
        return w / w.sum()
