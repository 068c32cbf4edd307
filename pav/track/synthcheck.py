"""`python -m pav.track.synthcheck SYNTH TRACKED`: how well tracking from images alone recovers a synthetic
collection's known parameters.

TRACKED is `python -m pav track SYNTH/APP/images ... --out TRACKED` (one input per appearance, in the
manifest's order). Frames are matched by their source index (the position of the image in the folder,
which is the synthetic frame's own index order). Reported, in millimetres, over all matched frames:
- `camera_space`: mean distance between the tracked and the true mesh vertices, each in its own camera's
  coordinates (what the renderer sees; includes the depth/focal ambiguity of a monocular fit);
- `translation_aligned`: the same after removing each frame's mean offset (shape + expression + rotation);
- `neutral_shape`: the identity alone: neutral meshes (zero expression and pose) after centring.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..data import read_collection
from ..head import load_head_model


class SynthCheck(NamedTuple):
    camera_space_mm: float
    translation_aligned_mm: float
    neutral_shape_mm: float
    frames: int


def _camera_space_vertices(model, shape, frames, camera_of) -> torch.Tensor:
    with torch.no_grad():
        n = len(frames)
        v = model(shape=torch.as_tensor(shape, dtype=torch.float32)[None].expand(n, -1),
                  expression=torch.tensor(np.stack([f.expression for f in frames]), dtype=torch.float32),
                  pose=torch.tensor(np.stack([f.pose for f in frames]), dtype=torch.float32),
                  translation=torch.tensor(np.stack([f.translation for f in frames]), dtype=torch.float32)).vertices
        w2c = torch.stack([torch.linalg.inv(torch.as_tensor(camera_of(f), dtype=torch.float64)) for f in frames]).float()
        return v @ w2c[:, :3, :3].transpose(1, 2) + w2c[:, None, :3, 3]


def check(synthetic: str | Path, tracked: str | Path) -> SynthCheck:
    truth, found = read_collection(synthetic, check_images=False), read_collection(tracked, check_images=False)
    model = load_head_model(truth.manifest.head_model.spec)
    if len(found.appearance_names) != len(truth.appearance_names):
        raise ValueError(f"{tracked} has {len(found.appearance_names)} appearances, {synthetic} has "
                         f"{len(truth.appearance_names)}: track every appearance's images folder, in order")
    errors, aligned = [], []
    for name_t, name_f in zip(truth.appearance_names, found.appearance_names):
        t_app, f_app = truth.appearance(name_t), found.appearance(name_f)
        with_images = [f for f in t_app.frames if f.file_path is not None]
        by_position = {k: f for k, f in enumerate(sorted(with_images, key=lambda f: f.file_path))}
        pairs = [(by_position[f.index], f) for f in f_app.frames if f.index in by_position]
        if not pairs:
            raise ValueError(f"no frame of tracked '{name_f}' matches a frame of '{name_t}'")
        vt = _camera_space_vertices(model, truth.manifest.shape, [p[0] for p in pairs], lambda f: f.c2w)
        vf = _camera_space_vertices(model, found.manifest.shape, [p[1] for p in pairs], lambda f: f.c2w)
        errors.append((vt - vf).norm(dim=-1).mean(1))
        offset = (vt - vf).mean(1, keepdim=True)
        aligned.append((vt - vf - offset).norm(dim=-1).mean(1))
    with torch.no_grad():
        rest_t = model(shape=torch.tensor(truth.manifest.shape, dtype=torch.float32)[None]).vertices[0]
        rest_f = model(shape=torch.tensor(found.manifest.shape, dtype=torch.float32)[None]).vertices[0]
    neutral = ((rest_t - rest_t.mean(0)) - (rest_f - rest_f.mean(0))).norm(dim=-1).mean()
    e, a = torch.cat(errors), torch.cat(aligned)
    return SynthCheck(1000 * float(e.mean()), 1000 * float(a.mean()), 1000 * float(neutral), len(e))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pav.track.synthcheck", description=__doc__.splitlines()[0])
    p.add_argument("synthetic", type=Path)
    p.add_argument("tracked", type=Path)
    args = p.parse_args(argv)
    try:
        r = check(args.synthetic, args.tracked)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{r.frames} frames: mean vertex error {r.camera_space_mm:.1f} mm in camera space, "
          f"{r.translation_aligned_mm:.1f} mm with each frame's offset removed, identity alone "
          f"{r.neutral_shape_mm:.1f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
