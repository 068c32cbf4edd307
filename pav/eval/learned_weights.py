"""Where the learned metrics' weight files live on this machine; nothing is ever downloaded.

Backbones (torchvision's file names, as torch's hub cache stores them):
  - LPIPS: AlexNet `alexnet-owt-7be5be79.pth`
  - DISTS: VGG16 `vgg16-397923af.pth`
  - FID: pytorch-fid's Inception-v3 `pt_inception-2015-12-05-6726825d.pth`
searched first in the folder given by `--weights DIR` (or the environment variable `PAV_WEIGHTS`), then in
torch's hub cache `$TORCH_HOME/hub/checkpoints` (default `~/.cache/torch/hub/checkpoints`).
The LPIPS linear heads and the DISTS alpha/beta are package data of the torchmetrics wheel; they are read
as files (torchmetrics itself is never imported: its image metrics import torchvision).
Every file is read with `torch.load(weights_only=True)`, so a file cannot run code.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import NamedTuple

import torch

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
VGG16_FILE = "vgg16-397923af.pth"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
BACKBONES = {ALEXNET_FILE: "torchvision AlexNet", VGG16_FILE: "torchvision VGG16",
             INCEPTION_FILE: "pytorch-fid Inception-v3"}
LPIPS_HEADS = "functional/image/lpips_models/alex.pth"      # inside the torchmetrics package
DISTS_WEIGHTS = "functional/image/dists_models/weights.pt"  # inside the torchmetrics package


class Found(NamedTuple):
    """A located file (`path`), or None and the one-line `reason` naming the file and where to put it."""
    path: Path | tuple | None
    reason: str | None


def hub_checkpoints() -> Path:
    """torch's hub cache folder: `$TORCH_HOME/hub/checkpoints` (default ~/.cache/torch/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_folders(weights: str | Path | None = None) -> list[Path]:
    """The folders searched, in order: `weights` (else `$PAV_WEIGHTS` when set), then torch's hub cache."""
    explicit = weights if weights is not None else os.environ.get("PAV_WEIGHTS") or None
    if explicit is not None and not Path(explicit).expanduser().is_dir():
        source = "--weights" if weights is not None else "PAV_WEIGHTS"
        raise FileNotFoundError(f"{source}: {explicit} is not a folder (give the folder holding the weight files)")
    return ([Path(explicit).expanduser()] if explicit is not None else []) + [hub_checkpoints()]


def find_backbone(name: str, weights: str | Path | None = None) -> Found:
    """Locate a backbone file by its file name in `weight_folders(weights)`."""
    folders = weight_folders(weights)
    for folder in folders:
        if (folder / name).is_file():
            return Found(folder / name, None)
    where = (f" (searched {', '.join(str(f) for f in folders)})" if len(folders) > 1
             else " (or in a folder named by --weights DIR or PAV_WEIGHTS)")
    return Found(None, f"needs the {BACKBONES[name]} weights {name}: not found, put the file in {folders[0]}"
                       f"{where}; nothing is downloaded at run time")


def find_torchmetrics_file(relative: str) -> Found:
    """A file of the installed torchmetrics package, located without importing torchmetrics."""
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or not spec.submodule_search_locations:
        return Found(None, f"torchmetrics is not installed (its wheel ships {relative}): "
                           "pip install 'torchmetrics>=1.9,<2'")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        return Found(None, f"{path} is missing from the installed torchmetrics: reinstall 'torchmetrics>=1.9,<2'")
    return Found(path, None)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from `path` with `torch.load(weights_only=True)` (memory-mapped where the format
    allows, so the unused classifier of a backbone file is not read). Bad file → ValueError naming it."""
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (pre-zip) serialization cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's file to replace
        raise ValueError(f"cannot read weight file {path}: {exc}".splitlines()[0]) from None
    if not isinstance(state, dict):
        raise ValueError(f"weight file {path} holds a {type(state).__name__}, not a state dict")
    return state


def select(state: dict[str, torch.Tensor], prefix: str, expected: dict[str, torch.Size], path: Path) -> dict:
    """The entries `prefix + key` of `state` for every key of `expected`, shapes checked, prefix removed."""
    out = {}
    for key, shape in expected.items():
        value = state.get(prefix + key)
        if value is None or tuple(value.shape) != tuple(shape):
            got = "missing" if value is None else f"shape {tuple(value.shape)}"
            raise ValueError(f"weight file {path}: {prefix + key} is {got}, expected shape {tuple(shape)} "
                             "(is it the right file?)")
        out[key] = value
    return out
