"""What differs between the synthetic subject's videos: a `Look` per appearance.

One subject (base skin tone, iris colour, natural hair colour are identity) seen in several videos that
differ the way real collections do: tan and make-up, skin detail and freckles, brow grooming, lip colour,
hair style (volume) and colour, beard style (stubble or a shell of real volume) and colour, the room's
light (direction, colour, ambient) and background, and the camera placement. Hair and beard styles are
dealt from shuffled decks, so the first appearances all differ.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HAIR_COLORS = {"black": (0.045, 0.035, 0.03), "dark brown": (0.14, 0.085, 0.05), "brown": (0.30, 0.18, 0.10),
               "dark blonde": (0.52, 0.40, 0.24), "auburn": (0.42, 0.17, 0.08), "grey": (0.50, 0.49, 0.47)}
HAIR_STYLES = {"buzz cut": 0.002, "short": 0.010, "medium": 0.020, "voluminous": 0.034}
"""Style → hair shell thickness at the crown, metres."""
BEARD_STYLES = {"clean-shaven": 0.0, "stubble": 0.0, "short beard": 0.005, "full beard": 0.014}
"""Style → beard shell thickness, metres (stubble is texture only)."""
LIGHT_COLORS = [(1.0, 0.86, 0.70), (1.0, 1.0, 1.0), (0.80, 0.90, 1.08), (1.0, 0.95, 0.82), (0.92, 1.0, 0.90)]


@dataclass(frozen=True)
class Look:
    """The appearance of one video (colours are linear RGB in [0, 1])."""

    name: str
    """Appearance name, e.g. "short-dark-brown-full-beard"."""
    skin: tuple
    """Base skin albedo."""
    skin_detail: float
    """Amplitude of the pore-scale UV noise (relative)."""
    blotch: float
    """Amplitude of the low-frequency skin-tone variation (relative)."""
    blush: float
    """Redness added on the cheeks (make-up or a cold day)."""
    freckles: float
    """Fraction of the cheek/nose area covered by freckles (0 = none)."""
    brow_density: float
    """Eyebrow opacity in [0, 1] (plucked … bushy)."""
    brow: tuple
    """Eyebrow colour."""
    lips: tuple
    """Lip colour (natural or lipstick)."""
    iris: tuple
    """Iris colour (identity: the same in every appearance)."""
    hair_style: str
    """Key of HAIR_STYLES."""
    hair_thickness: float
    """Hair volume at the crown, metres (real geometry: an offset shell over the scalp)."""
    hair_curl: float
    """Relative bumpiness of the hair shell (0 = smooth)."""
    hair: tuple
    """Hair colour."""
    beard_style: str
    """Key of BEARD_STYLES."""
    beard_thickness: float
    """Beard volume, metres (0 = no shell)."""
    beard: tuple
    """Beard / stubble colour."""
    stubble: float
    """Stubble darkening of the beard-region skin in [0, 1]."""
    light_dir: tuple
    """Unit vector toward the key light, in CAMERA space (x right, y down, z forward)."""
    light: tuple
    """Key light colour × intensity."""
    ambient: tuple
    """Ambient light colour × intensity."""
    background: tuple
    """Two background colours (top-left, bottom-right) of a gradient, and its angle in radians."""
    camera_yaw: float
    """Camera direction about the head, degrees (0 = in front)."""
    camera_pitch: float
    """Camera elevation, degrees."""
    camera_distance: float
    """Relative distance factor (1 = the default framing)."""


def _jitter(rng, rgb, amount):
    return tuple(float(c) for c in np.clip(np.asarray(rgb) * (1 + rng.uniform(-amount, amount, 3)), 0, 1))


def _deck(rng, items, n):
    """n items dealt from repeatedly shuffled copies of `items` (all differ while n ≤ len(items))."""
    out = []
    while len(out) < n:
        out += [items[i] for i in rng.permutation(len(items))]
    return out[:n]


def sample_looks(rng: np.random.Generator, n: int) -> list[Look]:
    base_skin = np.array([0.84, 0.62, 0.50]) * rng.uniform(0.94, 1.04)
    natural_hair = list(HAIR_COLORS)[int(rng.integers(0, 4))]
    iris = _jitter(rng, [(0.25, 0.15, 0.07), (0.22, 0.35, 0.45), (0.30, 0.33, 0.18)][int(rng.integers(0, 3))], 0.1)
    hair_styles = _deck(rng, list(HAIR_STYLES), n)
    beard_styles = _deck(rng, list(BEARD_STYLES), n)
    hair_colors = _deck(rng, list(HAIR_COLORS), n)
    hair_colors = [natural_hair if k == 0 else c for k, c in enumerate(hair_colors)]
    light_colors = _deck(rng, LIGHT_COLORS, n)
    looks = []
    for k in range(n):
        tan = rng.uniform(-0.12, 0.18)  # negative: paler (winter), positive: tanned
        skin = np.clip(base_skin * (1 - tan * np.array([0.35, 0.6, 0.8])), 0, 1)
        hair = _jitter(rng, HAIR_COLORS[hair_colors[k]], 0.08)
        beard = _jitter(rng, np.asarray(hair) * rng.uniform(0.8, 1.1), 0.08)
        az, el = math.radians(rng.uniform(-65, 65)), math.radians(rng.uniform(10, 50))
        light_dir = (math.sin(az) * math.cos(el), -math.sin(el), -math.cos(az) * math.cos(el))
        intensity = rng.uniform(0.75, 1.0)
        lipstick = rng.uniform() < 0.3
        lips = (0.62, 0.10, 0.14) if lipstick else tuple(skin * np.array([0.95, 0.62, 0.62]))
        hue = rng.uniform(0, 1, 2)
        c1 = _hsv(hue[0], rng.uniform(0.15, 0.6), rng.uniform(0.35, 0.9))
        c2 = _hsv((hue[0] + rng.uniform(-0.15, 0.15)) % 1, rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.7))
        hs, bs = hair_styles[k], beard_styles[k]
        looks.append(Look(
            name=f"{k}-{hs.replace(' ', '-')}-{hair_colors[k].replace(' ', '-')}-{bs.replace(' ', '-')}",
            skin=tuple(float(c) for c in skin), skin_detail=rng.uniform(0.02, 0.05), blotch=rng.uniform(0.015, 0.035),
            blush=rng.uniform(0.0, 0.12), freckles=float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.04, 0.1)])),
            brow_density=rng.uniform(0.55, 1.0), brow=_jitter(rng, np.asarray(hair) * 0.8, 0.1),
            lips=_jitter(rng, lips, 0.05), iris=iris, hair_style=hs,
            hair_thickness=HAIR_STYLES[hs] * rng.uniform(0.85, 1.15), hair_curl=rng.uniform(0.05, 0.35), hair=hair,
            beard_style=bs, beard_thickness=BEARD_STYLES[bs] * rng.uniform(0.85, 1.15), beard=beard,
            stubble={"clean-shaven": 0.0, "stubble": rng.uniform(0.5, 0.8)}.get(bs, 0.6),
            light_dir=light_dir, light=tuple(intensity * np.asarray(light_colors[k])),
            ambient=tuple(rng.uniform(0.28, 0.42) * np.asarray(_jitter(rng, (1, 1, 1), 0.1))),
            background=(c1, c2, float(rng.uniform(0, 2 * math.pi))),
            camera_yaw=rng.uniform(-12, 12), camera_pitch=rng.uniform(-4, 10),
            camera_distance=rng.uniform(0.95, 1.1)))
    return looks


def _hsv(h, s, v):
    import colorsys

    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))
