"""Evaluation on the novel views (`eval --split novel`): the test frames seen from rotated cameras.

`evaluate_novel` runs `evaluate` once per (yaw, pitch) view on the collection restricted to that view's
frames, so every metric `evaluate` aggregates (PSNR, SSIM, learned ones when available) comes per angle and
per appearance. Result (JSON-ready): split "novel", frames, psnr, ssim, … (frame-weighted means over every
view = the means over every novel frame), unavailable, per_view [{yaw, pitch, frames, psnr, ssim, …,
per_appearance}], per_appearance {name: {psnr, ssim, frames}} over every view, seconds_per_frame.

`contact_sheet` makes the picture: one row per view, per appearance three columns rendered | ground truth |
error (`evaluate.error_map`), for the appearance's first test frame that has views.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..data import Collection
from ..nerf.avatar import Avatar
from .evaluate import error_map, evaluate

PER_FRAME_MEANS = ("psnr", "ssim", "lpips", "dists")
"""Metrics that are means of per-frame values, so a frame-weighted mean over views is their overall mean."""


def novel_views(collection: Collection, appearances: list[str] | None = None) -> list[tuple[float, float]]:
    """The (yaw, pitch) views present in the novel split, in order of first appearance."""
    names = appearances or collection.appearance_names
    out: list[tuple[float, float]] = []
    for app in collection.appearances:
        for f in app.frames:
            if app.name in names and f.split == "novel" and f.view is not None:
                if (f.view.yaw, f.view.pitch) not in out:
                    out.append((f.view.yaw, f.view.pitch))
    return out


def only_view(collection: Collection, yaw: float, pitch: float) -> Collection:
    """A copy of `collection` whose appearances keep only the novel frames of the view (yaw, pitch)."""
    def keep(f):
        return f.split == "novel" and f.view is not None and (f.view.yaw, f.view.pitch) == (yaw, pitch)

    return dataclasses.replace(collection, appearances=[dataclasses.replace(a, frames=[f for f in a.frames if keep(f)])
                                                        for a in collection.appearances])


def _weighted(rows: list[dict], key: str) -> float | None:
    values = [r.get(key) for r in rows]
    if not rows or any(v is None for v in values):
        return None
    return float(sum(v * r["frames"] for v, r in zip(values, rows)) / sum(r["frames"] for r in rows))


def evaluate_novel(avatar: Avatar, collection: Collection, appearances: list[str] | None = None,
                   side_by_side: Path | None = None, max_frames: int | None = None, progress: bool = True) -> dict:
    """Metrics per view and per appearance on the novel frames with ground truth (see the module doc).
    `max_frames` applies per view."""
    names = appearances or [n for n in collection.appearance_names if n in avatar.appearance_names]
    views = novel_views(collection, names)
    if not views:
        raise ValueError(f"{collection.root}: no novel frames with ground truth (a view record) in appearances "
                         f"{names}; make them with `python -m pav synth ... --novel-views 0,15,30,45,60`")
    per_view = []
    for yaw, pitch in views:
        r = evaluate(avatar, only_view(collection, yaw, pitch), "novel", names, side_by_side, max_frames, progress)
        per_view.append({"yaw": yaw, "pitch": pitch, "frames": r["frames"]}
                        | {k: r[k] for k in PER_FRAME_MEANS if k in r}
                        | {"per_appearance": r["per_appearance"], "seconds_per_frame": r["seconds_per_frame"]})
    last = r
    result = {"split": "novel", "frames": sum(v["frames"] for v in per_view)}
    result |= {k: _weighted(per_view, k) for k in PER_FRAME_MEANS if k in last}
    result |= {k: None for k in last if k not in result and k not in ("per_appearance", "seconds_per_frame")}
    result["unavailable"] = last.get("unavailable", {})
    result["per_view"] = per_view
    apps = {}
    for name in names:
        rows = [v["per_appearance"][name] for v in per_view if name in v["per_appearance"]]
        if rows:
            apps[name] = {k: _weighted(rows, k) for k in rows[0] if k != "frames"} | \
                         {"frames": sum(r["frames"] for r in rows)}
    result["per_appearance"] = apps
    result["seconds_per_frame"] = round(_weighted(per_view, "seconds_per_frame"), 3)
    return result


def contact_sheet(avatar: Avatar, collection: Collection, appearances: list[str] | None = None) -> np.ndarray:
    """(V·H, A·3·W, 3) float32 in [0, 1]: row block v = view v of `novel_views`, column block a = appearance
    a's [rendered | ground truth | error] of its first test frame with views (black where a view is missing)."""
    names = appearances or [n for n in collection.appearance_names if n in avatar.appearance_names]
    views = novel_views(collection, names)
    if not views:
        raise ValueError(f"{collection.root}: no novel frames with ground truth for a contact sheet")
    blocks = []
    for name in names:
        app = collection.appearance(name)
        frames = [f for f in app.frames if f.split == "novel" and f.view is not None]
        if not frames:
            continue
        first = min(f.view.test_frame for f in frames)
        by_view = {(f.view.yaw, f.view.pitch): f for f in frames if f.view.test_frame == first}
        background = app.background()
        rows = []
        for view in views:
            f = by_view.get(view)
            if f is None:
                rows.append(torch.zeros(app.height, 3 * app.width, 3, device="cpu"))  # the sheet is built on the host
                continue
            with torch.no_grad():
                pred = avatar.render(app.camera(f), torch.as_tensor(f.expression, dtype=torch.float32),
                                     torch.as_tensor(f.pose, dtype=torch.float32), avatar.appearance_names.index(name),
                                     translation=torch.as_tensor(f.translation, dtype=torch.float32),
                                     background=background if background is not None else (1.0, 1.0, 1.0)).rgb
            pred, gt = pred.clamp(0, 1).cpu(), app.image(f)
            rows.append(torch.cat([pred, gt, error_map(pred, gt)], dim=1))
        blocks.append(torch.cat(rows, dim=0))
    return torch.cat(blocks, dim=1).numpy()


def novel_table(result: dict) -> list[str]:
    """Markdown rows of an `evaluate_novel` result: one row per view, PSNR / SSIM / LPIPS overall, then the
    PSNR of each appearance."""
    def fmt(x, digits=2):
        return "n/a" if x is None else f"{x:.{digits}f}"

    names = list(result["per_appearance"])
    header = "| yaw | pitch | frames | PSNR ↑ | SSIM ↑ | LPIPS ↓ | " + " | ".join(f"PSNR {n}" for n in names)
    lines = [header + " |",
             "|---|---|---|---|---|---|" + "---|" * len(names)]
    for v in result["per_view"]:
        apps = [fmt(v["per_appearance"][n]["psnr"]) if n in v["per_appearance"] else "n/a" for n in names]
        lines.append(f"| {v['yaw']:g}° | {v['pitch']:g}° | {v['frames']} | {fmt(v['psnr'])} | {fmt(v['ssim'], 4)} | "
                     f"{fmt(v.get('lpips'), 3)} | " + " | ".join(apps) + " |")
    return lines
