"""Training (DESIGN §1.8): λ_color·L2(rgb) + λ_depth·L1(termination depth − mesh depth) on the face region.

`Trainer.step()` runs one optimisation step and returns `StepStats`; it knows nothing of GUIs or files, so
the CLI, the viewer's background thread and tests all drive it the same way. The loss is `training_loss`,
the optimiser `make_optimizer`. Resuming takes two parts: the avatar's checkpoint (weights, occupancy grid,
its density estimates, per-vertex extents) and `state_dict()` / `load_state_dict()` (optimiser, step, RNG,
the training rays' interval extents). The CLI and the app load the avatar first, then build the Trainer on
it (which keeps a loaded occupancy grid), then load its state.

Rays: each step draws `frames_per_step` training frames and `rays_per_step / frames_per_step` pixels
from each, among the pixels whose ray enters the shell around that frame's tracked mesh (the others show
the background exactly and carry no gradient). Per-frame meshes and shell intervals are computed once.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import torch

from ..config import TrainConfig
from ..data import FrameBatch
from ..nerf.avatar import Avatar, RayOutput
from ..nerf.sampling import ray_intervals
from .background import random_colors, recomposite
from .losses import (alpha_entropy, distortion_loss, far_density, inner_transparency, sh_dirichlet_energy,
                     shell_probes)
from .occupancy import extent_probes, shell_cells, update_occupancy, vertex_extents
from .posed_cache import PosedCache


class StepStats(NamedTuple):
    step: int
    loss: float
    psnr: float
    """PSNR (dB) of this batch's rays."""
    depth_l1: float
    """mean |depth − mesh depth| (m) on the batch's face-region rays."""
    seconds: float
    """wall time of this step."""
    samples: int
    """samples that reached the field."""


class BatchLoss(NamedTuple):
    """One batch's loss (differentiable) and what `StepStats` reports about it."""

    loss: torch.Tensor
    mse: torch.Tensor
    depth_l1: torch.Tensor
    samples: int


class Loss(NamedTuple):
    total: torch.Tensor
    """λ_color · mse + λ_depth · depth_l1 (scalar, differentiable)."""
    mse: torch.Tensor
    """mean squared colour error over all rays and channels."""
    depth_l1: torch.Tensor
    """mean |depth − surface_t| over the face rays that hit the mesh (0 when the batch has none)."""


def training_loss(rgb: torch.Tensor, gt: torch.Tensor, depth: torch.Tensor, surface_t: torch.Tensor,
                  face: torch.Tensor, lambda_color: float, lambda_depth: float) -> Loss:
    """DESIGN §1.8 on a batch of R rays: rgb, gt (R, 3); depth (R,) rendered termination distance along the
    ray; surface_t (R,) ray distance of the bare mesh (inf where the ray misses it); face (R,) bool, the
    pixel is in the face mask. Only face rays that hit the mesh enter the depth term."""
    mse = ((rgb - gt) ** 2).mean()
    face = face & torch.isfinite(surface_t)
    depth_l1 = (depth[face] - surface_t[face]).abs().mean() if face.any() else depth.sum() * 0
    return Loss(lambda_color * mse + lambda_depth * depth_l1, mse, depth_l1)


def make_optimizer(avatar: Avatar, config: TrainConfig) -> torch.optim.Adam:
    """Adam (β = config.betas, ε = 1e-15) with two parameter groups: [0] everything but MLP-O at `config.lr`,
    [1] MLP-O at `config.lr_offset` (only for variants that have MLP-O)."""
    offset = list(avatar.field.mlp_o.parameters()) if avatar.field.mlp_o is not None else []
    offset_ids = {id(p) for p in offset}
    main = [p for p in avatar.parameters() if id(p) not in offset_ids]
    groups = [{"params": main, "lr": config.lr}] + ([{"params": offset, "lr": config.lr_offset}] if offset else [])
    fused = all(p.device.type in ("cpu", "cuda") for p in avatar.parameters())  # one kernel for all parameters:
    return torch.optim.Adam(groups, betas=config.betas, eps=1e-15, fused=fused or None)  # 11 → 3 ms per step


class FrameRays(NamedTuple):
    """Per training frame, precomputed: the frame's mesh and, for its shell pixels, ray data."""

    vertices: torch.Tensor  # (N, V, 3)
    pixels: list            # N × (P_i,) flat pixel indices whose ray enters the shell
    near: torch.Tensor      # (N, H·W)
    far: torch.Tensor       # (N, H·W)
    surface_t: torch.Tensor  # (N, H·W) ray distance of the bare mesh (inf off the mesh)


def precompute_rays(avatar: Avatar, data: FrameBatch, progress=None, extent: torch.Tensor | None = None,
                    base: FrameRays | None = None) -> FrameRays:
    """Meshes and shell intervals of every training frame. extent (V,): per-vertex shell heights instead of
    the config's `shell_out`; with `base` (the whole-shell rays), the pixel set stays base's and pixels the
    tighter shell misses keep base's intervals."""
    cfg = avatar.config
    if base is None:
        with torch.no_grad():
            vertices = avatar.deform(data.expression, data.pose, data.translation)
    else:
        vertices = base.vertices
    pixels, nears, fars, surf = [], [], [], []
    for i in range(len(vertices)):
        camera = data.camera(i)
        shell = extent if extent is not None else cfg.shell_out
        iv = ray_intervals(vertices[i], avatar.head.faces, camera, shell, cfg.shell_in, cfg.max_chord)
        near, far = iv.near.reshape(-1), iv.far.reshape(-1)
        if base is not None:
            hit = iv.hit.reshape(-1)
            near, far = torch.where(hit, near, base.near[i]), torch.where(hit, far, base.far[i])
            pixels.append(base.pixels[i])
            surf.append(base.surface_t[i])
        else:
            _, dirs = camera.rays()
            cos = dirs @ camera.c2w[:3, 2].float()
            pixels.append(iv.hit.reshape(-1).nonzero()[:, 0])
            surf.append((iv.surface_depth / cos).reshape(-1))
        nears.append(near)
        fars.append(far)
        if progress:
            progress(i + 1, len(vertices))
    return FrameRays(vertices, pixels, torch.stack(nears), torch.stack(fars), torch.stack(surf))


class Trainer:
    def __init__(self, avatar: Avatar, data: FrameBatch, config: TrainConfig, progress=None):
        if data.images is None:
            raise ValueError("training needs frames with images (not the novel split)")
        if config.random_background and data.masks is None:
            raise ValueError("train.random_background needs the collection's person masks (masks/ folders); "
                             "turn it off or add the masks")
        data = data.to(avatar.device)  # one copy at the edge; every tensor below is created on this device
        self.avatar, self.data, self.config = avatar, data, config
        self.generator = torch.Generator(device=avatar.device).manual_seed(config.seed)
        self.shell_rays = precompute_rays(avatar, data, progress)
        self.rays = self.shell_rays
        self.ray_extent: torch.Tensor | None = None
        """the per-vertex extents the current intervals were computed from (None: the whole shell)."""
        self.refreshed_at = -1
        """the step count at the last interval refresh."""
        usable = [i for i, p in enumerate(self.rays.pixels) if len(p) > 0]
        if not usable:
            raise ValueError("no training frame shows the head: check the cameras and head parameters")
        self.usable = torch.tensor(usable, device=avatar.device)
        self.reachable = shell_cells(avatar)
        # A new avatar's grid (all cells) becomes the reachable cells; a loaded one (a subset of them, as
        # `update_occupancy` leaves it) is kept as it is: resuming continues with the saved grid.
        avatar.occupancy.logical_and_(self.reachable)
        self.extent_probes = extent_probes(avatar)
        self.optimizer = make_optimizer(avatar, config)
        self.step_count = 0
        self.train_seconds = 0.0
        self.render_rays = avatar.render_rays
        self.posed = PosedCache(avatar.pose)
        """the ray renderer the loss calls (pav.train.distributed puts the DistributedDataParallel one here)."""
        self.updates_shared_state = True
        """refresh the occupancy grid and per-vertex extents (False on distributed ranks other than 0: they
        receive rank 0's by broadcast)."""
        self.history: list[dict] = []
        """test-PSNR probes ({seconds, step, test_psnr}) recorded by the caller; saved in checkpoints."""
        H, W = data.height, data.width
        self._origins = data.c2w[:, :3, 3].clone()  # (N, 3)
        self._intrinsics = data.intrinsics.tolist()  # (N, 4) on the host: no device sync per step
        self._pixel_centres = self._pixel_centre_grid(H, W)

    def _pixel_centre_grid(self, H: int, W: int) -> torch.Tensor:
        j = torch.arange(W, dtype=torch.float32, device=self.avatar.device) + 0.5
        i = torch.arange(H, dtype=torch.float32, device=self.avatar.device) + 0.5
        ii, jj = torch.meshgrid(i, j, indexing="ij")
        return torch.stack([jj, ii], -1).reshape(-1, 2)  # pixel centres (H·W, 2)

    def _directions(self, frame: int, pixels: torch.Tensor) -> torch.Tensor:
        fx, fy, cx, cy = self._intrinsics[frame]
        uv = self._pixel_centres[pixels]
        d = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones_like(uv[:, 0])], -1)
        d = d @ self.data.c2w[frame, :3, :3].T
        return d / d.norm(dim=-1, keepdim=True)

    def sample_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(frames (G,), pixels (R,), group (R,)): G random usable frames and R rays among their shell
        pixels, grouped frame by frame."""
        cfg, rays = self.config, self.rays
        n_frames = min(cfg.frames_per_step, len(self.usable))
        gen = self.generator
        frames = self.usable[torch.randperm(len(self.usable), generator=gen, device=gen.device)[:n_frames]]
        per_frame = max(1, cfg.rays_per_step // n_frames)
        pix, grp = [], []
        for g, f in enumerate(frames.tolist()):
            cand = rays.pixels[f]
            pix.append(cand[torch.randint(len(cand), (per_frame,), generator=gen, device=gen.device)])
            grp.append(torch.full((per_frame,), g, dtype=torch.long, device=gen.device))
        return frames, torch.cat(pix), torch.cat(grp)

    def step(self) -> StepStats:
        """One optimisation step (after `prepare()`, which it calls: drivers that share the avatar with a
        renderer call `prepare()` outside their lock and `step()` inside, so the seconds-long interval
        refresh does not hold the lock)."""
        self.prepare()
        start = time.perf_counter()
        batch = self.batch_loss()
        if not batch.loss.requires_grad:  # no sample reached the field: nothing can ever learn again
            raise ValueError(f"step {self.step_count + 1}: no ray sample lies in an occupied cell (the occupancy "
                             "grid emptied: training diverged); start over with --force")
        self.optimizer.zero_grad(set_to_none=True)
        batch.loss.backward()
        self.optimizer.step()
        self.step_count += 1
        if self.updates_shared_state:
            self.update_shared_state()
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        psnr = float(-10 * torch.log10(batch.mse.detach().clamp_min(1e-10)))
        return StepStats(self.step_count, float(batch.loss.detach()), psnr, float(batch.depth_l1.detach()), seconds,
                         batch.samples)

    def batch_loss(self) -> BatchLoss:
        """Draw a batch (from `self.generator`) and compute its loss (DESIGN §1.8)."""
        avatar, data, rays, cfg = self.avatar, self.data, self.rays, self.config
        frames, pixels, group = self.sample_batch()
        frame_of_ray = frames[group]
        origins = self._origins[frame_of_ray]
        dirs = torch.cat([self._directions(int(f), pixels[group == g]) for g, f in enumerate(frames.tolist())])
        HW = data.height * data.width
        gt = data.images.view(len(data.images), HW, 3)[frame_of_ray, pixels]
        if data.backgrounds is not None:
            background = data.backgrounds.view(len(data.backgrounds), HW, 3)[data.appearance[frame_of_ray], pixels]
        else:
            background = torch.ones(len(pixels), 3, device=gt.device)
        if cfg.random_background:
            new_background = random_colors(len(pixels), self.generator)
            mask = data.masks.view(len(data.masks), HW)[frame_of_ray, pixels]
            gt, background = recomposite(gt, background, mask, new_background), new_background
        out = self.render_rays(origins, dirs, rays.near[frame_of_ray, pixels], rays.far[frame_of_ray, pixels],
                               group, rays.vertices[frames], data.expression[frames], data.appearance[frames],
                               background, jitter=True, generator=self.generator,
                               use_occupancy=self.step_count >= cfg.occupancy_warmup,
                               posed=[self.posed.get(f, rays.vertices[f]) for f in frames.tolist()])
        face = data.face_masks.view(len(data.face_masks), HW)[frame_of_ray, pixels] > 0.5
        loss, mse, depth_l1 = training_loss(out.rgb, gt, out.depth, rays.surface_t[frame_of_ray, pixels], face,
                                            cfg.lambda_color, cfg.lambda_depth)
        loss = loss + self.regularizers(out, rays.far[frame_of_ray, pixels] - rays.near[frame_of_ray, pixels])
        return BatchLoss(loss, mse, depth_l1, out.n_field_samples)

    def regularizers(self, out: RayOutput, length: torch.Tensor):
        """The weighted sum of the optional terms of pav/train/losses.py that are switched on (0 when none
        is: then nothing is drawn from the generator and training is as without them). length (R,): the
        rays' sampled lengths."""
        cfg, avatar, total = self.config, self.avatar, 0.0
        if cfg.lambda_distortion:
            total = total + cfg.lambda_distortion * distortion_loss(out.weights, out.t, out.dt, length).mean()
        if cfg.lambda_alpha_entropy:
            total = total + cfg.lambda_alpha_entropy * alpha_entropy(out.alpha).mean()
        if cfg.lambda_view_smooth:
            degree = avatar.field.cfg.sh_degree
            energy = sh_dirichlet_energy(avatar.field.mlp_c.first.weight[:, :degree ** 2], degree)
            total = total + cfg.lambda_view_smooth * energy
        if cfg.lambda_far_density:
            total = total + cfg.lambda_far_density * self.far_density_penalty()
        if cfg.lambda_inner_opacity:
            total = total + cfg.lambda_inner_opacity * self.inner_opacity_penalty()
        return total

    def far_density_penalty(self) -> torch.Tensor:
        """Mean `far_density` on `far_density_probes` random canonical points of the shell, each under the
        expression and appearance of one of 16 random training frames and a random view direction."""
        probes, sigma = self.probe_density(0.0, self.avatar.config.shell_out)
        return far_density(sigma, probes.height, self.config.far_density_start, self.avatar.config.shell_out,
                           self.config.far_density_delta).mean()

    def inner_opacity_penalty(self) -> torch.Tensor:
        """Mean `inner_transparency` (δ = shell_in) on random canonical points in the layer shell_in below the
        surface, drawn as for `far_density_penalty`."""
        shell_in = self.avatar.config.shell_in
        return inner_transparency(self.probe_density(-shell_in, 0.0)[1], shell_in).mean()

    def probe_density(self, low: float, high: float):
        """(ShellProbes, σ (N,)): `far_density_probes` random canonical points at heights in [low, high]
        above the canonical mesh and the field's density there, each under the expression and appearance
        of one of 16 random training frames and a random view direction."""
        avatar, cfg, data, gen = self.avatar, self.config, self.data, self.generator
        dev = gen.device
        probes = shell_probes(avatar.canonical_vertices, avatar.head.faces, cfg.far_density_probes, high, gen,
                              min_height=low)
        frames = self.usable[torch.randint(len(self.usable), (16,), generator=gen, device=dev)]
        group = torch.randint(16, (len(probes.height),), generator=gen, device=dev)
        z = None
        if avatar.codes is not None:
            uv = (probes.bary[:, :, None] * avatar.face_uv[probes.face]).sum(1)
            z = avatar.codes.lookup(uv, data.appearance[frames][group])
        dirs = torch.nn.functional.normalize(torch.randn(len(group), 3, generator=gen, device=dev), dim=-1)
        sigma = avatar.field(avatar.to_unit_cube(probes.points).clamp(0, 1), dirs, data.expression[frames], group,
                             z).sigma
        return probes, sigma

    def update_shared_state(self) -> None:
        """After step k: every `occupancy_every` steps, refresh the occupancy grid and (after the warm-up)
        the per-vertex extents where rendering starts its rays."""
        avatar, cfg = self.avatar, self.config
        if self.step_count % cfg.occupancy_every == 0:
            update_occupancy(avatar, self.reachable, self.data.expression, self.generator)
            if self.step_count >= cfg.occupancy_warmup:  # where rendering starts its rays
                avatar.vertex_extent.copy_(vertex_extents(avatar, self.extent_probes))

    def prepare(self) -> None:
        """Work due before the next step that does not change the avatar: every `interval_refresh_every`
        steps after the warm-up, recompute the rays' intervals from the current per-vertex extents."""
        cfg, k = self.config, self.step_count
        every = cfg.interval_refresh_every
        if every and k >= cfg.occupancy_warmup and k % every == 0 and self.refreshed_at != k:
            self.refresh_intervals(self.avatar.vertex_extent)
            self.refreshed_at = k

    def refresh_intervals(self, extent: torch.Tensor) -> None:
        """Recompute the training rays' intervals from per-vertex extents (V,) (`precompute_rays`)."""
        self.ray_extent = extent.detach().clone()
        self.rays = precompute_rays(self.avatar, self.data, extent=self.ray_extent, base=self.shell_rays)

    def state_dict(self) -> dict:
        return {"step": self.step_count, "train_seconds": self.train_seconds,
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                "ray_extent": None if self.ray_extent is None else self.ray_extent.cpu(),
                "refreshed_at": self.refreshed_at}

    def load_state_dict(self, state: dict) -> None:
        if state.get("ray_extent") is not None:
            self.refresh_intervals(state["ray_extent"].to(self.avatar.device))
        self.refreshed_at = int(state.get("refreshed_at", -1))
        self.step_count = int(state["step"])
        self.train_seconds = float(state["train_seconds"])
        self.optimizer.load_state_dict(state["optimizer"])
        try:
            self.generator.set_state(state["generator"])
        except RuntimeError:  # saved on another kind of device (a CUDA run resumed on the CPU, or back)
            self.generator.manual_seed(self.config.seed + self.step_count)
