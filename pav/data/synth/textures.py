"""Paint one appearance's procedural UV textures: skin (with brows, lips, stubble, freckles, eyes, mouth),
hair and beard. Painted per texel from the `UVBake` (3D position + region of every texel) and UV noise."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .looks import Look
from .noise import dots, smoothstep, strand_noise, texel_noise, wave_noise
from .uvbake import UVBake


class Textures(NamedTuple):
    skin: np.ndarray
    """(T, T, 3) float32 albedo of the bare head (the head model's atlas)."""
    hair: np.ndarray
    """(T, T, 3) float32 albedo of the hair shell (same atlas: the shell copies the scalp's UVs)."""
    beard: np.ndarray
    """(T, T, 3) float32 albedo of the beard shell."""
    vertex: np.ndarray
    """(V, 3) float32 per-vertex albedo for the eyeballs, whose UVs are too thin a sliver of the atlas to
    hold an iris (faces of the "eyes" region are shaded from these instead of the skin texture)."""


def _soft(mask: np.ndarray, sigma: float = 0.8) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(mask.astype(np.float64), sigma)


def _mix(base: np.ndarray, color, weight: np.ndarray) -> np.ndarray:
    w = np.clip(weight, 0.0, 1.0)[..., None]
    return base * (1 - w) + np.asarray(color, dtype=np.float64) * w


def _gauss(points: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    return np.exp(-((points - center) ** 2).sum(-1) / (2 * radius ** 2))


def eye_colors(look: Look, p: np.ndarray, eye_centers: np.ndarray) -> np.ndarray:
    """Eyeball colours (…, 3): sclera, iris and pupil around each eyeball's +z axis (rest gaze)."""
    c = eye_centers[np.argmin(((p[..., None, :] - eye_centers) ** 2).sum(-1), axis=-1)]
    d = p - c
    cos = d[..., 2] / np.linalg.norm(d, axis=-1).clip(1e-9)
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    out = np.broadcast_to(np.array([0.80, 0.76, 0.72]), p.shape).copy()
    out = _mix(out, np.asarray(look.iris) * 0.5, smoothstep(38, 34, angle))  # limbal ring
    out = _mix(out, look.iris, smoothstep(34, 30, angle))
    return _mix(out, (0.02, 0.02, 0.02), smoothstep(15, 12, angle))


def paint(look: Look, bake: UVBake, rng: np.random.Generator, eye_centers: np.ndarray, vertices: np.ndarray,
          coverage: dict) -> Textures:
    """eye_centers (2, 3): the canonical eye joints; vertices (V, 3): the canonical head; coverage:
    "hair"/"beard" → (T, T) smooth coverage of the texels (shells.Coverage)."""
    p = bake.position.astype(np.float64)
    T = p.shape[0]
    region = lambda name: bake.regions.get(name, np.zeros((T, T), bool))  # noqa: E731
    face = region("face")
    # skin: tone variation, pores, cheeks, freckles
    skin = np.broadcast_to(np.asarray(look.skin), (T, T, 3)).copy()
    skin *= 1 + look.blotch * wave_noise(rng, p, 25.0)[..., None]
    skin *= 1 + look.skin_detail * texel_noise(rng, T, 0.6)[..., None]
    cheeks = sum(_gauss(p, c + np.array([0.012 * np.sign(c[0]), -0.035, 0.0]), 0.016) for c in eye_centers)
    skin = _mix(skin, np.asarray(look.skin) * [1.05, 0.72, 0.72], look.blush * 2.5 * cheeks * _soft(face, 2))
    nose_area = _gauss(p, eye_centers.mean(0) + [0.0, -0.025, 0.02], 0.035) * face
    freckle = dots(rng, T, look.freckles, 0.7) * np.clip(2 * nose_area, 0, 1)
    skin = _mix(skin, np.asarray(look.skin) * [0.72, 0.52, 0.42], 0.8 * freckle)
    skin = _mix(skin, np.asarray(look.skin) * [1.02, 0.85, 0.82], 0.5 * region("ears"))
    # beard area: roots under a beard shell, or stubble dots when there is no shell
    beard_line = smoothstep(0.4, 0.6, coverage["beard"])
    if look.beard_thickness > 0:
        skin = _mix(skin, np.asarray(look.beard) * 0.8, 0.95 * beard_line * (0.8 + 0.2 * dots(rng, T, 0.5, 0.6)))
    else:
        patchy = 0.6 + 0.4 * smoothstep(-0.5, 0.5, wave_noise(rng, p, 60.0))
        skin = _mix(skin, np.asarray(look.beard) * 0.9,
                    look.stubble * smoothstep(0.25, 0.6, coverage["beard"]) * patchy * dots(rng, T, 0.45, 0.5))
    # eyebrows: dense soft streaks inside the brow band
    brows = _soft(region("eyebrows"), 1.2) * look.brow_density * (0.7 + 0.3 * strand_noise(rng, p, 250.0))
    skin = _mix(skin, look.brow, np.clip(1.4 * brows, 0, 1))
    # lips, scalp (hair roots under the hair shell), eyeballs, mouth interior
    skin = _mix(skin, look.lips, _soft(region("lips"), 0.7))
    hair_line = smoothstep(0.4, 0.6, coverage["hair"])
    skin = _mix(skin, np.asarray(look.hair) * 0.75, 0.95 * hair_line)
    eyes = region("eyes")
    skin[eyes] = eye_colors(look, p[eyes], eye_centers)
    skin[region("mouth_interior")] = (0.32, 0.09, 0.10)
    # hair and beard shells: their colour where covered, the skin's elsewhere (thin shell edges)
    streaks = strand_noise(rng, p, 160.0)
    hair = np.asarray(look.hair) * (0.72 + 0.22 * streaks + 0.12 * wave_noise(rng, p, 18.0))[..., None]
    grain = 0.78 + 0.11 * texel_noise(rng, T, 0.7) + 0.1 * wave_noise(rng, p, 40.0)
    beard = np.asarray(look.beard) * grain[..., None]
    hair = skin * (1 - hair_line[..., None]) + hair * hair_line[..., None]
    beard = skin * (1 - beard_line[..., None]) + beard * beard_line[..., None]
    as32 = lambda a: np.clip(a, 0, 1).astype(np.float32)  # noqa: E731
    return Textures(as32(skin), as32(hair), as32(beard), as32(eye_colors(look, vertices, eye_centers)))
