"""Avatar checkpoints: one safetensors file that describes itself. Opening one never runs code from it.

Layout: the tensors are the avatar's weights and buffers (the head model's arrays excluded: it is named by
spec and checksum instead, since an official FLAME file may not be redistributed); the safetensors
metadata (strings) holds
    format = "pav-avatar", format_version = "1",
    model_config (JSON of ModelConfig), appearances (JSON list), head_model (JSON: spec, name, checksum),
    info (JSON: free-form training facts such as steps, seconds, collection).
Resumable training state (optimiser, step, RNG) goes to a sibling file `<ckpt>.train.pt`, read with
torch.load(weights_only=True). Both are written atomically (temp file + rename).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import model_config_from_dict, to_dict
from .head import HeadModel, load_head_model
from .io import atomic_path
from .nerf.avatar import Avatar
from .provenance import file_sha256

FORMAT = "pav-avatar"
FORMAT_VERSION = 1


def _weights(avatar: Avatar) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in avatar.state_dict().items() if not k.startswith("head.")}


def save_avatar(avatar: Avatar, path: str | Path, head_spec: str = "default", info: dict | None = None) -> None:
    from safetensors.torch import save_file

    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                "model_config": json.dumps(to_dict(avatar.config)),
                "appearances": json.dumps(avatar.appearance_names),
                "head_model": json.dumps({"spec": str(head_spec), "name": avatar.head.name,
                                          "checksum": avatar.head.checksum()}),
                "info": json.dumps(info or {})}
    with atomic_path(path) as tmp:
        save_file(_weights(avatar), str(tmp), metadata=metadata)


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's metadata (decoded JSON fields); a clear error for missing, foreign or corrupt files."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(f"{path} is not a readable PAV checkpoint (truncated or another format: {exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a PAV avatar checkpoint (format {meta.get('format')!r})")
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        raise ValueError(f"{path}: checkpoint metadata is damaged (format_version "
                         f"{meta.get('format_version')!r} is not a whole number)") from None
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {version}; this PAV reads ≤ {FORMAT_VERSION}: update PAV")
    try:
        return {k: json.loads(meta[k]) for k in ("model_config", "appearances", "head_model", "info")} | \
            {"format_version": version}
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: checkpoint metadata is damaged ({exc})") from None


def load_avatar(path: str | Path, head_model: HeadModel | str | None = None) -> Avatar:
    """Open a checkpoint. `head_model`: the HeadModel or spec to use (default: the spec stored in the
    checkpoint); its checksum must match the one the avatar was trained with."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    ref = meta["head_model"]
    if not isinstance(head_model, HeadModel):
        spec = head_model or ref["spec"]
        try:
            head_model = load_head_model(spec)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} was trained with head model '{ref['name']}' ({ref['spec']}); "
                                    "pass its file with --head-model") from None
    if head_model.checksum() != ref["checksum"]:
        raise ValueError(f"{path} was trained with head model '{ref['name']}' (checksum {ref['checksum'][:12]}…), "
                         f"not '{head_model.name}' ({head_model.checksum()[:12]}…): pass the right --head-model")
    config = model_config_from_dict(meta["model_config"])
    weights = load_file(str(path))
    avatar = Avatar(config, head_model, weights["shape"], meta["appearances"])
    missing, unexpected = avatar.load_state_dict(weights, strict=False)
    # buffers added after a checkpoint was written keep their constructor defaults
    optional = {"vertex_extent"}
    missing = [k for k in missing if not k.startswith("head.") and k not in optional]
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the stored config (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    avatar.info = meta["info"]
    avatar.checkpoint_sha256 = file_sha256(path)  # named by every file rendered from it (pav.provenance)
    avatar.eval()
    return avatar


def train_state_path(path: str | Path) -> Path:
    return Path(str(path) + ".train.pt")


def save_train_state(path: str | Path, state: dict) -> None:
    with atomic_path(train_state_path(path)) as tmp:
        torch.save(state, tmp)


def load_train_state(path: str | Path) -> dict | None:
    p = train_state_path(path)
    if not p.exists():
        return None
    try:
        return torch.load(p, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{p}: training state is unreadable ({exc}); delete it to restart from the weights") from None
