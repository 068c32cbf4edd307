"""Hair and beard VOLUME as real geometry: offset shells over the scalp and beard regions.

Coverage: the head model's regions are sets of triangles, whose borders zigzag. A smooth coverage field
c(p) ∈ [0, 1] is made from each region instead: the fraction of a vertex's faces in the region, averaged
over nearby skin vertices with a Gaussian kernel (radius ~ one triangle), plus a little solid noise for an
irregular hairline; it is evaluated at the vertices (shell thickness) and at the texels (colours), so the
visible hair/beard border follows the smooth line c = 0.5, not the triangles.

Per frame, shell vertex i = posed head vertex i + thickness_i · (posed vertex normal i); thickness grows
smoothly with the distance inside the c = 0.5 line (· crown profile and curl noise for hair) and is 0 on
vertices of the eyes, lips and mouth; its triangles are the skin triangles with any vertex of positive
thickness, with their UVs. The shell is rendered with
the head (nearest surface wins); the shell textures equal the skin texture where c < 0.5, so a thin shell
edge shows skin. Shells are NEVER part of the stored head parameters: the stored mesh is the bare head,
as a FLAME tracker would see it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .looks import Look
from .noise import SolidNoise, smoothstep

LAYERS = ("head", "hair", "beard")
SHELL_REGIONS = {"hair": "scalp", "beard": "beard"}
"""Shell layer → the head-model region it covers."""
NOT_SKIN = ("eyes", "lips", "mouth_interior")


class Coverage:
    """Smooth coverage c(p) ∈ [0, 1] of one region (see module docstring); evaluate with `coverage(points)`."""

    def __init__(self, model, vertices: np.ndarray, name: str, rng: np.random.Generator, radius: float = 0.006,
                 edge_noise: float = 0.12):
        from scipy.spatial import cKDTree

        faces = model.faces.numpy()
        F = len(faces)
        region = model.regions[name].numpy() if name in model.regions else np.zeros(F, bool)
        skin = np.ones(F, bool)
        for other in NOT_SKIN:
            if other in model.regions:
                skin &= ~model.regions[other].numpy()
        count = np.bincount(faces[skin].ravel(), minlength=len(vertices)).astype(np.float64)
        inside = np.bincount(faces[skin & region].ravel(), minlength=len(vertices))
        used = count > 0
        self.fraction = inside[used] / count[used]
        self.tree = cKDTree(vertices[used])
        self.radius, self.edge_noise = radius, edge_noise
        self.noise = SolidNoise(rng, 60.0)
        self.empty = not region.any()

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points (N, 3) → (N,) coverage."""
        if self.empty:
            return np.zeros(len(points))
        d, idx = self.tree.query(points, k=min(32, len(self.fraction)))
        w = np.exp(-0.5 * (d / self.radius) ** 2) + 1e-12
        c = (w * self.fraction[idx]).sum(1) / w.sum(1)
        return np.clip(c + self.edge_noise * self.noise(points) * 4 * c * (1 - c), 0.0, 1.0)


class Shell(NamedTuple):
    layer: int
    """Index into LAYERS (1 hair, 2 beard)."""
    faces: torch.Tensor
    """(Fs,) int64 head-model face indices the shell copies."""
    thickness: torch.Tensor
    """(V,) float32 offset along the vertex normal, metres (0 where the region does not reach)."""


def skin_faces(model) -> np.ndarray:
    """(F,) bool: faces outside the NOT_SKIN regions (eyes, lips, mouth interior)."""
    skin = np.ones(len(model.faces), bool)
    for other in NOT_SKIN:
        if other in model.regions:
            skin &= ~model.regions[other].numpy()
    return skin


def make_shells(look: Look, model, canonical: np.ndarray, coverage: dict, rng: np.random.Generator) -> list[Shell]:
    """The look's hair and beard shells (only those with volume). canonical (V, 3) float64 vertices;
    coverage: layer name → per-vertex coverage (V,). Thickness grows with the distance inside the
    c = 0.5 line over a ramp of 2 cm + 0.6 × volume, so the shell rises gently from the hair/beard line."""
    from scipy.spatial import cKDTree

    faces = model.faces.numpy()
    skin = skin_faces(model)
    on_skin_only = np.ones(len(canonical), bool)
    on_skin_only[faces[~skin].ravel()] = False
    shells = []
    for layer, name, volume, curl in ((1, "hair", look.hair_thickness, look.hair_curl),
                                      (2, "beard", look.beard_thickness, 0.25)):
        inside = (coverage[name] > 0.5) & on_skin_only
        if volume <= 0 or not inside.any() or inside.all():
            continue
        depth = np.zeros(len(canonical))
        depth[inside] = cKDTree(canonical[~inside]).query(canonical[inside])[0]
        t = volume * smoothstep(0.0, 0.02 + 0.6 * volume, depth) * (1 + curl * SolidNoise(rng, 45.0)(canonical))
        if name == "hair":  # more volume on the crown than on the sides and back
            y = canonical[inside, 1]
            t *= 0.55 + 0.45 * smoothstep(y.min(), y.max(), canonical[:, 1])
        t = np.clip(t, 0.0, None)
        used = (t[faces] > 0).any(1) & skin
        shells.append(Shell(layer, torch.from_numpy(np.flatnonzero(used)), torch.from_numpy(t).float()))
    return shells
