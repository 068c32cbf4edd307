"""`python -m pav.track.build_embedding`: the mediapipe face-mesh landmark embedding of the built-in head.

Writes `landmark_faces` (468,) int32 and `landmark_bary` (468, 3) float32 into assets/head/pav_head.npz
(atomically; every other key is kept byte for byte, and the model checksum does not include them, so
checkpoints stay valid). Landmark k of `HeadModel.landmarks` is then mediapipe's point k.

How it is built (deterministic, the same bytes on a rebuild; ~50 s on one CPU thread):
1. the head (identity 0) is rendered by the synthetic-collection renderer (pav.data.synth: procedural
   skin, brows, lips and eyes; buzz cut, clean-shaven; looks 0 and 1: two skins, key light from the
   right and from the left) at 512², with 3 expressions (`BUILD_EXPRESSIONS`: jawOpen 0.1, jawOpen
   0.35, a light smile) from 15 views: yaw −20, −10, 0, 10, 20° × pitch −10, 0, 10°, at 0.6 m with a
   30° field of view (2 × 3 × 15 = 90 renders);
2. mediapipe face mesh (468 points, `FaceLandmarker`) on each render; each point is back-projected by
   an exact ray–triangle intersection with the rendered mesh (`surface_hits`). A point whose ray hits
   an eyeball or the mouth interior, or misses the head (an eyelid point on the eye, an inner-lip point
   in the mouth gap, a contour point just off the silhouette), moves first to the nearest pixel showing
   skin or lips (at most 12 px);
3. each hit (face, barycentrics) is carried to the same surface point of the reference mesh
   (jawOpen 0.2, lips apart), and the per-coordinate median over the 90 renders is taken there (robust
   to the views that see a point badly);
4. the median is snapped to the closest point of the reference surface without the eyeballs and the
   mouth interior (they do not follow the lids and lips): face id + barycentrics.
Result at build time: median spread of the per-render points around their median 1.5 mm.
`check_embedding` measures it on a held-out render (yaw 10°, pitch 5°, jawOpen 0.5, look 7): mean
distance between the projected embedding landmarks and mediapipe's detections, over the inter-ocular
distance (outer eye corners 33–263): 0.019 (max 9.6 px at 150 px inter-ocular distance, on the chin,
where mediapipe sees the jaw more open than it is). That is near mediapipe's own floor here: its
detections on two looks of the same geometry and view differ by 0.008–0.020 of that distance.
Known bias, kept: on an exactly mirror-symmetric image mediapipe puts the midline 1–3 px right of the
centre (and the flipped image's 1–3 px left), so the embedding's midline points sit ~1.3 mm toward
the subject's left (+x) on this exactly symmetric head; they match what mediapipe reports.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..camera import Camera, orbit
from ..head.model import DEFAULT_MODEL, HeadModel
from .landmarks import N_LANDMARKS, OUTER_EYE_CORNERS, FaceLandmarker

__all__ = ["Embedding", "EmbeddingCheck", "RayHits", "build_embedding", "check_embedding", "ray_mesh_hits",
           "write_embedding"]

BUILD_YAWS = (-20.0, -10.0, 0.0, 10.0, 20.0)
BUILD_PITCHES = (-10.0, 0.0, 10.0)
BUILD_EXPRESSIONS = ({"jawOpen": 0.1}, {"jawOpen": 0.35},
                     {"jawOpen": 0.1, "mouthSmileLeft": 0.4, "mouthSmileRight": 0.4})
"""Expressions rendered for the build (the check's jawOpen 0.5 is not among them)."""
REFERENCE_EXPRESSION = {"jawOpen": 0.2}
"""The mesh on which the per-render points are gathered and snapped (lips apart, so a point near the
inner lip contour cannot snap across to the other lip)."""
EXCLUDED_REGIONS = ("eyes", "mouth_interior")


class Embedding(NamedTuple):
    faces: np.ndarray
    """(468,) int64 triangle of each mediapipe landmark."""
    bary: np.ndarray
    """(468, 3) float64 barycentrics in that triangle."""
    spread: np.ndarray
    """(468,) float64 median distance (m) of the per-render 3D points from their median (consistency)."""
    views: np.ndarray
    """(468,) int64 number of renders in which the landmark was detected and reached the surface."""


class EmbeddingCheck(NamedTuple):
    error: float
    """Mean landmark distance / inter-ocular distance (detections' 33–263)."""
    per_landmark: np.ndarray
    """(468,) float64 pixel distance of each projected landmark from its detection."""
    detected: np.ndarray
    """(468, 2) mediapipe's landmarks on the check render (pixels)."""
    projected: np.ndarray
    """(468, 2) the embedding's landmarks projected into the check render (pixels)."""
    image: np.ndarray
    """(H, W, 3) uint8 the check render."""


class RayHits(NamedTuple):
    points: torch.Tensor
    """(N, 3) float64 nearest intersection; NaN for rays that miss."""
    face_id: torch.Tensor
    """(N,) int64 triangle hit; −1 for rays that miss."""


def ray_mesh_hits(origin: torch.Tensor, dirs: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                  chunk: int = 32) -> RayHits:
    """Nearest intersections of rays origin (3,) + t · dirs (N, 3), t > 0, with the mesh vertices (V, 3),
    faces (F, 3): both windings, Möller–Trumbore, exact in float64, brute force over all triangles."""
    o, v = origin.double(), vertices.double()
    a, b, c = v[faces.long()].unbind(1)  # (F, 3) each
    e1, e2, s = b - a, c - a, o - a
    q = torch.linalg.cross(s, e1)  # (F, 3)
    points, ids = [], []
    for d in dirs.double().split(chunk):
        p = torch.linalg.cross(d[:, None], e2[None])  # (n, F, 3)
        det = (p * e1).sum(-1)
        safe = torch.where(det.abs() < 1e-18, torch.ones_like(det), det)
        u, w, t = (p * s).sum(-1) / safe, (d @ q.T) / safe, (e2 * q).sum(-1)[None] / safe
        ok = (det.abs() >= 1e-18) & (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
        t_min, f = torch.where(ok, t, torch.full_like(t, math.inf)).min(1)
        hit = torch.isfinite(t_min)
        points.append(torch.where(hit[:, None], o + t_min[:, None] * d, torch.full_like(d, math.nan)))
        ids.append(torch.where(hit, f, torch.full_like(f, -1)))
    return RayHits(torch.cat(points), torch.cat(ids))


def _rays(camera: Camera, pixels: np.ndarray) -> torch.Tensor:
    """Unit world directions (N, 3) through continuous pixel positions (N, 2)."""
    px = torch.as_tensor(pixels, dtype=torch.float64)
    d = torch.stack([(px[:, 0] - camera.cx) / camera.fx, (px[:, 1] - camera.cy) / camera.fy,
                     torch.ones(len(px), dtype=torch.float64)], -1) @ camera.c2w.double()[:3, :3].T
    return d / d.norm(dim=-1, keepdim=True)


def _subject(model: HeadModel, look_seed: int):
    """A render function (vertices (V, 3), camera) → uint8 image of a textured synthetic subject of the
    model: look `look_seed` of the synthetic generator, buzz cut, clean-shaven, key light from the upper
    right (even seeds) or upper left (odd seeds), so a build over seeds 0 and 1 is lit symmetrically."""
    from ..data.synth.appearance import appearance_scene
    from ..data.synth.looks import sample_looks
    from ..data.synth.render import render
    from ..data.synth.uvbake import bake_uv

    look = sample_looks(np.random.default_rng(look_seed), 1)[0]
    light = np.array([0.25 if look_seed % 2 == 0 else -0.25, -0.35, -0.9])  # even seeds lit from the right
    look = dataclasses.replace(look, hair_style="buzz cut", hair_thickness=0.002, beard_style="clean-shaven",
                               beard_thickness=0.0, stubble=0.0, freckles=0.0,
                               light_dir=tuple(float(x) for x in light / np.linalg.norm(light)))
    with torch.no_grad():
        rest = model()
    eyes = rest.joints[0, [model.joint_names.index(n) for n in ("left_eye", "right_eye")]].double().numpy()
    canonical = rest.vertices[0]
    scene = appearance_scene(model, look, bake_uv(model, canonical, 512), canonical.double().numpy(), eyes,
                             np.random.default_rng(look_seed + 1))

    def draw(vertices: torch.Tensor, camera: Camera) -> np.ndarray:
        bg = torch.full((camera.height, camera.width, 3), 0.45)
        image = render(scene, look, vertices, camera, bg, model.faces, 1).image
        return (image * 255 + 0.5).astype(np.uint8)

    return draw


def _expression(model: HeadModel, values: dict) -> torch.Tensor:
    e = torch.zeros(1, model.n_expression)
    for name, value in values.items():
        e[0, model.expression_names.index(name)] = value
    return e


def _camera(model: HeadModel, yaw: float, pitch: float, size: int) -> Camera:
    with torch.no_grad():
        eyes = model().joints[0, [model.joint_names.index(n) for n in ("left_eye", "right_eye")]].mean(0)
    target = eyes.double() + torch.tensor([0.0, -0.03, 0.0], dtype=torch.float64)
    return Camera.from_fov(orbit(target, 0.6, yaw, pitch), 30.0, size, size)


def _allowed_faces(model: HeadModel) -> torch.Tensor:
    """(F,) bool: faces a landmark may sit on (not the eyeballs or the mouth interior)."""
    keep = torch.ones(len(model.faces), dtype=torch.bool)
    for name in EXCLUDED_REGIONS:
        if name in model.regions:
            keep &= ~model.regions[name]
    return keep


def surface_hits(points: np.ndarray, camera: Camera, vertices: torch.Tensor, faces: torch.Tensor,
                 allowed: torch.Tensor, max_shift: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Back-project image points (N, 2) onto the mesh seen by `camera`: face ids (N,) (−1: none) and
    barycentrics (N, 3). A point whose ray misses the mesh or hits a face that is not `allowed` (F,)
    bool (an eyelid point on the eyeball, an inner-lip point in the mouth gap, a contour point just
    off the silhouette) moves to the nearest pixel showing an allowed face, if within max_shift px."""
    from scipy.ndimage import distance_transform_edt

    from ..geometry import closest_on_faces, rasterize

    hits = ray_mesh_hits(camera.center, _rays(camera, points), vertices, faces)
    bad = (hits.face_id < 0) | ~allowed[hits.face_id.clamp_min(0)]
    face_id, pos = hits.face_id.clone(), hits.points.clone()
    if bad.any():
        raster = rasterize(vertices, faces, camera)
        good = (raster.face_id >= 0) & allowed[raster.face_id.clamp_min(0)]
        dist, (ii, jj) = distance_transform_edt(~good.numpy(), return_indices=True)
        k = bad.nonzero()[:, 0].numpy()
        i = np.clip(np.floor(points[k, 1]).astype(int), 0, camera.height - 1)
        j = np.clip(np.floor(points[k, 0]).astype(int), 0, camera.width - 1)
        near = np.stack([jj[i, j] + 0.5, ii[i, j] + 0.5], -1)
        moved = ray_mesh_hits(camera.center, _rays(camera, near), vertices, faces)
        ok = torch.from_numpy(dist[i, j] <= max_shift) & (moved.face_id >= 0)
        ok &= allowed[moved.face_id.clamp_min(0)]
        face_id[k] = torch.where(ok, moved.face_id, torch.full_like(moved.face_id, -1))
        pos[k] = moved.points
    found = face_id >= 0
    bary = torch.zeros(len(points), 3, dtype=torch.float64)
    if found.any():
        bary[found] = closest_on_faces(pos[found], vertices.double(), faces, face_id[found]).bary
    return face_id.numpy(), bary.numpy()


def build_embedding(model: HeadModel, size: int = 512, looks: tuple[int, ...] = (0, 1)) -> Embedding:
    """The mediapipe-468 embedding of `model` (see the module docstring for the recipe)."""
    from ..geometry import closest_points

    allowed = _allowed_faces(model)
    faces = model.faces
    with torch.no_grad():
        reference = model(expression=_expression(model, REFERENCE_EXPRESSION)).vertices[0].double()
    samples = []  # per render: (468, 3) points on the reference mesh, NaN where undetected
    with FaceLandmarker(static=True) as landmarker:
        for seed in looks:
            draw = _subject(model, seed)
            for expression in BUILD_EXPRESSIONS:
                with torch.no_grad():
                    vertices = model(expression=_expression(model, expression)).vertices[0].double()
                for yaw in BUILD_YAWS:
                    for pitch in BUILD_PITCHES:
                        camera = _camera(model, yaw, pitch, size)
                        points = landmarker.landmarks(draw(vertices.float(), camera))
                        if points is None:
                            continue
                        fid, bary = surface_hits(points, camera, vertices, faces, allowed)
                        corners = reference[faces[torch.from_numpy(fid).clamp_min(0)]].numpy()  # (468, 3, 3)
                        p = (corners * bary[:, :, None]).sum(1)
                        p[fid < 0] = np.nan
                        samples.append(p)
    if not samples:
        raise RuntimeError("mediapipe found no face in any render of the head model")
    stack = np.stack(samples)  # (renders, 468, 3)
    views = np.isfinite(stack[..., 0]).sum(0)
    if (views == 0).any():
        raise RuntimeError(f"landmarks {np.nonzero(views == 0)[0].tolist()} never hit the head surface")
    centre = np.nanmedian(stack, axis=0)
    spread = np.nanmedian(np.linalg.norm(stack - centre, axis=-1), axis=0)
    ids = allowed.nonzero()[:, 0]
    snap = closest_points(torch.from_numpy(centre), reference, faces[ids])
    return Embedding(ids[snap.face_id].numpy(), snap.bary.double().numpy(), spread, views)


def check_embedding(model: HeadModel, yaw: float = 10.0, pitch: float = 5.0, expression: dict | None = None,
                    look: int = 7, size: int = 512, landmarker: FaceLandmarker | None = None) -> EmbeddingCheck:
    """Render `model` (which must carry an embedding) with `expression` (name → value; default jawOpen
    0.5) from (yaw, pitch), detect mediapipe landmarks, and compare with the projected embedding."""
    if model.landmark_faces is None:
        raise ValueError(f"head model '{model.name}' has no landmark embedding; "
                         "run `python -m pav.track.build_embedding`")
    expression = {"jawOpen": 0.5} if expression is None else expression
    with torch.no_grad():
        out = model(expression=_expression(model, expression))
    camera = _camera(model, yaw, pitch, size)
    image = _subject(model, look)(out.vertices[0], camera)
    own = landmarker or FaceLandmarker(static=True)
    try:
        detected = own.landmarks(image)
    finally:
        if landmarker is None:
            own.close()
    if detected is None:
        raise RuntimeError("mediapipe found no face in the check render")
    projected = camera.project(out.landmarks[0].double())[:, :2].numpy()
    dist = np.linalg.norm(projected - detected, axis=-1)
    iod = float(np.linalg.norm(detected[OUTER_EYE_CORNERS[0]] - detected[OUTER_EYE_CORNERS[1]]))
    return EmbeddingCheck(float(dist.mean() / iod), dist, detected, projected, image)


def overlay(check: EmbeddingCheck, zoom: int = 2) -> np.ndarray:
    """(h, w, 3) uint8: the check render's face region enlarged `zoom`×, detections as green dots,
    projected embedding landmarks as red dots, joined by yellow lines."""
    from PIL import Image, ImageDraw

    lo = np.floor(check.detected.min(0) - 20).clip(0).astype(int)
    hi = np.ceil(check.detected.max(0) + 20).clip(max=check.image.shape[1::-1]).astype(int)
    crop = Image.fromarray(check.image[lo[1]:hi[1], lo[0]:hi[0]])
    crop = crop.resize(tuple(int(n) for n in (hi - lo) * zoom), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(crop)
    to = lambda p: tuple((p - lo) * zoom - 0.5)  # noqa: E731  (PIL draws pixel centres at integers)
    for d, p in zip(check.detected, check.projected):
        draw.line([to(d), to(p)], fill=(255, 230, 0))
    for pts, color in ((check.detected, (0, 255, 0)), (check.projected, (255, 40, 40))):
        for p in pts:
            x, y = to(p)
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=color)
    return np.asarray(crop)


def write_embedding(path: str | Path, embedding: Embedding) -> None:
    """Add or replace `landmark_faces` / `landmark_bary` in a head-model npz, atomically."""
    from ..io import atomic_path

    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    n_faces = len(arrays["faces"])
    if len(embedding.faces) != N_LANDMARKS or embedding.faces.max() >= n_faces:
        raise ValueError(f"embedding does not fit {path}: {len(embedding.faces)} landmarks, max face "
                         f"{embedding.faces.max()}, model has {n_faces} faces")
    arrays["landmark_faces"] = embedding.faces.astype(np.int32)
    arrays["landmark_bary"] = embedding.bary.astype(np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pav.track.build_embedding", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="head-model npz to update (default: built-in)")
    p.add_argument("--check-png", type=Path, default=None, help="also write the held-out check overlay here")
    p.add_argument("--dry-run", action="store_true", help="build and check, but do not write the npz")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        model = HeadModel.from_npz(args.model)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    emb = build_embedding(model)
    print(f"built: {len(emb.faces)} landmarks, median per-view spread {1000 * np.median(emb.spread):.2f} mm "
          f"(max {1000 * emb.spread.max():.2f} mm), views per landmark ≥ {emb.views.min()}")
    model.landmark_faces = torch.from_numpy(emb.faces)
    model.landmark_bary = torch.from_numpy(emb.bary).float()
    check = check_embedding(model)
    print(f"held-out check (yaw 10°, pitch 5°, jawOpen 0.5): mean error {check.error:.4f} × inter-ocular distance, "
          f"max {check.per_landmark.max():.2f} px")
    if args.check_png:
        from ..io import write_png

        write_png(args.check_png, overlay(check))
    if not args.dry_run:
        write_embedding(args.model, emb)
        print(f"wrote landmark_faces, landmark_bary into {args.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
