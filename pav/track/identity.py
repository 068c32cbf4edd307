"""The identity of an existing avatar, to track a new (driving) video with it fixed (`track --identity`).

An identity is the head model's shape coefficients shared by all of a subject's videos. It is read from an
avatar checkpoint (its `shape` tensor) or from a collection folder (its manifest), together with the head
model it belongs to (spec and checksum), so a driving collection is tracked on the same model and shape.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np


class Identity(NamedTuple):
    shape: np.ndarray
    """(S',) identity coefficients (S' ≤ the head model's n_shape; the rest are zero)"""
    head_spec: str
    head_checksum: str
    source: str
    """'checkpoint' | 'collection'"""


def read_identity(path: str | Path) -> Identity:
    """A checkpoint file or a collection folder → its Identity; a one-line error for anything else."""
    path = Path(path)
    if path.is_dir():
        from ..data.reader import read_manifest

        try:
            manifest = read_manifest(path)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"--identity {path}: a folder, but not a PAV collection ({exc})") from None
        return Identity(np.asarray(manifest.shape, dtype=np.float64), manifest.head_model.spec,
                        manifest.head_model.checksum, "collection")
    if not path.exists():
        raise FileNotFoundError(f"--identity {path}: no such checkpoint or collection folder")
    from safetensors import safe_open

    from ..checkpoint import read_metadata

    try:
        meta = read_metadata(path)
    except (FileNotFoundError, ValueError):
        raise ValueError(f"--identity {path}: neither an avatar checkpoint (.pav) nor a collection folder") from None
    with safe_open(str(path), framework="pt") as f:
        if "shape" not in f.keys():
            raise ValueError(f"--identity {path}: the checkpoint stores no identity shape")
        shape = f.get_tensor("shape").double().reshape(-1).numpy()
    return Identity(shape, meta["head_model"]["spec"], meta["head_model"]["checksum"], "checkpoint")


def full_shape(identity: Identity, n_shape: int) -> np.ndarray:
    """(n_shape,) the identity padded with zeros; refuses more coefficients than the model has."""
    if len(identity.shape) > n_shape:
        raise ValueError(f"the identity has {len(identity.shape)} shape coefficients; the head model only {n_shape}")
    out = np.zeros(n_shape)
    out[:len(identity.shape)] = identity.shape
    if not np.isfinite(out).all():
        raise ValueError("the identity's shape coefficients are not finite")
    return out
