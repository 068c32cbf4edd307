"""Face landmarks and masks with mediapipe (face mesh: 468 points; selfie segmentation: foreground).

Pixel convention (DESIGN §2): landmarks are continuous pixel coordinates (x right, y down) with the
centre of pixel (row i, column j) at (j + 0.5, i + 0.5). mediapipe's normalised coordinates times the
image size put pixel centres at integers instead (measured: on an image upsampled k× with a
centre-aligned bilinear filter, its x·W grows by k·x + (k − 1)/2, not k·x), so `FaceLandmarker.landmarks`
returns x·W + 0.5, y·H + 0.5. Index meaning is mediapipe's canonical face mesh: 33 / 263 are the
subject's right / left outer eye corners, 133 / 362 the inner ones, 61 / 291 the mouth corners.

mediapipe (pinned 0.10.14, which bundles its models and works offline) is imported at first use only.
Its C++ start-up log lines and a protobuf deprecation warning are silenced; real errors still raise.
"""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

__all__ = ["FaceLandmarker", "VideoLandmarks", "FACE_OVAL", "N_LANDMARKS", "OUTER_EYE_CORNERS", "face_region_mask",
           "polygon_mask"]

N_LANDMARKS = 468
OUTER_EYE_CORNERS = (33, 263)
"""mediapipe indices of the subject's right and left outer eye corners: their distance is the inter-ocular
distance that landmark errors are normalised by."""
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
"""mediapipe's FACEMESH_FACE_OVAL edges chained into one closed loop, starting at the forehead (10)."""


def _mediapipe():
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise ImportError(f"mediapipe is not installed ({exc}); run `pip install -r requirements.txt`") from None
    return mp


@contextmanager
def _no_protobuf_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*GetPrototype.*", category=UserWarning)
        yield


@contextmanager
def _quiet():
    """Silence mediapipe's start-up chatter: C++ log lines on file descriptor 2 and protobuf's
    GetPrototype deprecation warning. Used only around graph creation and the first image."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        saved = None
    if saved is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        with _no_protobuf_warning():
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


class VideoLandmarks(NamedTuple):
    points: np.ndarray
    """(N, 468, 2) float64 landmark pixel coordinates per frame (PAV convention); NaN where no face."""
    found: np.ndarray
    """(N,) bool, a face was found in the frame."""


class FaceLandmarker:
    """mediapipe face mesh + selfie segmentation on uint8 RGB images.

    static: True treats every image independently (right for subsampled frames); False lets mediapipe
    track the face from the previous image (consecutive video frames: faster, smoother). Use as a
    context manager or call `close()` to free the graphs.
    """

    def __init__(self, static: bool = True, min_confidence: float = 0.5):
        self.static = static
        self.min_confidence = min_confidence
        self._mesh = None
        self._seg = None
        self._warm = set()

    def _run(self, kind: str, image: np.ndarray):
        mp = _mediapipe()
        first = kind not in self._warm
        with _quiet() if first else _no_protobuf_warning():
            if kind == "mesh" and self._mesh is None:
                self._mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=self.static, max_num_faces=1, refine_landmarks=False,
                    min_detection_confidence=self.min_confidence, min_tracking_confidence=self.min_confidence)
            if kind == "seg" and self._seg is None:
                self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            result = (self._mesh if kind == "mesh" else self._seg).process(image)
        self._warm.add(kind)
        return result

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """(468, 2) float64 pixel coordinates (x right, y down, pixel centres at +0.5) of the most
        prominent face in image (H, W, 3) uint8 RGB, or None if no face is found."""
        image = _check_image(image)
        result = self._run("mesh", image)
        if not result.multi_face_landmarks:
            return None
        H, W = image.shape[:2]
        pts = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], dtype=np.float64)
        return pts * (W, H) + 0.5

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 foreground (person) probability in [0, 1] of image (H, W, 3) uint8 RGB."""
        image = _check_image(image)
        mask = self._run("seg", image).segmentation_mask
        return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)

    def video_landmarks(self, frames: np.ndarray, progress=None) -> VideoLandmarks:
        """Landmarks of every frame of frames (N, H, W, 3) uint8 → `VideoLandmarks` (NaN where no face);
        progress(done, total) is called after each frame when given."""
        if frames.ndim != 4:
            raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
        points = np.full((len(frames), N_LANDMARKS, 2), np.nan)
        for k, frame in enumerate(frames):
            p = self.landmarks(frame)
            if p is not None:
                points[k] = p
            if progress is not None:
                progress(k + 1, len(frames))
        return VideoLandmarks(points, np.isfinite(points[:, 0, 0]))

    def close(self) -> None:
        for graph in (self._mesh, self._seg):
            if graph is not None:
                graph.close()
        self._mesh = self._seg = None
        self._warm.clear()

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def polygon_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool: pixel centres (j + 0.5, i + 0.5) inside the closed polygon (P, 2) of pixel coordinates
    (even-odd rule, so a self-crossing outline leaves its crossed part out)."""
    polygon = np.asarray(polygon, dtype=np.float64)
    if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
        raise ValueError(f"polygon must be (P ≥ 3, 2), got {polygon.shape}")
    mask = np.zeros((height, width), dtype=bool)
    if not np.isfinite(polygon).all():
        return mask
    j0, i0 = np.maximum(np.floor(polygon.min(0) - 0.5).astype(int), 0)
    j1, i1 = np.minimum(np.ceil(polygon.max(0) + 0.5).astype(int), (width, height))
    if j0 >= j1 or i0 >= i1:
        return mask
    x, y = np.meshgrid(np.arange(j0, j1) + 0.5, np.arange(i0, i1) + 0.5)
    inside = np.zeros(x.shape, dtype=bool)
    a, b = polygon, np.roll(polygon, -1, axis=0)
    for (xa, ya), (xb, yb) in zip(a, b):
        if ya == yb:
            continue
        crosses = (ya > y) != (yb > y)
        x_at = xa + (y - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (x < x_at)
    mask[i0:i1, j0:j1] = inside
    return mask


def face_region_mask(landmarks: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """(H, W) float32 face region: the filled face-oval polygon of landmarks (468, 2) (`FACE_OVAL`,
    forehead to chin, ear to ear) times the foreground (H, W) in [0, 1], so hair or a hand in front of
    the face is left out. All zero when landmarks is None."""
    foreground = np.asarray(foreground, dtype=np.float32)
    if foreground.ndim != 2:
        raise ValueError(f"foreground must be (H, W), got {foreground.shape}")
    if landmarks is None:
        return np.zeros_like(foreground)
    landmarks = np.asarray(landmarks)
    if landmarks.shape != (N_LANDMARKS, 2):
        raise ValueError(f"landmarks must be ({N_LANDMARKS}, 2), got {landmarks.shape}")
    oval = polygon_mask(landmarks[list(FACE_OVAL)], *foreground.shape)
    return oval.astype(np.float32) * foreground
