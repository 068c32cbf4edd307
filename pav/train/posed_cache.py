"""Prepared posed meshes of the training frames, kept between steps.

A training step draws rays from `frames_per_step` frames, and each frame's tracked mesh needs its face maps
and search structure (`Avatar.pose`: ~5 ms each on these CPUs, ~13 ms under load) before its samples can be
mapped. The tracked meshes never change during training, so the prepared meshes of the most recently used
frames are kept (least recently used out first), `POSED_CACHE_FRAMES` of them (1.2–1.4 MB each for a
10k-face mesh).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch

from ..geometry.posed import PosedMesh

POSED_CACHE_FRAMES = 768
"""prepared meshes kept: at most ~1.1 GB. The default collection has 480 training frames; with 256 kept, a
step still prepared ~3.7 of its 8 frames, and keeping them all gave 2.58 → 2.85 steps/s (session 6,
docs/performance.md)."""


class PosedCache:
    def __init__(self, pose: Callable[[torch.Tensor], PosedMesh], capacity: int = POSED_CACHE_FRAMES):
        self.pose, self.capacity = pose, capacity
        self.meshes: OrderedDict[int, PosedMesh] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, frame: int, vertices: torch.Tensor) -> PosedMesh:
        """The prepared mesh of training frame `frame`, whose tracked mesh is vertices (V, 3)."""
        mesh = self.meshes.get(frame)
        if mesh is not None and mesh.vertices.device == vertices.device and torch.equal(mesh.vertices, vertices):
            self.meshes.move_to_end(frame)
            self.hits += 1
            return mesh
        self.misses += 1
        mesh = self.meshes[frame] = self.pose(vertices)
        self.meshes.move_to_end(frame)
        while len(self.meshes) > self.capacity:
            self.meshes.popitem(last=False)
        return mesh
