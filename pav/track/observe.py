"""From one video to what the fitting sees: cropped frames, their landmarks, foreground and face masks.

`observe_video` reads the video (evenly subsampled), finds mediapipe's 468 landmarks in every frame, drops
frames without a face (with a warning naming them), chooses one stable square crop for the whole video
(`crop.stable_crop`), crops and resizes frames and landmarks, and segments the crops (foreground and
the face-oval region), both cut to the crop pixels inside the source frame (`crop.inside_frame`: the
segmentation finds "person" in the black padding too). A video without any usable frame is a ValueError
naming it.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .crop import CropBox, crop_video, inside_frame, stable_crop
from .landmarks import FaceLandmarker, face_region_mask
from .video import read_video


class VideoObservations(NamedTuple):
    name: str
    """Appearance name (the video's file or folder stem)."""
    frames: np.ndarray
    """(N, S, S, 3) uint8 cropped frames (only frames with a face)."""
    landmarks: np.ndarray
    """(N, 468, 2) float64 mediapipe landmarks in crop pixels (centres at +0.5)."""
    foreground: np.ndarray
    """(N, S, S) float32 foreground probability; 0 where the crop leaves the source frame."""
    face_region: np.ndarray
    """(N, S, S) float32 face-oval region × foreground (the depth loss's face mask)."""
    indices: np.ndarray
    """(N,) int64 frame numbers in the source video."""
    fps: float
    """Source frames per second (25 for image folders)."""
    box: CropBox
    """The crop in source pixels."""
    source_size: tuple[int, int]
    """(width, height) of the source frames."""


def observe_video(path: str | Path, size: int, max_frames: int | None = 120, name: str | None = None,
                  landmarker: FaceLandmarker | None = None, progress=None) -> VideoObservations:
    """Observations of one video file or image folder at crop size `size`; progress(done, total) is
    called per frame of the landmark pass when given."""
    path = Path(path)
    name = name or path.stem
    video = read_video(path, max_frames=max_frames)
    own = landmarker is None
    landmarker = landmarker or FaceLandmarker(static=True)
    try:
        points, ok = landmarker.video_landmarks(video.frames, progress)
        if not ok.any():
            raise ValueError(f"video '{name}' ({path}): no face found in any of its {len(ok)} frames; "
                             "check that the face is visible and at least ~60 pixels wide")
        if not ok.all():
            lost = video.indices[~ok].tolist()
            shown = ", ".join(map(str, lost[:10])) + (" …" if len(lost) > 10 else "")
            warnings.warn(f"video '{name}': no face in {len(lost)} of {len(ok)} frames (source frames {shown}); "
                          "dropped", RuntimeWarning, stacklevel=2)
        box = stable_crop(points[ok], video.frames.shape[2], video.frames.shape[1])
        cropped = crop_video(video.frames[ok], points[ok], box, size)
        inside = inside_frame(box, video.frames.shape[2], video.frames.shape[1], size)
        foreground = np.stack([landmarker.foreground(f) for f in cropped.frames]) * inside
        face = np.stack([face_region_mask(p, fg) for p, fg in zip(cropped.landmarks, foreground)])
    finally:
        if own:
            landmarker.close()
    H, W = video.frames.shape[1:3]
    return VideoObservations(name, cropped.frames, cropped.landmarks, foreground, face, video.indices[ok],
                             float(video.fps or 25.0), box, (W, H))
