"""Render one synthetic frame: head + hair/beard shells, textured, Lambert + ambient, anti-aliased.

Anti-aliasing: s × s sub-samples per pixel at offsets ((a + 0.5)/s − 0.5) px, each rasterized at the
output size with the principal point shifted by the offset (exactly what a s-times larger image,
box-filtered down, would sample; cheaper with a rasterizer whose cost grows with triangle × pixel
pairs). Per pixel: alpha = covered fraction, colour = mean premultiplied colour + (1 − alpha) ·
background, face mask = EVERY sub-sample sees a bare-head triangle of the "face" region (not hair or
beard), depth = camera-space z of the bare head mesh at the pixel centre (0 = none).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ...camera import Camera
from ...geometry import interpolate, rasterize
from ...geometry.normals import vertex_normals
from .looks import Look
from .shells import LAYERS, Shell

VERTEX_COLORED = len(LAYERS)
WRAP = torch.tensor([0.2, 0.2, 0.2, 0.0])
"""Wrap-lighting softness per layer (head, hair, beard, vertex-coloured eyes); hair and beard shade like
the skin, since their thin edges show the skin texture."""


class Scene(NamedTuple):
    """Static per-appearance rendering data."""

    faces: torch.Tensor
    """(Fa, 3) int64 faces of the head followed by its shells (shell k's vertices start at (k+1)·V)."""
    corner_uv: torch.Tensor
    """(Fa, 3, 2) per-corner UVs (OBJ convention, v up)."""
    corner_rgb: torch.Tensor
    """(Fa, 3, 3) per-corner albedo of vertex-coloured faces (the eyeballs), 0 elsewhere."""
    layer: torch.Tensor
    """(Fa,) int64 index into LAYERS, or VERTEX_COLORED for faces shaded from `corner_rgb`."""
    face_region: torch.Tensor
    """(Fa,) bool: a bare-head triangle of the model's "face" region."""
    thickness: torch.Tensor
    """(K, V) float32 shell offsets (K shells)."""
    textures: torch.Tensor
    """(3, 3, T, T) float32 albedo per layer (head, hair, beard), channels first for grid_sample."""


class Rendered(NamedTuple):
    image: np.ndarray
    """(H, W, 3) float32 RGB in [0, 1], composited over the background."""
    alpha: np.ndarray
    """(H, W) float32 foreground coverage (head, neck, hair, beard)."""
    face: np.ndarray
    """(H, W) bool face-region mask."""
    depth: np.ndarray
    """(H, W) float32 bare-mesh depth in metres, 0 where the mesh does not cover the pixel centre."""


def make_scene(model, shells: list[Shell], textures) -> Scene:
    V, n_faces = model.n_vertices, len(model.faces)
    head_layer = torch.zeros(n_faces, dtype=torch.int64)
    eyes = model.regions.get("eyes", torch.zeros(n_faces, dtype=torch.bool))
    head_layer[eyes] = VERTEX_COLORED
    faces, layers, uvs = [model.faces], [head_layer], [model.faces_uv]
    for k, shell in enumerate(shells):
        faces.append(model.faces[shell.faces] + (k + 1) * V)
        layers.append(torch.full((len(shell.faces),), shell.layer, dtype=torch.int64))
        uvs.append(model.faces_uv[shell.faces])
    faces = torch.cat(faces)
    rgb = torch.zeros(len(faces), 3, 3)
    rgb[:n_faces][eyes] = torch.from_numpy(textures.vertex)[model.faces[eyes]]
    face_region = torch.zeros(len(faces), dtype=torch.bool)
    face_region[:n_faces] = model.regions.get("face", torch.zeros(n_faces, dtype=torch.bool))
    thickness = torch.stack([s.thickness for s in shells]) if shells else torch.zeros(0, V)
    tex = torch.from_numpy(np.stack([textures.skin, textures.hair, textures.beard])).permute(0, 3, 1, 2)
    return Scene(faces, model.uv[torch.cat(uvs)], rgb, torch.cat(layers), face_region, thickness,
                 tex.contiguous().float())


def _shade(scene: Scene, look: Look, raster, normals: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) colour of one sub-sample raster, 0 on background; normals (Va, 3), light (3,) world."""
    hit = raster.face_id >= 0
    layer = scene.layer[raster.face_id[hit]]
    uv = interpolate(scene.corner_uv, raster)[hit]
    n = interpolate(normals, raster, scene.faces)[hit]
    albedo = interpolate(scene.corner_rgb, raster)[hit]  # vertex-coloured faces; others overwritten below
    for k in range(len(LAYERS)):
        sel = layer == k
        if sel.any():
            grid = torch.stack([2 * uv[sel, 0] - 1, 1 - 2 * uv[sel, 1]], -1)[None, None]  # (1, 1, n, 2)
            albedo[sel] = F.grid_sample(scene.textures[k:k + 1], grid, align_corners=False)[0, :, 0].T
    wrap = WRAP[layer]
    cos = (n @ light) / n.norm(dim=-1).clamp_min(1e-12)
    lambert = ((cos + wrap) / (1 + wrap)).clamp_min(0)[:, None]
    out = torch.zeros(*hit.shape, 3)
    out[hit] = albedo * (torch.tensor(look.ambient, dtype=torch.float32)
                         + lambert * torch.tensor(look.light, dtype=torch.float32))
    return out


def render(scene: Scene, look: Look, head_vertices: torch.Tensor, camera: Camera, background: torch.Tensor,
           head_faces: torch.Tensor, supersample: int, light_c2w: torch.Tensor | None = None) -> Rendered:
    """head_vertices (V, 3) posed bare head; background (H, W, 3). The light is fixed relative to
    `light_c2w` (4, 4), default the camera's (a novel view passes its test camera: the same lighting).
    Returns the `Rendered` frame."""
    normals_head = vertex_normals(head_vertices, head_faces)
    shells = [head_vertices + t[:, None] * normals_head for t in scene.thickness]
    vertices = torch.cat([head_vertices] + shells)
    normals = vertex_normals(vertices, scene.faces)
    light_frame = camera.c2w if light_c2w is None else light_c2w
    light = light_frame[:3, :3].float() @ torch.tensor(look.light_dir, dtype=torch.float32)
    H, W = camera.height, camera.width
    color, alpha = torch.zeros(H, W, 3), torch.zeros(H, W)
    face = torch.ones(H, W, dtype=torch.bool)
    offsets = [(a + 0.5) / supersample - 0.5 for a in range(supersample)]
    for dy in offsets:
        for dx in offsets:
            cam = Camera(camera.c2w, camera.fx, camera.fy, camera.cx - dx, camera.cy - dy, W, H)
            raster = rasterize(vertices, scene.faces, cam)
            color += _shade(scene, look, raster, normals, light)
            alpha += (raster.face_id >= 0).float()
            face &= (raster.face_id >= 0) & scene.face_region[raster.face_id.clamp_min(0)]
    n = supersample ** 2
    color, alpha = color / n, alpha / n
    image = color + (1 - alpha[..., None]) * background
    depth = rasterize(head_vertices, head_faces, camera).depth
    depth = torch.where(torch.isfinite(depth), depth, torch.zeros(()))
    return Rendered(image.clamp(0, 1).numpy(), alpha.numpy(), face.numpy(), depth.numpy())
