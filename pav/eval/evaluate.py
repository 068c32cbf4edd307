"""Evaluate an avatar on a collection split: metrics overall and per appearance, optional side-by-sides.

Result (JSON-ready): psnr, ssim, lpips, dists (means of the per-frame values), fid (renders vs ground truth
over all evaluated frames), null where unavailable, unavailable {metric: reason}, frames,
per_appearance {name: {psnr, ssim, lpips, dists, frames}}, seconds_per_frame.
Each test frame is rendered with its tracked parameters over its appearance's background. The learned
metrics use the weight files found by pav.eval.learned_weights (`weights` folder, $PAV_WEIGHTS, torch's
hub cache); `learned=False` skips them (the trainer's quick PSNR probes).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data import Collection, load_split
from ..io import write_png
from ..nerf.avatar import Avatar
from .learned import METRICS, frechet_distance, load_learned_metrics
from .metrics import psnr, ssim


def error_map(prediction: torch.Tensor, target: torch.Tensor, scale: float = 4.0) -> torch.Tensor:
    """(H, W, 3) heat map of the per-pixel L1 error ×`scale` (black = exact, yellow/white = large)."""
    e = ((prediction - target).abs().mean(-1) * scale).clamp(0, 1)
    return torch.stack([(3 * e).clamp(0, 1), (3 * e - 1).clamp(0, 1), (3 * e - 2).clamp(0, 1)], -1)


def evaluate(avatar: Avatar, collection: Collection, split: str = "test", appearances: list[str] | None = None,
             side_by_side: Path | None = None, max_frames: int | None = None, progress: bool = True,
             weights: Path | None = None, learned: bool = True) -> dict:
    names = appearances or [n for n in collection.appearance_names if n in avatar.appearance_names]
    data = load_split(collection, split, appearances=names, device=avatar.device)
    if data.images is None:
        raise ValueError(f"split '{split}' has no ground truth to evaluate against")
    order = list(range(len(data.expression)))
    if max_frames is not None and max_frames < len(order):  # evenly spread over the split
        order = [order[round(k * (len(order) - 1) / max(max_frames - 1, 1))] for k in range(max_frames)]
    nets = load_learned_metrics(weights) if learned else None
    per_app: dict[str, dict[str, list]] = {}
    inception: dict[str, list] = {"render": [], "truth": []}
    start = time.perf_counter()
    for i in tqdm(order, desc=f"evaluating {split}", disable=not progress):
        app = collection.appearance_names[int(data.appearance[i])]
        background = data.backgrounds[data.appearance[i]] if data.backgrounds is not None else (1.0, 1.0, 1.0)
        out = avatar.render(data.camera(i), data.expression[i], data.pose[i], avatar.appearance_names.index(app),
                            translation=data.translation[i], background=background)
        pred, gt = out.rgb.clamp(0, 1), data.images[i]
        scores = per_app.setdefault(app, {"psnr": [], "ssim": [], "lpips": [], "dists": []})
        scores["psnr"].append(psnr(pred, gt))
        scores["ssim"].append(ssim(pred, gt))
        if nets is not None and nets.alexnet is not None:
            scores["lpips"].append(nets.lpips(pred, gt))
        if nets is not None and nets.vgg is not None:
            scores["dists"].append(nets.dists(pred, gt))
        if nets is not None and nets.inception is not None:
            inception["render"].append(nets.inception_features(pred))
            inception["truth"].append(nets.inception_features(gt))
        if side_by_side is not None:
            row = torch.cat([pred, gt, error_map(pred, gt)], dim=1)
            write_png(Path(side_by_side) / f"{app}_{int(data.frame_index[i]):05d}.png", row.cpu().numpy())
    seconds = (time.perf_counter() - start) / max(len(order), 1)
    reasons = dict(nets.reasons) if nets is not None else {m: "not computed (learned=False)" for m in METRICS}
    if reasons["fid"] is None and len(order) < 2:
        reasons["fid"] = f"needs at least 2 frames to fit a Gaussian, {len(order)} evaluated"
    mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
    every = lambda key: [s for v in per_app.values() for s in v[key]]  # noqa: E731
    result = {"split": split, "frames": len(order), "psnr": mean(every("psnr")), "ssim": mean(every("ssim")),
              "lpips": mean(every("lpips")), "dists": mean(every("dists")),
              "fid": None if reasons["fid"] else frechet_distance(np.stack(inception["render"]),
                                                                  np.stack(inception["truth"]))}
    result["unavailable"] = {m: r for m, r in reasons.items() if r}
    result["per_appearance"] = {a: {"psnr": mean(v["psnr"]), "ssim": mean(v["ssim"]), "lpips": mean(v["lpips"]),
                                    "dists": mean(v["dists"]), "frames": len(v["psnr"])} for a, v in per_app.items()}
    result["seconds_per_frame"] = round(seconds, 3)
    return result
