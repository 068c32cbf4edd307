"""What the app can show, as a `Scene`: names for the controls, a render function and the mesh for the
overlay. GUI-free: built from pav's public API only.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from pav.head import HeadModel
from pav.head.preview import shade
from pav.provenance import Provenance

from .scheduler import RenderFn
from .state import RenderRequest
from .timeline import ExportFn, Keyframe


@dataclass
class Scene:
    title: str
    expression_names: list[str]
    joint_names: list[str]
    appearance_names: list[str]
    faces: np.ndarray
    """(F, 3) triangles of the overlay mesh."""
    render: RenderFn
    """(request, cancelled) → uint8 (H, W, 3) or None when cancelled."""
    mesh: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(expression (E,), pose (J, 3)) → deformed vertices (V, 3) for the overlay."""
    target: np.ndarray
    """(3,) point the orbit camera looks at (head centre)."""
    radius: float
    """default orbit distance, metres."""
    export: ExportFn | None = None
    """renders keyframes to an mp4 (None: this scene cannot export)."""
    sequence: list[Keyframe] | None = None
    """a tracked video to play back (from a collection), or None."""
    samples_per_ray: int | None = None
    """samples per ray of a final-quality render (None: not a volume renderer)."""
    view_range: dict | None = None
    """yaw/pitch range of the training cameras relative to the head (pav.view_range); None: unknown."""
    checkpoint_sha256: str = ""
    """the avatar file's SHA-256, named in the provenance of screenshots (pav.provenance)."""

    def provenance(self, appearance) -> Provenance:
        """What a screenshot of this scene records: the avatar file and the appearance's name (an index;
        '' for a blend or an index out of range)."""
        ok = isinstance(appearance, int) and 0 <= appearance < len(self.appearance_names)
        return Provenance(self.checkpoint_sha256, self.appearance_names[appearance] if ok else "")


def head_model_scene(model: HeadModel) -> Scene:
    """The bare head model, shaded (no avatar): used when no checkpoint is opened."""

    def mesh(expression, pose) -> np.ndarray:
        with torch.no_grad():
            out = model(expression=torch.as_tensor(expression, dtype=torch.float32, device=model.device)[None],
                        pose=torch.as_tensor(pose, dtype=torch.float32, device=model.device)[None])
        return out.vertices[0].cpu().numpy()

    def render(request: RenderRequest, cancelled) -> np.ndarray:
        vertices = torch.from_numpy(mesh(request.expression, request.pose))
        return shade(vertices, model.faces.cpu(), request.camera, mode=request.mode)

    lo, hi = model.v_template.min(0).values.cpu().numpy(), model.v_template.max(0).values.cpu().numpy()
    return Scene(f"head model: {model.name}", model.expression_names, model.joint_names, ["(head model)"],
                 model.faces.cpu().numpy(), render, mesh, (lo + hi) / 2, framing_radius(hi - lo))


GIL_HOLDING_NEAREST = ("fcpw", "pcu")
"""Nearest-triangle backends whose query holds the GIL for a whole render call (warp's and torch's release it)."""


def render_chunk(device) -> int | None:
    """Rays per render call in the viewer: None (the renderer's own, a fixed number of samples per call) where
    the nearest-triangle queries release the GIL: the UI's longest wait for the GIL stayed 5-8 ms at 8192
    rays, and previews ran ~25 % faster than at 2048 (session 6). 2048 with fcpw or pcu, which hold the
    GIL through a chunk's queries: at 8192 rays the UI thread waited up to ~480 ms on a loaded 2-core
    machine, at 2048 ~170 ms."""
    from pav.backends import nearest_backend

    return 2048 if nearest_backend(device).name in GIL_HOLDING_NEAREST else None


def avatar_scene(avatar, background=(1.0, 1.0, 1.0), lock=None, chunk: int | None = None) -> Scene:
    """A trained avatar, rendered volumetrically; the overlay shows its tracked head mesh. `lock` (shared
    with a background trainer) keeps renders and optimiser steps apart. `chunk`: rays per render call
    (default `render_chunk`: smaller where a chunk's queries hold the GIL)."""
    lock = lock or contextlib.nullcontext()
    chunk = chunk or render_chunk(getattr(avatar, "device", "cpu"))

    def mesh(expression, pose) -> np.ndarray:
        with torch.no_grad():
            return avatar.deform(torch.as_tensor(expression, dtype=torch.float32, device=avatar.device)[None],
                                 torch.as_tensor(pose, dtype=torch.float32, device=avatar.device)[None])[0].cpu().numpy()

    def render(request: RenderRequest, cancelled) -> np.ndarray | None:
        with lock:
            out = avatar.render(request.camera, torch.as_tensor(request.expression), torch.as_tensor(request.pose),
                                torch.as_tensor(request.appearance), background=background, cancelled=cancelled,
                                samples_per_ray=request.samples_per_ray, chunk=chunk)
        if out is None:
            return None
        if request.mode == "alpha":
            image = out.alpha[..., None].expand(-1, -1, 3)
        elif request.mode == "depth":
            hit = out.alpha > 0.5
            z = out.depth[hit]
            lo, hi = (float(z.min()), float(z.max())) if len(z) else (0.0, 1.0)
            image = torch.where(hit, 1.0 - 0.8 * (out.depth - lo) / max(hi - lo, 1e-6), 0.0)[..., None].expand(-1, -1, 3)
        else:
            image = out.rgb
        return (image.clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)

    def export(keyframes, path, fps, size, orbit_degrees, progress) -> int:
        """Renders from its own copy of the avatar (taken under the lock, in milliseconds), so the view
        stays live and training goes on while the clip renders."""
        from pav.export import ClipFrame, export_clip, with_orbit

        with lock:
            own = copy.deepcopy(avatar)
        frames = [ClipFrame(k.orbit.camera(size, size), torch.as_tensor(k.expression), torch.as_tensor(k.pose), None,
                            torch.as_tensor(k.appearance)) for k in keyframes]
        if orbit_degrees:
            frames = with_orbit(own, frames, orbit_degrees, size)
        return export_clip(own, frames, path, fps=round(fps), background=background, progress=progress)

    v = avatar.canonical_vertices.cpu().numpy()
    lo, hi = v.min(0), v.max(0)
    return Scene(f"avatar ({len(avatar.appearance_names)} appearances)", avatar.head.expression_names,
                 avatar.head.joint_names, avatar.appearance_names, avatar.head.faces.cpu().numpy(), render, mesh,
                 (lo + hi) / 2, framing_radius(hi - lo), export=export,
                 samples_per_ray=getattr(getattr(avatar, "config", None), "samples_per_ray", None),
                 view_range=(getattr(avatar, "info", None) or {}).get("view_range"),
                 checkpoint_sha256=getattr(avatar, "checkpoint_sha256", ""))


def collection_sequence(collection, appearance: str) -> list[Keyframe]:
    """The tracked expression and pose of every frame of one collection video (by appearance name or
    folder name), in time order."""
    folders = {a.folder.name: a.name for a in collection.appearances}
    app = collection.appearance(folders.get(appearance, appearance))
    return [Keyframe(np.asarray(f.expression, np.float32), np.asarray(f.pose, np.float32))
            for f in sorted(app.frames, key=lambda f: f.index) if f.view is None]  # not the novel views


def framing_radius(extent: np.ndarray, fov_deg: float = 20.0, margin: float = 1.3) -> float:
    """Orbit distance at which a box of `extent` (3,) metres fills the view with some margin."""
    return float(margin * 0.5 * extent.max() / np.tan(np.radians(fov_deg) / 2))
