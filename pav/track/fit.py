"""Fit the head model to the landmarks of several videos with ONE identity shared by all (PAV §3.1).

Unknowns: the identity shape β (shared by every video); per video the focal length (one pinhole camera,
fixed, at the origin looking along −z of head space, principal point at the crop centre); per frame the
expression, the global head rotation, the neck and jaw rotations and the head translation. The eyes are
left at rest (mediapipe's 468 points see no gaze).

Energy (all frames of all videos at once, full batch, Adam):
- landmarks: Charbonnier ρ(‖π(L_k) − ℓ_k‖ / IOD) over mediapipe's 468 points, where L_k is the head
  model's embedded landmark k (`HeadModel.landmarks`), π the video's camera and IOD the frame's detected
  outer-eye-corner distance (the error measure reported, too);
- priors: ‖β‖², ‖e‖², neck and jaw rotations², and the focal's log distance to its start;
- temporal smoothness: squared differences of consecutive kept frames of a video, divided by their gap;
- optionally, photometric: the L1 colour error of the rasterized tracked mesh (an unknown colour per
  vertex and video) over the face region (`_photometric_stage`).
Coarse to fine: first the rigid head (rotation, translation, focal) from a closed-form start (depth from
the detected eye distance), then everything, then (optionally) the photometric stage at low resolution.
Coefficients of one-sided bases (the built-in model's ARKit expressions and phenotype shape columns) are
kept in [0, 1] by projection after each step (`keep_in_bounds`).

Only the vertices the landmarks touch are posed while fitting (`landmark_head`, a sub-model with the same
joints, tested against the full model).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..camera import Camera
from ..head import HeadModel
from .landmarks import OUTER_EYE_CORNERS

OPENCV_FROM_HEAD = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))
"""c2w of every tracked camera: at the origin, looking along head space −z, y down (OpenCV axes)."""


@dataclass
class FitConfig:
    rigid_steps: int = 150
    """Adam steps of the rigid stage (rotation, translation, focal)."""
    steps: int = 500
    """Adam steps of the full stage."""
    lr: float = 0.02
    """initial learning rate of both stages (cosine decay to lr / 20)."""
    fov_deg: float = 30.0
    """starting vertical field of view of the crop (a webcam with the head crop at ~half its width)."""
    w_focal: float = 1e-3
    """prior on log(focal / starting focal)."""
    w_shape: float = 1e-4
    """prior on the identity coefficients (per frame of landmark data, summed over coefficients)."""
    w_expression: float = 1e-4
    """prior on the expression coefficients."""
    w_pose: float = 1e-3
    """prior on the neck and jaw rotations (radians)."""
    w_smooth: float = 1e-2
    """temporal smoothness of consecutive frames (radians, coefficients, translation / 5 cm)."""
    robust: float = 0.01
    """ε of the Charbonnier penalty on IOD-normalised landmark distances."""
    photometric_steps: int = 0
    """Adam steps of the photometric stage (0: landmarks only; needs images and face masks)."""
    photometric_size: int = 128
    """resolution of the photometric stage's renders and images."""
    photometric_batch: int = 4
    """frames per photometric step."""
    w_photo: float = 0.1
    """weight of the photometric L1 (colour in [0, 1]) against the landmark energy."""


class TrackedVideo(NamedTuple):
    name: str
    focal: float
    """Focal length in crop pixels (fx = fy); the camera is `OPENCV_FROM_HEAD` for every frame."""
    expression: np.ndarray
    """(N, E) per frame."""
    pose: np.ndarray
    """(N, J, 3) axis-angle per joint, model joint order."""
    translation: np.ndarray
    """(N, 3) metres."""
    landmark_error: np.ndarray
    """(N,) mean landmark distance / inter-ocular distance after fitting, per frame."""

    def camera(self, size: int) -> Camera:
        """The video's camera for its size × size crops (principal point at the centre)."""
        return Camera(OPENCV_FROM_HEAD.float(), self.focal, self.focal, size / 2, size / 2, size, size)


class FitResult(NamedTuple):
    shape: np.ndarray
    """(S,) the identity shared by every video."""
    videos: list[TrackedVideo]


def landmark_head(model: HeadModel) -> HeadModel:
    """A HeadModel whose vertices are only those of `model`'s landmark triangles (plus one row per joint that
    carries the joint's rest position, so the skeleton is the full model's), with the same landmark
    embedding: `sub(...).landmarks == model(...).landmarks` for any parameters."""
    if model.landmark_faces is None or len(model.landmark_faces) != 468:
        have = "no landmark embedding" if model.landmark_faces is None else \
            f"a {len(model.landmark_faces)}-point landmark embedding"
        raise ValueError(f"head model '{model.name}' has {have}; tracking needs mediapipe's 468-point embedding, "
                         "which ships with the built-in head (--head-model default)")
    tri = model.faces[model.landmark_faces]  # (L, 3)
    keep, local = torch.unique(tri.reshape(-1), return_inverse=True)
    J, V = model.n_joints, len(keep)
    reg = model.J_regressor
    on = {"device": model.device}
    stack = lambda rows, joint_rows: torch.cat([rows, joint_rows])  # noqa: E731
    template = stack(model.v_template[keep], reg @ model.v_template)
    shapedirs = stack(model.shapedirs[keep], torch.einsum("jv,vck->jck", reg, model.shapedirs))
    exprdirs = stack(model.exprdirs[keep], torch.einsum("jv,vck->jck", reg, model.exprdirs))
    regressor = torch.cat([torch.zeros(J, V, **on), torch.eye(J, **on)], 1)
    weights = stack(model.lbs_weights[keep], torch.eye(J, **on))
    posedirs = None if model.posedirs is None else stack(model.posedirs[keep],
                                                         torch.zeros(J, 3, model.posedirs.shape[2], **on))
    faces = local.view(-1, 3)
    return HeadModel(name=f"{model.name} (landmark vertices)", v_template=template, faces=faces,
                     uv=torch.zeros(1, 2, **on), faces_uv=torch.zeros_like(faces), shapedirs=shapedirs,
                     exprdirs=exprdirs, J_regressor=regressor, parents=model.parents, lbs_weights=weights,
                     joint_names=model.joint_names, expression_names=model.expression_names, posedirs=posedirs,
                     shape_names=model.shape_names, landmark_faces=torch.arange(len(faces), **on),
                     landmark_bary=model.landmark_bary)


def one_sided(names: list[str]) -> bool:
    """Whether a basis' coefficients live in [0, 1] (ARKit blendshapes, anny's phenotype columns) rather than
    being zero-mean (FLAME's PCA)."""
    return any(n.endswith(("-incr", "-decr")) for n in names) or "jawOpen" in names


@torch.no_grad()
def keep_in_bounds(model: HeadModel, params: dict[str, torch.Tensor]) -> None:
    """Project one-sided coefficients (`one_sided`) back into [0, 1] after an optimiser step."""
    if one_sided(model.expression_names):
        params["expression"].clamp_(0, 1)
    if one_sided(model.shape_names):
        params["shape"].clamp_(0, 1)


def project(points: torch.Tensor, focal: torch.Tensor, centre: float) -> torch.Tensor:
    """Head-space points (..., 3) → pixels (..., 2) of a tracked camera (`OPENCV_FROM_HEAD`): x right,
    y down, depth −z; focal (...) broadcastable."""
    z = -points[..., 2]
    return torch.stack([focal * points[..., 0] / z + centre, focal * -points[..., 1] / z + centre], -1)


def _cosine(step: int, total: int, lr: float) -> float:
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(total, 1))))


def fit(model: HeadModel, landmarks: list[np.ndarray], indices: list[np.ndarray], size: int, names: list[str],
        config: FitConfig = FitConfig(), progress: Callable[[str, int, int], None] | None = None,
        images: list[np.ndarray] | None = None, face_masks: list[np.ndarray] | None = None,
        identity: np.ndarray | None = None, device: torch.device | str | None = None) -> FitResult:
    """landmarks[v] (N_v, 468, 2) crop-pixel detections of video v (size × size crops), indices[v] (N_v,)
    their source frame numbers (for smoothness) → the fitted parameters. With images[v] (N_v, S, S, 3)
    uint8 and face_masks[v] (N_v, S, S) and `config.photometric_steps`, a last stage adds the photometric
    term (`_photometric_stage`). `identity` (S,): a fixed identity shape (an existing avatar's, to drive
    it with a new video); it is then not optimised and is returned unchanged. `device`: where the fit
    computes (default: the head model's); every tensor is made there, the results come back as numpy."""
    device = model.device if device is None else torch.device(device)
    torch.manual_seed(0)
    head = landmark_head(model).to(device).double()
    dtype = torch.float64
    like = {"dtype": dtype, "device": device}
    obs = torch.cat([torch.as_tensor(lm, **like) for lm in landmarks])  # (N, L, 2)
    if not torch.isfinite(obs).all():
        raise ValueError("landmarks contain NaN: drop the frames without a face first")
    video_of = torch.cat([torch.full((len(lm),), v, device=device) for v, lm in enumerate(landmarks)])
    N = len(obs)
    iod = (obs[:, OUTER_EYE_CORNERS[1]] - obs[:, OUTER_EYE_CORNERS[0]]).norm(dim=-1)  # (N,)
    if (iod < 2).any():
        raise ValueError("a frame's detected eye corners are < 2 pixels apart: the face is too small")
    centre = size / 2
    f0 = 0.5 * size / math.tan(math.radians(config.fov_deg) / 2)

    # closed-form start: depth from the eye distance, position from the landmark centroid, no rotation
    rest = head(shape=torch.zeros(1, 1, **like)).landmarks[0]  # (L, 3)
    rest_iod = float((rest[OUTER_EYE_CORNERS[1]] - rest[OUTER_EYE_CORNERS[0]]).norm())
    depth = f0 * rest_iod / iod
    c = obs.mean(1)
    target = torch.stack([(c[:, 0] - centre) * depth / f0, -(c[:, 1] - centre) * depth / f0, -depth], -1)
    t_unit = 0.05  # translation parameters in 5 cm units
    params = {
        "log_focal": torch.zeros(len(landmarks), **like),
        "rotation": torch.zeros(N, 3, **like),
        "translation": ((target - rest.mean(0)) / t_unit).clone(),
        "expression": torch.zeros(N, model.n_expression, **like),
        "neck": torch.zeros(N, 3, **like),
        "jaw": torch.zeros(N, 3, **like),
        "shape": torch.zeros(1, model.n_shape, **like),
    }
    if identity is not None:
        identity = np.asarray(identity, dtype=np.float64).reshape(-1)
        if identity.shape != (model.n_shape,) or not np.isfinite(identity).all():
            raise ValueError(f"identity shape must be {model.n_shape} finite values, got {identity.shape}")
        params["shape"] = torch.tensor(identity, **like)[None]
    for name, p in params.items():
        p.requires_grad_(name != "shape" or identity is None)
    joint = {n: k for k, n in enumerate(model.joint_names)}
    prev, nxt, gap, start = [], [], [], 0  # consecutive kept frames of each video
    for lm, idx in zip(landmarks, indices):
        prev += range(start, start + len(lm) - 1)
        nxt += range(start + 1, start + len(lm))
        gap += np.diff(np.asarray(idx, dtype=np.float64)).tolist()
        start += len(lm)
    prev, nxt = (torch.tensor(i, dtype=torch.long, device=device) for i in (prev, nxt))
    gap = torch.tensor(gap, **like)
    frame_rows = torch.arange(N, device=device)

    def pose_of() -> torch.Tensor:
        pose = torch.zeros(N, model.n_joints, 3, **like)
        pose = pose.index_put((frame_rows, torch.full((N,), joint.get("global", 0), device=device)), params["rotation"])
        for name in ("neck", "jaw"):
            if name in joint:
                pose = pose.index_put((frame_rows, torch.full((N,), joint[name], device=device)), params[name])
        return pose

    def energy(full: bool) -> tuple[torch.Tensor, torch.Tensor]:
        shape = params["shape"].expand(N, -1)
        expression = params["expression"] if full else params["expression"].detach()
        out = head(shape=shape, expression=expression, pose=pose_of(), translation=params["translation"] * t_unit)
        focal = f0 * params["log_focal"].exp()[video_of]
        err = (project(out.landmarks, focal[:, None], centre) - obs).norm(dim=-1) / iod[:, None]  # (N, L)
        eps = config.robust
        e = ((err ** 2 + eps ** 2).sqrt() - eps).mean()
        e = e + config.w_focal * (params["log_focal"] ** 2).sum()
        if full:
            e = e + config.w_shape * (params["shape"] ** 2).sum() + config.w_expression * (expression ** 2).sum(1).mean()
            e = e + config.w_pose * (params["neck"] ** 2 + params["jaw"] ** 2).sum(1).mean()
        if len(prev):
            smooth = sum(((params[k][nxt] - params[k][prev]) ** 2).sum(1)
                         for k in ("rotation", "translation", "neck", "jaw"))
            if full:
                smooth = smooth + ((expression[nxt] - expression[prev]) ** 2).sum(1)
            e = e + config.w_smooth * (smooth / gap.clamp_min(1)).mean()
        return e, err.detach()

    free = tuple(k for k, p in params.items() if p.requires_grad)
    stages = (("rigid", config.rigid_steps, ("log_focal", "rotation", "translation"), False),
              ("full", config.steps, free, True))
    for stage, steps, names_, full in stages:
        opt = torch.optim.Adam([params[k] for k in names_], lr=config.lr)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = _cosine(step, steps, config.lr)
            opt.zero_grad(set_to_none=True)
            energy(full)[0].backward()
            opt.step()
            keep_in_bounds(model, params)
            if progress is not None:
                progress(stage, step + 1, steps)
    if images is not None and face_masks is not None and config.photometric_steps > 0:
        _photometric_stage(model, params, energy, pose_of, video_of, f0, t_unit, images, face_masks, size, config,
                           progress, device)
    with torch.no_grad():
        err = energy(True)[1].cpu()
        pose = pose_of().cpu()
    videos, start = [], 0
    for v, name in enumerate(names):
        rows = slice(start, start + len(landmarks[v]))
        start += len(landmarks[v])
        focal = float(f0 * params["log_focal"][v].detach().exp())
        videos.append(TrackedVideo(name, focal, params["expression"][rows].detach().cpu().numpy(),
                                   pose[rows].numpy(),
                                   (params["translation"][rows] * t_unit).detach().cpu().numpy(),
                                   err[rows].mean(1).numpy()))
    return FitResult(params["shape"][0].detach().cpu().numpy(), videos)


def _photometric_stage(model, params, energy, pose_of, video_of, f0, t_unit, images, face_masks, size, config,
                       progress, device: torch.device) -> None:
    """The photometric term through the rasterizer: per video an unknown colour per vertex (lighting baked
    in), the tracked mesh rendered by `rasterize` with visibility held fixed and barycentrics recomputed
    with autograd (`interpolate(..., vertices=)`), and the L1 colour error over the face region at
    `photometric_size`² added to the landmark energy. The colours are fitted alone for the first quarter
    of the steps, then with every parameter. Frames are drawn on the CPU (the same batches on any device)."""
    from ..camera import Camera
    from ..geometry import interpolate, rasterize

    dtype = torch.float64
    full = copy.deepcopy(model).to(device).double()
    ps = min(size, config.photometric_size)
    scale = ps / size

    def resample(a: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)
        t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
        return torch.nn.functional.interpolate(t, size=(ps, ps), mode="area").permute(0, 2, 3, 1).to(dtype)

    image = torch.cat([resample(im) / 255 for im in images])  # (N, ps, ps, 3)
    region = torch.cat([resample(m)[..., 0] > 0.5 for m in face_masks])  # (N, ps, ps)
    n_videos = int(video_of.max()) + 1
    mean_colour = torch.stack([image[video_of == v][region[video_of == v]].mean(0) for v in range(n_videos)])
    colours = mean_colour[:, None].repeat(1, model.n_vertices, 1).requires_grad_(True)  # (videos, V, 3)
    generator = torch.Generator(device="cpu").manual_seed(0)
    steps, warm = config.photometric_steps, config.photometric_steps // 4
    N = len(image)
    opt = torch.optim.Adam([{"params": [colours], "lr": 0.05},
                            {"params": [p for p in params.values() if p.requires_grad], "lr": config.lr * 0.1}])
    for step in range(steps):
        picked = torch.randperm(N, generator=generator, device="cpu")[:config.photometric_batch]
        batch = picked.to(device)
        shape = params["shape"].expand(len(batch), -1)
        vertices = full(shape=shape, expression=params["expression"][batch], pose=pose_of()[batch],
                        translation=params["translation"][batch] * t_unit).vertices
        photo = vertices.new_zeros(())
        for b, k in enumerate(picked.tolist()):
            focal = float(f0 * params["log_focal"][video_of[k]].detach().exp()) * scale
            camera = Camera(OPENCV_FROM_HEAD.to(device, dtype), focal, focal, ps / 2, ps / 2, ps, ps)
            with torch.no_grad():
                raster = rasterize(vertices[b].detach(), full.faces, camera)
            predicted = interpolate(colours[video_of[k]], raster, full.faces, vertices=vertices[b], camera=camera)
            seen = region[k] & (raster.face_id >= 0)
            if seen.any():
                photo = photo + (predicted[seen] - image[k][seen]).abs().mean()
        e, _ = energy(True)
        total = config.w_photo * photo / len(batch) + (e if step >= warm else 0.0 * e)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if step < warm:  # colours alone first
            for p in params.values():
                p.grad = None
        opt.step()
        keep_in_bounds(model, params)
        with torch.no_grad():
            colours.clamp_(0, 1)
        if progress is not None:
            progress("photometric", step + 1, steps)
