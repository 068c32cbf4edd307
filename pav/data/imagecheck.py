"""PNG checks for collections: existence, size and channel layout, from the header (cheap) or on load.

Every error is one line naming the file and the transforms.json field that points to it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

_MODES = {"RGB": ("RGB",), "L": ("L",), "I;16": ("I;16", "I;16B", "I;16L", "I")}
_DESCRIBE = {"RGB": "an RGB PNG", "L": "a single-channel 8-bit PNG", "I;16": "a single-channel 16-bit PNG"}


def _open(path: Path, what: str):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found ({what})")
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: unreadable image ({what}): {exc}") from None


def _check(im, path: Path, mode: str, width: int, height: int, what: str) -> None:
    if im.format != "PNG":
        raise ValueError(f"{path}: expected a PNG ({what}), got {im.format}")
    if im.mode not in _MODES[mode]:
        raise ValueError(f"{path}: expected {_DESCRIBE[mode]} ({what}), got mode {im.mode}")
    if im.size != (width, height):
        raise ValueError(f"{path}: size {im.size[0]}×{im.size[1]}, expected {width}×{height} "
                         f"(w×h in transforms.json) ({what})")


def check_header(path: Path, mode: str, width: int, height: int, what: str) -> None:
    """Check existence, format, channels and size without decoding the pixels."""
    with _open(path, what) as im:
        _check(im, path, mode, width, height, what)


def load_checked(path: Path, mode: str, width: int, height: int, what: str) -> np.ndarray:
    """Decode a checked PNG: uint8 (H, W, 3) for "RGB", uint8 (H, W) for "L", uint16 (H, W) for "I;16"."""
    with _open(path, what) as im:
        _check(im, path, mode, width, height, what)
        try:
            im.load()
        except OSError as exc:
            raise ValueError(f"{path}: truncated or corrupt image ({what}): {exc}") from None
        a = np.asarray(im)
    if mode == "I;16":
        if a.min(initial=0) < 0 or a.max(initial=0) > 65535:
            raise ValueError(f"{path}: depth values outside 0..65535 ({what})")
        return a.astype(np.uint16)
    return a.copy()
