"""Procedural noise for the synthetic textures and shell thicknesses (numpy, deterministic per rng)."""
from __future__ import annotations

import math

import numpy as np


def wave_noise(rng: np.random.Generator, points: np.ndarray, frequency: float, k: int = 8,
               directions: np.ndarray | None = None, spread: tuple = (0.7, 1.4)) -> np.ndarray:
    """Smooth solid noise at points (..., 3) in metres → (...,) roughly in [−1, 1]: k plane waves of
    about `frequency` cycles per metre (times a factor drawn from `spread`) along random directions (or
    the given (k, 3) directions)."""
    if directions is None:
        directions = rng.normal(size=(k, 3))
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    freq = frequency * rng.uniform(*spread, len(directions))
    phase = rng.uniform(0, 2 * math.pi, len(directions))
    arg = 2 * math.pi * (points @ (directions * freq[:, None]).T) + phase
    return np.sin(arg).sum(-1) * math.sqrt(2.0 / len(directions))


def strand_noise(rng: np.random.Generator, points: np.ndarray, frequency: float, k: int = 32) -> np.ndarray:
    """Hair-like streaks (...,): many plane waves of widely spread frequencies whose directions are nearly
    horizontal, so the stripes run roughly vertically (along the fall of the hair) without moiré."""
    d = rng.normal(size=(k, 3)) * np.array([1.0, 0.2, 1.0])
    return wave_noise(rng, points, frequency, directions=d, spread=(0.4, 1.8))


def texel_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """(size, size) UV-space detail: white noise blurred by `sigma` texels, unit standard deviation."""
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.normal(size=(size, size)), sigma, mode="wrap")
    return n / max(float(n.std()), 1e-12)


def dots(rng: np.random.Generator, size: int, density: float, radius: float) -> np.ndarray:
    """(size, size) in [0, 1]: soft round dots (freckles, stubble) covering about `density` of texels."""
    from scipy.ndimage import gaussian_filter

    if density <= 0:
        return np.zeros((size, size))
    seeds = (rng.random((size, size)) < density / max(math.pi * radius ** 2, 1.0)).astype(np.float64)
    blurred = gaussian_filter(seeds, radius, mode="wrap")
    return np.clip(blurred / max(float(blurred.max()), 1e-12) * 2.0, 0.0, 1.0)


def smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class SolidNoise:
    """A fixed `wave_noise` function (parameters drawn once), so the same noise can be evaluated at mesh
    vertices and at texel positions."""

    def __init__(self, rng: np.random.Generator, frequency: float, k: int = 8):
        d = rng.normal(size=(k, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        self.waves = d * (frequency * rng.uniform(0.7, 1.4, k))[:, None]
        self.phase = rng.uniform(0, 2 * math.pi, k)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points (..., 3) metres → (...,) roughly in [−1, 1]."""
        return np.sin(2 * math.pi * (points @ self.waves.T) + self.phase).sum(-1) * math.sqrt(2.0 / len(self.phase))
