"""`python -m pav track VIDEO_OR_FOLDER ... --out DATA`: videos → a tracked multi-appearance collection.

Each input (a video file or a folder of frames) is one appearance. Per video: frames evenly subsampled
(--max-frames), mediapipe landmarks, one stable square crop resized to --size, foreground and face-region
masks (`observe.py`); then ONE fit over all videos with a shared identity (`fit.py`). Written in the
collection format (docs/collection-format.md): images composited on white by the foreground mask — the
person mask limited to the avatar's shell around the tracked mesh, so no torso (the background colour is
recorded) — masks, face masks, the tracked mesh's depth, the parameters and cameras;
the last --test-fraction of each video's frames is the test split. With `--identity CKPT_OR_DATA` the shape
is fixed to an existing avatar's (a driving collection for `render CKPT --drive OUT/NAME`). Besides the collection: `tracking/`
with overlays of the fitted mesh on a few frames per video and `tracking/report.json` (landmark error
per video, normalised by the inter-ocular distance). The collection is built in a hidden sibling folder
and renamed into place, so DATA never holds half a collection.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..cliargs import (check_memory, float_range, head_model_spec, int_range, non_negative_int, output_dir,
                       positive_int)
from ..config import ModelConfig
from ..data.collection import Appearance, AppearanceEntry, Frame, HeadModelRef, Manifest
from ..data.writer import frame_paths, write_frame_files, write_manifest, write_transforms
from ..nerf.sampling import ray_intervals
from ..io import write_json, write_png
from .fit import FitConfig, FitResult, TrackedVideo, fit, landmark_head
from .identity import full_shape, read_identity

OVERLAYS_PER_VIDEO = 6


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", type=Path, help="video files or folders of frames, one per appearance")
    p.add_argument("--out", type=output_dir, required=True, help="collection folder to create (absent or empty)")
    p.add_argument("--head-model", type=head_model_spec,
                   help="'default' (built-in) or a FLAME generic_model.pkl / .npz "
                        "(default: the --identity's head model, else 'default')")
    p.add_argument("--identity", type=Path, metavar="CKPT_OR_DATA",
                   help="track with the identity fixed to an avatar's own shape (its checkpoint or its training "
                        "collection): a driving collection for `render CKPT --drive OUT/NAME`")
    p.add_argument("--device", default="auto", help="where the model fit computes: auto, cpu, cuda or cuda:N (the "
                                                    "landmark detector runs on the CPU)")
    p.add_argument("--size", type=int_range(32, 4096), default=512,
                   help="crop size in pixels (default 512; bounded by the memory available)")
    p.add_argument("--max-frames", type=int_range(1, 100000), default=120,
                   help="frames kept per video, evenly spread (default 120)")
    p.add_argument("--test-fraction", type=float_range(0.0, 0.95), default=0.125,
                   help="last part of each video kept for testing")
    p.add_argument("--subject", default="tracked subject", help="free-text subject name for the manifest")
    p.add_argument("--steps", type=positive_int, default=FitConfig.steps, help="Adam steps of the full fitting stage")
    p.add_argument("--photometric-steps", type=non_negative_int, default=FitConfig.photometric_steps,
                   help="Adam steps of the photometric stage (rasterized colour error; 0 = landmarks only)")


BYTES_PER_CROP_PIXEL = 16
"""Held per kept frame and crop pixel until the collection is written: the uint8 RGB crop (3), the float32
foreground (4) and face-region (4) masks, and slack for the resize's intermediates."""


def memory_estimate(n_videos: int, max_frames: int, size: int) -> int:
    """Bytes the observations of all videos hold at once (plus ~600 MB of code, models and fitting)."""
    return 600 * 2 ** 20 + n_videos * max_frames * size * size * BYTES_PER_CROP_PIXEL


FRAME_FOLDER_NAMES = ("images", "frames", "rgb")
"""A frame folder with one of these names is named after its parent (DATA/app0/images → app0)."""


def _names(inputs: list[Path]) -> list[str]:
    """Appearance names: the video's stem, or a frame folder's (its parent's for `FRAME_FOLDER_NAMES`);
    repeats get _2, _3 …"""
    names, seen = [], {}
    for path in inputs:
        base = path.resolve().parent.name if path.is_dir() and path.name in FRAME_FOLDER_NAMES else path.stem
        base = base or "video"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return names


def _tracked_vertices(model, shape: np.ndarray, video: TrackedVideo) -> torch.Tensor:
    n = len(video.expression)
    with torch.no_grad():
        return model(shape=torch.tensor(shape, dtype=torch.float32)[None].expand(n, -1),
                     expression=torch.tensor(video.expression, dtype=torch.float32),
                     pose=torch.tensor(video.pose, dtype=torch.float32),
                     translation=torch.tensor(video.translation, dtype=torch.float32)).vertices


def write_collection(out: Path, model, spec: str, observations, result: FitResult, size: int, test_fraction: float,
                     subject: str, description: str) -> dict:
    """Write the tracked collection, overlays and report into `out` (an empty folder); returns the report."""
    from .overlay import fit_overlay

    entries, report, cfg = [], {"videos": {}}, ModelConfig()
    for obs, video in zip(observations, result.videos):
        folder = out / obs.name
        n = len(obs.frames)
        n_test = int(round(test_fraction * n)) if n >= 8 else 0
        camera = video.camera(size)
        app = Appearance(obs.name, folder, size, size, video.focal, video.focal, size / 2, size / 2,
                         list(model.expression_names), list(model.joint_names), [], fps=obs.fps,
                         background_color=(1.0, 1.0, 1.0),
                         extra={"tracking": {"crop_box": list(map(int, obs.box)), "source_size": list(obs.source_size)}})
        vertices = _tracked_vertices(model, result.shape, video)
        overlay_at = set(np.linspace(0, n - 1, min(OVERLAYS_PER_VIDEO, n)).round().astype(int).tolist())
        for k in tqdm(range(n), desc=f"write {obs.name}", unit="frame", leave=False, disable=not sys.stderr.isatty()):
            split = "test" if k >= n - n_test else "train"
            index = int(obs.indices[k])
            frame = Frame(index, index / obs.fps, split, camera.c2w.double().numpy(), camera.fx, camera.fy, camera.cx,
                          camera.cy, video.expression[k], video.pose[k], video.translation[k], **frame_paths(index))
            app.frames.append(frame)
            # the avatar's shell around the tracked mesh: the person mask times it keeps head, hair and neck and
            # drops the torso, which no head avatar models (INSTA and PAV remove it with face parsing)
            shell = ray_intervals(vertices[k], model.faces, camera, cfg.shell_out, cfg.shell_in, cfg.max_chord)
            fg = obs.foreground[k] * shell.hit.numpy()
            image = obs.frames[k].astype(np.float32) / 255 * fg[..., None] + (1 - fg[..., None])
            depth = torch.where(shell.surface_face >= 0, shell.surface_depth, torch.zeros(())).numpy()
            write_frame_files(app, frame, image=image, mask=fg, face_mask=obs.face_region[k], depth=depth)
            if k in overlay_at:
                fitted = camera.project(model.landmarks(vertices[k:k + 1])[0])[:, :2].numpy()
                write_png(out / "tracking" / f"{obs.name}_{frame.index:05d}.png",
                          fit_overlay(obs.frames[k], vertices[k], model.faces, camera, obs.landmarks[k], fitted))
        write_transforms(app)
        entries.append(AppearanceEntry(obs.name, obs.name))
        report["videos"][obs.name] = {
            "frames": n, "test_frames": n_test, "focal_px": round(video.focal, 2),
            "landmark_error_iod_mean": round(float(video.landmark_error.mean()), 5),
            "landmark_error_iod_max": round(float(video.landmark_error.max()), 5),
            "crop_box": list(map(int, obs.box))}
    errors = np.concatenate([v.landmark_error for v in result.videos])
    report["landmark_error_iod_mean"] = round(float(errors.mean()), 5)
    write_manifest(out, Manifest(subject, HeadModelRef(spec, model.name, model.checksum()),
                                 [float(x) for x in result.shape], entries, description))
    write_json(out / "tracking" / "report.json", report)
    return report


def run(args: argparse.Namespace, report: Callable[[str, float], None] | None = None) -> int:
    """The command; `report(stage, fraction)` (optional) hears the landmark and fitting progress, e.g. for
    the viewer's driving-video job (fraction in [0, 1] over the whole run)."""
    from ..head import load_head_model
    from .landmarks import FaceLandmarker
    from .observe import observe_video

    if args.size < 32:
        raise ValueError(f"--size must be ≥ 32, got {args.size}")
    if not 0 <= args.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    check_memory(memory_estimate(len(args.inputs), args.max_frames, args.size),
                 f"tracking {len(args.inputs)} video(s) × {args.max_frames} frames at {args.size}²",
                 "lower --size or --max-frames")
    for path in args.inputs:
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
    out = args.out
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder: choose another --out or empty it")
    from ..backends import resolve_device

    device = resolve_device(args.device)  # a CUDA request on a machine without CUDA fails here, before any work
    identity = read_identity(args.identity) if args.identity is not None else None
    spec = args.head_model or (identity.head_spec if identity else "default")
    model = load_head_model(spec)
    if identity is not None and model.checksum() != identity.head_checksum:
        raise ValueError(f"--identity {args.identity} belongs to another head model (checksum "
                         f"{identity.head_checksum[:12]}…) than '{spec}' ({model.checksum()[:12]}…): "
                         "pass the avatar's --head-model")
    fixed_shape = full_shape(identity, model.n_shape) if identity is not None else None
    landmark_head(model)  # refuses a model without the 468-point embedding before any video is read
    names = _names(args.inputs)
    start = time.perf_counter()
    observations = []
    with FaceLandmarker(static=True) as landmarker:
        for path, name in zip(args.inputs, names):
            with tqdm(desc=f"landmarks {name}", unit="frame", file=sys.stderr) as bar:
                def progress(done, total, bar=bar, v=len(observations)):
                    bar.total = total
                    bar.update(done - bar.n)
                    if report is not None:
                        report("landmarks", 0.3 * (v + done / max(total, 1)) / len(args.inputs))
                observations.append(observe_video(path, args.size, args.max_frames, name, landmarker, progress))
    bars = {}

    def fit_progress(stage, done, total):
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=total, desc=f"fit ({stage})", unit="step",
                                                              file=sys.stderr))
        bar.update(done - bar.n)
        if report is not None:
            report(f"fit ({stage})", min(0.95, 0.3 + (0.1 if stage == "rigid" else 0.6) * done / max(total, 1)
                                         + (0.1 if stage != "rigid" else 0.0)))

    config = FitConfig(steps=args.steps, photometric_steps=args.photometric_steps)
    result = fit(model, [o.landmarks for o in observations], [o.indices for o in observations], args.size, names,
                 config, fit_progress, images=[o.frames for o in observations],
                 face_masks=[o.face_region for o in observations], identity=fixed_shape, device=device)
    for bar in bars.values():
        bar.close()
    work = out.with_name(f".{out.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        description = "python -m pav track " + " ".join(str(p) for p in args.inputs) + f" --size {args.size} " \
                      f"--max-frames {args.max_frames}" + (f" --identity {args.identity}" if identity else "")
        report = write_collection(work, model, spec, observations, result, args.size, args.test_fraction,
                                  args.subject, description)
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    for name, r in report["videos"].items():
        print(f"{name}: {r['frames']} frames ({r['test_frames']} test), landmark error {r['landmark_error_iod_mean']:.4f} "
              f"of the eye distance (max {r['landmark_error_iod_max']:.4f}), focal {r['focal_px']:.0f} px")
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s; overlays in {out / 'tracking'}")
    return 0
