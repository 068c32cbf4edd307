"""preview.png: rows = appearances, columns = sample frames, on a dark grid."""
from __future__ import annotations

import numpy as np


def preview_grid(rows: list[list[np.ndarray]], gap: int = 2, color=(0.1, 0.1, 0.1)) -> np.ndarray:
    """rows[a][c]: (H, W, 3) float images in [0, 1] → (R·(H+gap)+gap, C·(W+gap)+gap, 3) float grid."""
    H, W, _ = rows[0][0].shape
    C = max(len(r) for r in rows)
    grid = np.empty((len(rows) * (H + gap) + gap, C * (W + gap) + gap, 3), np.float32)
    grid[:] = color
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = gap + i * (H + gap), gap + j * (W + gap)
            grid[y:y + H, x:x + W] = image
    return grid
