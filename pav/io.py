"""Atomic file writes (temp file in the same folder + rename) and image I/O at the edges.

Inside PAV images are float RGB in [0, 1]; on disk they are uint8 PNG (masks single-channel).
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success rename it onto `path`, on failure remove it.
    Readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


def write_png(path: str | Path, image: np.ndarray, provenance=None) -> None:
    """uint8 (H, W), (H, W, 3) or (H, W, 4), or float in [0, 1] → PNG, atomically. With a
    `pav.provenance.Provenance` (rendered media), the RGB image is marked as synthetic: watermark and tEXt."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"write_png {path}: image must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    pnginfo = None
    if provenance is not None:
        from .provenance import mark_frame, png_info

        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"write_png {path}: only RGB images carry provenance, got {image.shape}")
        image, pnginfo = mark_frame(image, provenance), png_info(provenance)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=pnginfo)


def read_png(path: str | Path) -> np.ndarray:
    """PNG → uint8 array (H, W) or (H, W, C); a clear error for missing or corrupt files."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"image {path} is unreadable or corrupt ({exc})") from None
