"""A video collection in memory: the manifest, one `Appearance` per video, one `Frame` per video frame.

The on-disk format is described field by field in docs/collection-format.md; `reader.read_collection`
builds these objects (validated), `writer` writes them. Images are NOT held here: an `Appearance` loads
a frame's image, masks and depth on demand, re-checking size and channels, with errors that name the
file and the frame field.

Conventions: cameras OpenCV camera-to-world (x right, y down, z forward), metres, pixel centres at +0.5;
images float RGB in [0, 1]; depth is camera-space z of the bare head mesh in metres, 0 where no surface.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..camera import Camera

FORMAT_NAME = "pav-collection"
FORMAT_VERSION = 1
MANIFEST = "collection.json"
TRANSFORMS = "transforms.json"
SPLITS = ("train", "test", "novel")
"""train/test frames have ground-truth images. A novel frame is either a rotated-camera view of a test frame
WITH ground truth (it has a `View` and images) or a cross-appearance replay without images (no `View`)."""
DEFAULT_DEPTH_SCALE = 1e-4
"""Metres per unit of a 16-bit depth PNG (0.1 mm: depths up to 6.5 m, quantisation ≤ 0.05 mm)."""


@dataclass
class HeadModelRef:
    """Which head model the parameters belong to."""

    spec: str
    """How to load it: "default" (the built-in model) or a path to a FLAME `generic_model.pkl` / `.npz`."""
    name: str
    """HeadModel.name, for messages."""
    checksum: str
    """HeadModel.checksum() (sha256 hex) of the model used to track or generate the data."""


@dataclass
class AppearanceEntry:
    """One line of the manifest's appearance list."""

    name: str
    """Appearance name shown to users (dropdowns, `--appearance NAME`)."""
    folder: str
    """Folder of this video, relative to the collection root."""


@dataclass
class Manifest:
    """collection.json."""

    subject: str
    """Who the collection shows (free text)."""
    head_model: HeadModelRef
    shape: list[float]
    """The subject's identity shape coefficients, shared by all appearances (S' ≤ head model n_shape)."""
    appearances: list[AppearanceEntry]
    description: str = ""
    """Free text: how the collection was made (e.g. the synth command line)."""


@dataclass(frozen=True)
class View:
    """How a novel frame with ground truth was seen: its test frame's camera rotated about the head centre."""

    yaw: float
    """Degrees about the world up axis (+y) through `center`; positive moves the camera toward +x."""
    pitch: float
    """Degrees about the test camera's horizontal (x) axis through `center`; positive moves the camera up."""
    center: tuple[float, float, float]
    """The head centre (world, metres) the camera was rotated about."""
    test_frame: int
    """frame_index of the test frame (same appearance) whose parameters and camera were rotated."""


@dataclass
class Frame:
    """One video frame: camera, head parameters, split and (for train/test) its image files."""

    index: int
    """Frame number in the video (0-based); unique within the appearance."""
    timestamp: float
    """Seconds from the start of the video."""
    split: str
    """"train", "test" or "novel" (see SPLITS)."""
    c2w: np.ndarray
    """(4, 4) float64 camera-to-world, OpenCV axes."""
    fx: float
    """Focal length x in pixels (the appearance's unless the frame overrides it); likewise fy, cx, cy."""
    fy: float
    cx: float
    cy: float
    expression: np.ndarray
    """(E,) float64 expression coefficients, in `Appearance.expression_names` order."""
    pose: np.ndarray
    """(J, 3) float64 axis-angle per joint, in `Appearance.joint_names` order."""
    translation: np.ndarray
    """(3,) float64 head translation in metres."""
    file_path: str | None = None
    """RGB image, relative to the appearance folder (None for novel replay frames, which have no ground truth)."""
    mask_path: str | None = None
    """Foreground mask (single-channel, 255 = head/hair/neck)."""
    face_mask_path: str | None = None
    """Face-region mask for the depth loss (single-channel, 255 = face skin seen directly)."""
    depth_path: str | None = None
    """Optional 16-bit depth PNG of the bare head mesh (units: `Appearance.depth_scale`)."""
    source: str | None = None
    """Novel frames: "APPEARANCE/FRAME_INDEX" whose trajectory this frame reuses."""
    view: View | None = None
    """Novel frames with ground truth: the rotated viewpoint (None for every other frame)."""


@dataclass
class Appearance:
    """One video (= one appearance) of the subject, read from its transforms.json."""

    name: str
    folder: Path
    """The appearance folder (collection root / manifest folder)."""
    width: int
    height: int
    fx: float
    """Focal length in pixels (transforms.json fl_x); a frame may override it."""
    fy: float
    cx: float
    """Principal point in pixels (pixel centres at +0.5)."""
    cy: float
    expression_names: list[str]
    joint_names: list[str]
    frames: list[Frame]
    fps: float = 25.0
    depth_scale: float = DEFAULT_DEPTH_SCALE
    """Metres per depth-PNG unit (INSTA's `integer_depth_scale`)."""
    background_path: str | None = None
    """Background image (RGB PNG, w×h) behind the head, relative to the folder, when known."""
    background_color: tuple[float, float, float] | None = None
    """A constant background colour in [0, 1], when known and no image is given."""
    extra: dict = field(default_factory=dict)
    """Unknown top-level transforms.json keys, kept so a rewrite does not lose them."""

    def frames_in(self, split: str) -> list[Frame]:
        return [f for f in self.frames if f.split == split]

    def camera(self, frame: Frame) -> Camera:
        return Camera(torch.as_tensor(frame.c2w, dtype=torch.float32, device="cpu"), frame.fx, frame.fy, frame.cx, frame.cy,
                      self.width, self.height)

    # ---- lazy image access (each re-checks size and channels) -------------------------------------------
    def _load(self, frame: Frame, key: str, mode: str) -> np.ndarray:
        from .imagecheck import load_checked

        rel = getattr(frame, key)
        if rel is None:
            raise ValueError(f"{self.folder / 'transforms.json'}: frame {frame.index} ({frame.split}) has no {key}")
        return load_checked(self.folder / rel, mode, self.width, self.height, f"frame {frame.index} {key}")

    def image(self, frame: Frame) -> torch.Tensor:
        """(H, W, 3) float32 RGB in [0, 1]."""
        return torch.from_numpy(self._load(frame, "file_path", "RGB")).float() / 255.0

    def mask(self, frame: Frame) -> torch.Tensor:
        """(H, W) float32 foreground coverage in [0, 1]."""
        return torch.from_numpy(self._load(frame, "mask_path", "L")).float() / 255.0

    def face_mask(self, frame: Frame) -> torch.Tensor:
        """(H, W) float32 face-region mask in [0, 1]."""
        return torch.from_numpy(self._load(frame, "face_mask_path", "L")).float() / 255.0

    def depth(self, frame: Frame) -> torch.Tensor:
        """(H, W) float32 camera-space depth in metres, 0 where the mesh does not cover the pixel."""
        raw = self._load(frame, "depth_path", "I;16")
        return torch.from_numpy(raw.astype(np.float64) * self.depth_scale).float()

    def background(self) -> torch.Tensor | None:
        """(H, W, 3) float32 background, from the image or the constant colour; None if unknown."""
        from .imagecheck import load_checked

        if self.background_path is not None:
            raw = load_checked(self.folder / self.background_path, "RGB", self.width, self.height,
                               "background_path")
            return torch.from_numpy(raw).float() / 255.0
        if self.background_color is not None:
            return torch.tensor(self.background_color, dtype=torch.float32, device="cpu").expand(self.height, self.width, 3)
        return None


@dataclass
class Collection:
    """A whole collection: its root folder, manifest and appearances (manifest order)."""

    root: Path
    manifest: Manifest
    appearances: list[Appearance]

    @property
    def appearance_names(self) -> list[str]:
        return [a.name for a in self.appearances]

    def appearance(self, name: str) -> Appearance:
        for a in self.appearances:
            if a.name == name:
                return a
        raise ValueError(f"{self.root / MANIFEST}: no appearance named '{name}' "
                         f"(have: {', '.join(self.appearance_names)})")

    def shape(self) -> torch.Tensor:
        """(1, S') float32 identity shape, ready for HeadModel.forward(shape=...)."""
        return torch.tensor([self.manifest.shape], dtype=torch.float32, device="cpu")

    def check_head_model(self, model) -> None:
        """Raise ValueError when `model` (a HeadModel) is not the one this collection was made with."""
        from .reader import check_head_model

        check_head_model(self, model)
