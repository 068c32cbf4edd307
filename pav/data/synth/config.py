"""Settings of the synthetic collection generator (`python -m pav synth`)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Everything random derives from `seed`, so a config fixes the output."""

    appearances: int = 5
    """Number of appearances (= videos) of the one synthetic subject."""
    frames: int = 120
    """Frames per video, train + test (novel frames come on top)."""
    size: int = 128
    """Image width and height in pixels."""
    seed: int = 0
    """Seed of every random choice (identity, looks, trajectories)."""
    head_model: str = "default"
    """Head model spec (see pav.load_head_model)."""
    test_fraction: float = 0.2
    """The last this fraction of each video is the test split (protocol a: later, unseen poses)."""
    novel_fraction: float = 0.2
    """Novel frames per appearance, as a fraction of `frames`: another appearance's test trajectory
    seen through this appearance's camera, without images (protocol b)."""
    supersample: int = 3
    """Render at this many times the size and box-filter down (odd, so a sub-sample sits on each pixel
    centre; the face mask and depth use that centre sample)."""
    texture_size: int = 512
    """Side of the procedural UV textures (skin, hair) in texels."""
    fps: float = 25.0
    """Frame rate of the synthetic videos (sets the speed of motion)."""
    depth: bool = True
    """Store the bare-mesh depth maps (16-bit PNG)."""
    preview_columns: int = 6
    """Frames per appearance in preview.png."""
    novel_yaws: tuple[float, ...] = (0.0, 15.0, 30.0, 45.0, 60.0)
    """Novel views with ground truth: yaw angles in degrees (at pitch 0) of cameras rotated about the head
    centre (see novelviews.py); empty for none."""
    novel_pitches: tuple[float, ...] = (-15.0, 15.0)
    """Pitch angles in degrees (at yaw 0) of further novel views."""
    novel_view_frames: int = 3
    """Test frames per appearance (evenly spread) rendered from every novel view; 0 for none."""

    def __post_init__(self):
        checks = [(self.appearances >= 1, f"--appearances {self.appearances}: need at least 1"),
                  (self.frames >= 2, f"--frames {self.frames}: need at least 2 (train and test)"),
                  (16 <= self.size <= 2048, f"--size {self.size}: choose 16..2048"),
                  (0.0 < self.test_fraction < 1.0, f"test_fraction {self.test_fraction}: must be in (0, 1)"),
                  (0.0 <= self.novel_fraction <= 1.0, f"novel_fraction {self.novel_fraction}: must be in [0, 1]"),
                  (self.supersample >= 1 and self.supersample % 2 == 1,
                   f"supersample {self.supersample}: must be odd and ≥ 1"),
                  (self.texture_size >= 32, f"texture_size {self.texture_size}: must be ≥ 32"),
                  (all(math.isfinite(y) and -180 <= y <= 180 for y in self.novel_yaws),
                   f"--novel-views {list(self.novel_yaws)}: yaws must be in [-180, 180] degrees"),
                  (all(math.isfinite(p) and -90 < p < 90 for p in self.novel_pitches),
                   f"--novel-pitches {list(self.novel_pitches)}: pitches must be in (-90, 90) degrees"),
                  (self.novel_view_frames >= 0, f"--novel-view-frames {self.novel_view_frames}: must be ≥ 0")]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def n_test(self) -> int:
        return min(self.frames - 1, max(1, round(self.frames * self.test_fraction)))

    @property
    def n_novel(self) -> int:
        return 0 if self.appearances < 2 else round(self.frames * self.novel_fraction)
