"""Avatar checkpoints: one safetensors file that describes itself. Opening one never runs code from it.

Layout: the tensors are the avatar's weights and buffers (the head model's arrays excluded: it is named by
spec and checksum instead, since an official FLAME file may not be redistributed); the safetensors
metadata (strings) holds
    format = "pav-avatar", format_version = "1",
    model_config (JSON of ModelConfig), appearances (JSON list), head_model (JSON: spec, name, checksum),
    info (JSON: free-form training facts such as steps, seconds, collection).
Resumable training state (optimiser, step, RNG) goes to a sibling file `<ckpt>.train.pt`, read with
torch.load(weights_only=True); it names the step, size and sha256 of the weights file it belongs to.
`save_checkpoint` writes the pair with `pav.io.commit_files` (both temps written and fsynced, then renamed
weights first); `check_pair` tells a resume whether the two still belong together. Loading checks every
tensor's shape against the stored config and refuses NaN or Inf values, naming the file and the tensor.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from .backends import resolve_device
from .config import model_config_from_dict, to_dict
from .head import HeadModel, load_head_model
from .io import atomic_path, commit_files
from .nerf.avatar import Avatar
from .provenance import file_sha256

FORMAT = "pav-avatar"
FORMAT_VERSION = 1


def _weights(avatar: Avatar) -> dict[str, torch.Tensor]:
    """Host copies of the weights and buffers: a checkpoint does not depend on the device it came from."""
    return {k: v.detach().cpu().contiguous() for k, v in avatar.state_dict().items() if not k.startswith("head.")}


def _metadata(avatar: Avatar, head_spec: str, info: dict | None) -> dict[str, str]:
    return {"format": FORMAT, "format_version": str(FORMAT_VERSION),
            "model_config": json.dumps(to_dict(avatar.config)),
            "appearances": json.dumps(avatar.appearance_names),
            "head_model": json.dumps({"spec": str(head_spec), "name": avatar.head.name,
                                      "checksum": avatar.head.checksum()}),
            "info": json.dumps(info or {})}


def save_avatar(avatar: Avatar, path: str | Path, head_spec: str = "default", info: dict | None = None) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(_weights(avatar), str(tmp), metadata=_metadata(avatar, head_spec, info))


def non_finite(tensors: dict[str, torch.Tensor]) -> tuple[str, int] | None:
    """(name, count) of the first floating tensor holding NaN or Inf values, or None."""
    for name, t in tensors.items():
        if t.is_floating_point():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                return name, bad
    return None


def save_checkpoint(avatar: Avatar, path: str | Path, state: dict, head_spec: str = "default",
                    info: dict | None = None) -> None:
    """Write the avatar to `path` and the training `state` to `<path>.train.pt` as one consistent pair
    (`pav.io.commit_files`): a crash or a full disk (NoSpaceError) leaves the previous pair as it was.
    Weights holding NaN or Inf (diverged training) are refused before anything is written."""
    from safetensors.torch import save

    weights = _weights(avatar)
    bad = non_finite(weights)
    if bad:
        raise ValueError(f"training diverged at step {state.get('step')}: tensor '{bad[0]}' holds {bad[1]} NaN/Inf "
                         f"values; {path} was not overwritten")
    data = save(weights, metadata=_metadata(avatar, head_spec, info))
    state = dict(state, weights={"step": state.get("step"), "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    commit_files([(Path(path), data), (train_state_path(path), buffer.getvalue())])


def check_pair(path: str | Path, state: dict, weights_steps: int | None) -> str | None:
    """None if the training state belongs to the weights file at `path`, else why not (one phrase).
    `weights_steps`: the step count stored in the weights' info (for states written before the checksum)."""
    ref = state.get("weights")
    if ref is None:  # older state: only the step counts can be compared
        if weights_steps == state.get("step"):
            return None
        return f"it is from step {state.get('step')} but {path} holds step {weights_steps}"
    data = Path(path).read_bytes()
    if len(data) == ref.get("bytes") and hashlib.sha256(data).hexdigest() == ref.get("sha256"):
        return None
    return (f"it belongs to the weights of step {ref.get('step')} but {path} holds other weights "
            f"(step {weights_steps})")


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


def load_avatar(path: str | Path, head_model: HeadModel | str | None = None, device: str | torch.device = "cpu") -> Avatar:
    """Open a checkpoint onto `device` (a torch.device or a `--device` value: 'cpu', 'cuda:1', 'auto').
    `head_model`: the HeadModel or spec to use (default: the spec stored in the checkpoint); its checksum
    must match the one the avatar was trained with. The weights are read to the CPU, then moved."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    ref = meta["head_model"]
    if not isinstance(head_model, HeadModel):
        spec = head_model or ref["spec"]
        try:
            head_model = load_head_model(spec, device="cpu")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} was trained with head model '{ref['name']}' ({ref['spec']}); "
                                    "pass its file with --head-model") from None
    if head_model.checksum() != ref["checksum"]:
        raise ValueError(f"{path} was trained with head model '{ref['name']}' (checksum {ref['checksum'][:12]}…), "
                         f"not '{head_model.name}' ({head_model.checksum()[:12]}…): pass the right --head-model")
    config = model_config_from_dict(meta["model_config"])
    weights = load_file(str(path), device="cpu")
    if "shape" not in weights:
        raise ValueError(f"{path}: tensor 'shape' is missing: the file is damaged")
    avatar = Avatar(config, head_model, weights["shape"], meta["appearances"])
    expected = avatar.state_dict()
    for name, t in weights.items():
        if name in expected and t.shape != expected[name].shape:
            raise ValueError(f"{path}: tensor '{name}' has shape {tuple(t.shape)} but its config needs "
                             f"{tuple(expected[name].shape)}: the file is damaged or was edited")
    bad = non_finite(weights)
    if bad:
        raise ValueError(f"{path}: tensor '{bad[0]}' holds {bad[1]} NaN/Inf values: the checkpoint is damaged "
                         "(or its training diverged)")
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
    return avatar.to(resolve_device(device))


def train_state_path(path: str | Path) -> Path:
    return Path(str(path) + ".train.pt")


def save_train_state(path: str | Path, state: dict) -> None:
    with atomic_path(train_state_path(path)) as tmp:
        torch.save(state, tmp)


class UnreadableState(ValueError):
    """The training state file exists but cannot be read safely."""


def load_train_state(path: str | Path) -> dict | None:
    """The training state beside checkpoint `path`, or None if there is none. Never unpickles code: a file
    holding anything but tensors and plain containers is refused (UnreadableState, one line)."""
    import pickle

    p = train_state_path(path)
    if not p.exists():
        return None
    try:
        state = torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise UnreadableState(f"{p} holds objects other than tensors, which PAV never loads: it is not a PAV "
                              "training state") from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise UnreadableState(f"{p} is truncated or corrupt ({reason})") from None
    if not isinstance(state, dict) or "step" not in state or "optimizer" not in state:
        raise UnreadableState(f"{p} is not a PAV training state (no step or optimiser)")
    return state
