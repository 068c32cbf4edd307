"""Everything static about one synthetic appearance: coverage of hair and beard, shells, textures → Scene."""
from __future__ import annotations

import numpy as np

from .looks import Look
from .render import Scene, make_scene
from .shells import SHELL_REGIONS, Coverage, make_shells
from .textures import paint
from .uvbake import UVBake


def appearance_scene(model, look: Look, bake: UVBake, canonical: np.ndarray, eye_centers: np.ndarray,
                     rng: np.random.Generator) -> Scene:
    """canonical (V, 3) float64 rest vertices of the subject; eye_centers (2, 3). Draws from `rng` in a
    fixed order (coverage noise, textures, shell noise), so it is deterministic."""
    coverage = {layer: Coverage(model, canonical, region, rng) for layer, region in SHELL_REGIONS.items()}
    at_vertices = {layer: c(canonical) for layer, c in coverage.items()}
    at_texels = {layer: bake.evaluate(c) for layer, c in coverage.items()}
    textures = paint(look, bake, rng, eye_centers, canonical, at_texels)
    return make_scene(model, make_shells(look, model, canonical, at_vertices, rng), textures)
