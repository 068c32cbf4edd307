"""All frames of one split as tensors, for training and evaluation.

    batch = load_split(read_collection("data"), "train")
    batch.images (N, H, W, 3), batch.expression (N, E), batch.camera(i) → Camera, …

Frames come in manifest order of appearances, then transforms.json order. `appearance` indexes
`collection.appearances` (and `backgrounds`), whether or not an appearance has frames in the split.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from ..camera import Camera
from .collection import SPLITS, Collection


class FrameBatch(NamedTuple):
    images: torch.Tensor | None
    """(N, H, W, 3) float32 RGB in [0, 1]; None unless every frame has ground truth (novel replay frames have
    none)."""
    masks: torch.Tensor | None
    """(N, H, W) float32 foreground coverage in [0, 1]; None when `images` is."""
    face_masks: torch.Tensor | None
    """(N, H, W) float32 face-region mask in [0, 1]; None when `images` is."""
    depth: torch.Tensor | None
    """(N, H, W) float32 bare-mesh camera-space depth in metres (0 = no surface); None unless every frame
    has a depth file."""
    backgrounds: torch.Tensor | None
    """(A, H, W, 3) float32 per-appearance background; None unless every appearance has one."""
    c2w: torch.Tensor
    """(N, 4, 4) float32 camera-to-world, OpenCV axes."""
    intrinsics: torch.Tensor
    """(N, 4) float32 fx, fy, cx, cy in pixels."""
    expression: torch.Tensor
    """(N, E) float32."""
    pose: torch.Tensor
    """(N, J, 3) float32 axis-angle per joint."""
    translation: torch.Tensor
    """(N, 3) float32."""
    appearance: torch.Tensor
    """(N,) int64 index into collection.appearances."""
    frame_index: torch.Tensor
    """(N,) int64 frame number within its video."""
    width: int
    height: int
    views: torch.Tensor | None = None
    """(N, 2) float32 yaw, pitch in degrees of novel frames with ground truth; None unless every frame has a
    view."""

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    def to(self, device: torch.device | str) -> "FrameBatch":
        """The same frames with every tensor on `device`."""
        return self._replace(**{k: v.to(device) for k, v in self._asdict().items() if torch.is_tensor(v)})

    def camera(self, i: int) -> Camera:
        fx, fy, cx, cy = self.intrinsics[i].tolist()
        return Camera(self.c2w[i], fx, fy, cx, cy, self.width, self.height)


def load_split(collection: Collection, split: str = "train", appearances: list[str] | None = None,
               progress: bool = False, ground_truth: bool = False, device: torch.device | str = "cpu") -> FrameBatch:
    """Load every frame of `split` (of the named `appearances`, default all) as tensors on `device`; with
    `ground_truth` only the frames that have images (for "novel": the rotated-camera views, not the replay
    frames).
    All selected appearances must share one image size."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    names = appearances if appearances is not None else collection.appearance_names
    if not names:
        raise ValueError(f"{collection.root}: no appearances chosen to load (has {', '.join(collection.appearance_names)})")
    chosen = [collection.appearance(n) for n in names]  # raises for unknown names
    sizes = {(a.width, a.height) for a in chosen}
    if len(sizes) != 1:
        raise ValueError(f"appearances {names} have different image sizes {sorted(sizes)}; load them separately")
    (W, H), = sizes
    items = [(collection.appearances.index(a), a, f) for a in chosen for f in a.frames_in(split)
             if f.file_path is not None or not ground_truth]
    if not items:
        what = f"{split} frames with ground truth" if ground_truth else f"{split} frames"
        hint = " (make them with `python -m pav synth ... --novel-views`)" if split == "novel" and ground_truth else ""
        raise ValueError(f"{collection.root}: no {what} in appearances {names}{hint}")
    with_gt = all(f.file_path is not None for _, _, f in items)
    images, masks, faces, depths = [], [], [], []
    for _, app, f in tqdm(items, desc=f"loading {split}", disable=not progress, leave=False):
        if with_gt:
            images.append(app.image(f))
            masks.append(app.mask(f))
            faces.append(app.face_mask(f))
            if f.depth_path is not None:
                depths.append(app.depth(f))
    bgs = [a.background() for a in collection.appearances]
    bg_ok = all(b is not None and b.shape == (H, W, 3) for b in bgs)

    def stack(xs):
        return torch.stack(xs) if with_gt else None

    def numbers(get, dtype=torch.float32):
        return torch.as_tensor(np.stack([get(a, f) for _, a, f in items]), dtype=dtype, device="cpu")

    batch = FrameBatch(
        images=stack(images), masks=stack(masks), face_masks=stack(faces),
        depth=torch.stack(depths) if with_gt and len(depths) == len(items) else None,
        backgrounds=torch.stack(bgs) if bg_ok else None,
        c2w=numbers(lambda a, f: f.c2w), intrinsics=numbers(lambda a, f: np.array([f.fx, f.fy, f.cx, f.cy])),
        expression=numbers(lambda a, f: f.expression), pose=numbers(lambda a, f: f.pose),
        translation=numbers(lambda a, f: f.translation),
        appearance=torch.tensor([k for k, _, _ in items], dtype=torch.int64, device="cpu"),
        frame_index=torch.tensor([f.index for _, _, f in items], dtype=torch.int64, device="cpu"), width=W, height=H,
        views=(torch.tensor([[f.view.yaw, f.view.pitch] for _, _, f in items], dtype=torch.float32, device="cpu")
               if all(f.view is not None for _, _, f in items) else None))
    return batch if torch.device(device).type == "cpu" else batch.to(device)
