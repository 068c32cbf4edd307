"""Generate a synthetic collection: identity, looks, trajectories, rendering, files, preview.

Random streams (numpy SeedSequence children of `config.seed`): 0 identity, 1 looks, then per appearance
its trajectory, its textures and shells. The same config gives the same bytes.

Splits per appearance: frames 0 … F−n_test−1 train, the last n_test frames test (protocol a: later in
the video, poses and expressions the training part did not contain); then n_novel "novel" frames,
numbered after the video's last frame, that replay the LAST n_novel frames (the test part) of the next
appearance's trajectory (a+1 mod N) through this appearance's camera, without images (protocol b); then
the novel VIEWS with ground truth: `novel_view_frames` test frames (evenly spread) re-rendered, same
expression, pose, lighting, appearance and background, from their camera rotated about the head centre by
each (yaw, pitch) of `novelviews.view_angles(novel_yaws, novel_pitches)` (frame-major order), each with a
`View` record.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from ...camera import Camera, orbit
from ...head import load_head_model
from ...io import write_png
from ..collection import Appearance, AppearanceEntry, Frame, HeadModelRef, Manifest, View
from ..writer import frame_paths, write_background, write_frame_files, write_manifest, write_transforms
from .config import SynthConfig
from .looks import Look, sample_looks
from .novelviews import head_center, pick_test_frames, rotate_camera, view_angles
from .preview import preview_grid
from .appearance import appearance_scene
from .render import render
from .trajectory import talking_head
from .uvbake import bake_uv


NOVEL_FOLDER = "novel_views"
"""Novel-view files go under APPEARANCE/novel_views/{images,masks,face_masks,depth}/, so images/ holds only the
video's own frames (what `track` reads)."""


class SynthResult(NamedTuple):
    root: Path
    """The collection folder."""
    preview: Path
    """root/preview.png."""
    looks: list[Look]
    """The appearances' looks, in manifest order (their names are the appearance names)."""


def sample_identity(rng: np.random.Generator, model) -> torch.Tensor:
    """(1, S) a random but moderate identity. One-sided bases (names ending -incr/-decr, phenotype
    columns in [0, 1], as in the built-in model) get a few small positive coefficients on one side of
    each pair; other (FLAME-like, zero-mean) bases get N(0, 0.5²) on the first 20 coefficients."""
    names = model.shape_names
    shape = np.zeros(model.n_shape)
    if any(n.endswith(("-incr", "-decr")) for n in names):
        for k, name in enumerate(names):
            if name.endswith("-incr") and rng.uniform() < 0.25:
                other = name[:-5] + "-decr"
                side = names.index(other) if other in names and rng.uniform() < 0.5 else k
                shape[side] = rng.uniform(0.1, 0.4)
        for name, lo, hi in (("gender-male", 0.6, 0.9), ("age-old", 0.0, 0.25), ("weight-max", 0.0, 0.3)):
            if name in names:
                shape[names.index(name)] = rng.uniform(lo, hi)
    else:
        n = min(20, model.n_shape)
        shape[:n] = rng.normal(0.0, 0.5, n)
    return torch.tensor(shape[None], dtype=torch.float32)


def background_image(look: Look, size: int) -> np.ndarray:
    """(size, size, 3) uint8 diagonal gradient between the look's two colours, with a soft light spot."""
    c1, c2, angle = look.background
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1) - 0.5
    t = np.clip(0.5 + (x * math.cos(angle) + y * math.sin(angle)), 0, 1)[..., None]
    img = np.asarray(c1) * (1 - t) + np.asarray(c2) * t
    spot = np.exp(-((x + 0.25 * math.cos(3 * angle)) ** 2 + (y + 0.3) ** 2) / 0.08)[..., None]
    img = img * (1 + 0.25 * spot)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def framing(model, canonical: torch.Tensor, look: Look, size: int) -> Camera:
    """A fixed camera for the whole video, aimed above the middle of head + neck + hair, with margin for
    the head's motion."""
    v = canonical.double()
    lo, hi = v.min(0).values, v.max(0).values
    top = float(hi[1]) + look.hair_thickness
    target = torch.stack([(lo[0] + hi[0]) / 2, lo[1] + 0.6 * (top - lo[1]), (lo[2] + hi[2]) / 2])
    fov = 24.0
    radius = look.camera_distance * 1.3 * (top - float(lo[1])) / (2 * math.tan(math.radians(fov) / 2))
    c2w = orbit(target, radius, look.camera_yaw, look.camera_pitch).float()
    return Camera.from_fov(c2w, fov, size, size)


def generate(config: SynthConfig, out: str | Path, progress: bool = False) -> SynthResult:
    """Write the collection to `out`, which must be absent or empty. It is built in a hidden sibling
    folder and renamed into place at the end, so `out` never holds a partial collection (a failure
    removes the partial one). Runs torch on one thread: the many small rasterization ops are faster so."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder")
    work = out.with_name(f".{out.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = _generate(config, work, progress)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)
    return result._replace(root=out, preview=out / result.preview.name)


def _generate(config: SynthConfig, out: Path, progress: bool) -> SynthResult:
    model = load_head_model(config.head_model)
    seeds = np.random.SeedSequence(config.seed).spawn(2 + 2 * config.appearances)
    rngs = [np.random.default_rng(s) for s in seeds]
    shape = sample_identity(rngs[0], model)
    looks = sample_looks(rngs[1], config.appearances)
    with torch.no_grad():
        rest = model(shape=shape)
    canonical, eye_centers = rest.vertices[0], rest.joints[0, [model.joint_names.index(n) for n in
                                                             ("left_eye", "right_eye")]].double().numpy()
    bake = bake_uv(model, canonical, config.texture_size)
    F, n_test, n_novel = config.frames, config.n_test, config.n_novel
    trajectories = [talking_head(rngs[2 + 2 * a], F, config.fps, model.expression_names, model.joint_names)
                    for a in range(config.appearances)]
    entries = [AppearanceEntry(look.name, f"app{a}") for a, look in enumerate(looks)]
    views = view_angles(config.novel_yaws, config.novel_pitches)
    picked = pick_test_frames(list(range(F - n_test, F)), config.novel_view_frames) if views else []
    bar = tqdm(total=config.appearances * (F + len(picked) * len(views)), desc="synth", unit="frame",
               file=sys.stderr, disable=not progress)
    previews = []
    cols = np.unique(np.linspace(0, F - 1, min(config.preview_columns, F)).round().astype(int))
    for a, look in enumerate(looks):
        rng = rngs[3 + 2 * a]
        scene = appearance_scene(model, look, bake, canonical.double().numpy(), eye_centers, rng)
        camera = framing(model, canonical, look, config.size)
        app = Appearance(look.name, out / entries[a].folder, config.size, config.size, camera.fx, camera.fy,
                         camera.cx, camera.cy, model.expression_names, model.joint_names, [], fps=config.fps,
                         background_path="background.png")
        bg_u8 = background_image(look, config.size)
        write_background(app, bg_u8)
        background = torch.from_numpy(bg_u8).float() / 255.0
        c2w = camera.c2w.double().numpy()
        src_a = (a + 1) % config.appearances
        src = trajectories[src_a]
        params = [(k, "train" if k < F - n_test else "test", trajectories[a], k, None) for k in range(F)]
        params += [(F + i, "novel", src, F - n_novel + i, f"{looks[src_a].name}/{F - n_novel + i}")
                   for i in range(n_novel)]
        row, posed = [], {}
        for index, split, traj, t, source in params:
            e, p, tr = (torch.tensor(x[t:t + 1], dtype=torch.float32) for x in traj)
            frame = Frame(index, index / config.fps, split, c2w, camera.fx, camera.fy, camera.cx, camera.cy,
                          e[0].double().numpy(), p[0].double().numpy(), tr[0].double().numpy(), source=source,
                          **(frame_paths(index, config.depth) if split != "novel" else {}))
            app.frames.append(frame)
            if split == "novel":
                continue
            with torch.no_grad():
                verts = model(shape=shape, expression=e, pose=p, translation=tr).vertices[0]
            if index in picked:
                posed[index] = (frame, verts)
            r = render(scene, look, verts, camera, background, model.faces, config.supersample)
            write_frame_files(app, frame, image=r.image, mask=r.alpha, face_mask=r.face.astype(np.float32),
                              depth=r.depth if config.depth else None)
            if index in cols:
                row.append(r.image)
            bar.update(1)
        for test_index in picked:
            _render_views(app, scene, look, posed[test_index], views, camera, background, model, config)
            bar.update(len(views))
        previews.append(row)
        write_transforms(app)
    bar.close()
    spec = str(config.head_model) if str(config.head_model) == "default" else str(Path(config.head_model).resolve())
    write_manifest(out, Manifest(f"synthetic subject (seed {config.seed})",
                                 HeadModelRef(spec, model.name, model.checksum()),
                                 shape[0].double().tolist(), entries,
                                 f"python -m pav synth --appearances {config.appearances} --frames {F} "
                                 f"--size {config.size} --seed {config.seed} --supersample {config.supersample} "
                                 f"--novel-views {_angles(config.novel_yaws)} --novel-pitches "
                                 f"{_angles(config.novel_pitches)} --novel-view-frames {config.novel_view_frames}"))
    preview = out / "preview.png"
    write_png(preview, preview_grid(previews))
    return SynthResult(out, preview, looks)


def _angles(values) -> str:
    return ",".join(f"{v:g}" for v in values) or '""'


def _render_views(app: Appearance, scene, look: Look, test: tuple[Frame, torch.Tensor], views, camera: Camera,
                  background: torch.Tensor, model, config: SynthConfig) -> None:
    """Append and write one novel frame per (yaw, pitch) in `views` for the test frame `test` = (frame,
    posed vertices (V, 3)): the same head and light, its camera rotated about the head centre."""
    frame, verts = test
    center = head_center(verts.numpy())
    for yaw, pitch in views:
        index = max(f.index for f in app.frames) + 1
        c2w = rotate_camera(frame.c2w, center, yaw, pitch)
        novel = Frame(index, frame.timestamp, "novel", c2w, frame.fx, frame.fy, frame.cx, frame.cy,
                      frame.expression, frame.pose, frame.translation,
                      view=View(yaw, pitch, tuple(center.tolist()), frame.index),
                      **{k: v and f"{NOVEL_FOLDER}/{v}" for k, v in frame_paths(index, config.depth).items()})
        app.frames.append(novel)
        cam = Camera(torch.from_numpy(c2w).float(), camera.fx, camera.fy, camera.cx, camera.cy, camera.width,
                     camera.height)
        r = render(scene, look, verts, cam, background, model.faces, config.supersample, light_c2w=camera.c2w)
        write_frame_files(app, novel, image=r.image, mask=r.alpha, face_mask=r.face.astype(np.float32),
                          depth=r.depth if config.depth else None)
