"""`python -m pav head-preview OUT.png`: the head model shaded from the front and the side.

Example: `python -m pav head-preview head.png --expression jawOpen=0.8 --pose jaw=0.2,0,0`.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ..camera import Camera, orbit
from ..cliargs import head_model_spec, int_range, output_file
from ..io import write_png
from .model import HeadModel, load_head_model


def parse_assignments(items: list[str], names: list[str], what: str, width: int) -> dict[int, list[float]]:
    """["jawOpen=0.8", "jaw=0.2,0,0"] → {index in names: values}; unknown names and bad numbers are errors
    that list what is valid."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--{what} '{item}': expected NAME=VALUE")
        if name not in names:
            shown = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
            raise ValueError(f"--{what} '{name}' is not one of the model's {what} names ({shown})")
        try:
            values = [float(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"--{what} {item}: '{value}' is not a number list") from None
        if len(values) != width or not np.isfinite(values).all():
            raise ValueError(f"--{what} {item}: expected {width} finite number(s)")
        out[names.index(name)] = values
    return out


def shade(vertices: torch.Tensor, faces: torch.Tensor, camera: Camera, albedo=(0.80, 0.62, 0.52),
          mode: str = "rgb") -> np.ndarray:
    """Lambert + ambient rendering with a head-light on a grey background → uint8 (H, W, 3).
    mode "alpha" shows coverage (white on black), "depth" the camera depth (near bright, far dark)."""
    from ..geometry import interpolate, rasterize
    from ..geometry.normals import vertex_normals

    raster = rasterize(vertices, faces, camera)
    covered = raster.face_id >= 0
    if mode == "alpha":
        image = covered[..., None].float().expand(-1, -1, 3)
    elif mode == "depth":
        z = raster.depth[covered]
        lo, hi = (float(z.min()), float(z.max())) if len(z) else (0.0, 1.0)
        near_bright = 1.0 - 0.8 * (raster.depth - lo) / max(hi - lo, 1e-6)
        image = torch.where(covered, near_bright, torch.zeros(())).unsqueeze(-1).expand(-1, -1, 3)
    else:
        normals = interpolate(vertex_normals(vertices, faces), raster, faces=faces)
        normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        _, dirs = camera.rays()
        lambert = (normals * -dirs).sum(-1).abs()  # head-light: lit from the camera
        rgb = torch.tensor(albedo) * (0.25 + 0.75 * lambert[..., None])
        image = torch.where(covered[..., None], rgb, torch.tensor([0.18, 0.18, 0.2]))
    return (image.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def preview_image(model: HeadModel, expression: torch.Tensor | None, pose: torch.Tensor | None,
                  shape: torch.Tensor | None, size: int) -> np.ndarray:
    """Front and side (yaw 90°) views side by side: uint8 (size, 2·size, 3)."""
    with torch.no_grad():
        vertices = model(shape=shape, expression=expression, pose=pose).vertices[0]
        rest = model.v_template
        center = (rest.min(0).values + rest.max(0).values) / 2
        extent = float((rest.max(0).values - rest.min(0).values).max())
        views = []
        for yaw in (0.0, 90.0):
            c2w = orbit(center, radius=2.6 * extent, yaw_deg=yaw, pitch_deg=5.0).float()
            views.append(shade(vertices, model.faces, Camera.from_fov(c2w, 24.0, size, size)))
    return np.concatenate(views, axis=1)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=output_file(), help="PNG to write")
    p.add_argument("--head-model", type=head_model_spec, default="default", help="'default' or a FLAME generic_model.pkl")
    p.add_argument("--expression", nargs="*", default=[], metavar="NAME=VALUE", help="e.g. jawOpen=0.8")
    p.add_argument("--pose", nargs="*", default=[], metavar="JOINT=X,Y,Z", help="axis-angle, e.g. jaw=0.2,0,0")
    p.add_argument("--shape", nargs="*", default=[], metavar="NAME=VALUE", help="identity shape coefficients")
    p.add_argument("--size", type=int_range(16, 4096), default=384, help="pixels per view (default 384)")


def run(args: argparse.Namespace) -> int:
    model = load_head_model(args.head_model)
    expr = torch.zeros(1, model.n_expression)
    for k, (v,) in parse_assignments(args.expression, model.expression_names, "expression", 1).items():
        expr[0, k] = v
    pose = torch.zeros(1, model.n_joints, 3)
    for k, v in parse_assignments(args.pose, model.joint_names, "pose", 3).items():
        pose[0, k] = torch.tensor(v)
    shape = torch.zeros(1, model.n_shape)
    for k, (v,) in parse_assignments(args.shape, model.shape_names, "shape", 1).items():
        shape[0, k] = v
    write_png(args.out, preview_image(model, expr, pose, shape, args.size))
    print(f"wrote {args.out}")
    return 0
