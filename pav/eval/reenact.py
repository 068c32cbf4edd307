"""`python -m pav reenact-eval VIDEO --out DIR [--train-fraction 0.7] [--minutes 15]`: self-reenactment on
real footage, as a command anyone can rerun.

1. Split the video in time: the first `--train-fraction` of its frames train, the rest drives.
2. Track both parts with ONE shared identity (`pav track`, two inputs: DIR/frames/train, DIR/frames/heldout).
3. Train an avatar on the first part only (`pav train --appearance train`).
4. Render every held-out frame from its own tracked parameters and camera, in the trained appearance.
5. Score against the real frames: PSNR and SSIM inside the head mask (the tracked person mask; SSIM over the
   mask's bounding box) and over the whole crop; LPIPS too when its weights are on the machine.
6. Write DIR/results.json, DIR/side_by_side.mp4 ([real | avatar], marked as synthetic) and DIR/contact_sheet.png.
Each stage's output is reused on a rerun (delete it to redo that stage).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..c2pa_manifest import add_signing_arguments, load_signing
from ..cliargs import float_range, head_model_spec, int_range, output_dir, positive_float
from ..io import atomic_path, write_json, write_png
from .metrics import psnr, ssim

CONTACT_ROWS = 6


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="one real video (or a folder of frames) of one person")
    p.add_argument("--out", type=output_dir, required=True, help="folder for frames, collection, avatar and results")
    p.add_argument("--train-fraction", type=float_range(0.1, 0.9), default=0.7,
                   help="first part of the video used to train (default 0.7)")
    p.add_argument("--minutes", type=positive_float, default=15.0, help="training budget (default 15)")
    p.add_argument("--size", type=int_range(32, 1024), default=256, help="crop size in pixels (default 256)")
    p.add_argument("--max-frames", type=int_range(6, 10000), default=150,
                   help="frames taken from the video, evenly (default 150)")
    p.add_argument("--head-model", type=head_model_spec, default="default",
                   help="head model for tracking and training")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a training config field, passed to `pav train --set` (repeatable), e.g. "
                        "train.random_background=true")
    add_signing_arguments(p)


def split_frames(video: Path, out: Path, fraction: float, max_frames: int) -> tuple[int, int]:
    """Write the first `fraction` of the (evenly subsampled) frames to out/train, the rest to out/heldout."""
    from ..track.video import read_video

    clip = read_video(video, max_frames)
    n_train = int(round(fraction * len(clip.frames)))
    if n_train < 4 or len(clip.frames) - n_train < 2:
        raise ValueError(f"{video}: {len(clip.frames)} frames are too few to split at {fraction} "
                         "(need ≥ 4 to train and ≥ 2 held out)")
    for part, frames in (("train", clip.frames[:n_train]), ("heldout", clip.frames[n_train:])):
        for k, frame in enumerate(frames):
            write_png(out / part / f"{k:05d}.png", frame)
    return n_train, len(clip.frames) - n_train


def score(avatar, collection, name: str, appearance: str, side_by_side: Path, sheet: Path, provenance) -> dict:
    """Render every frame of `name` in `appearance`; masked and whole-crop metrics (LPIPS and DISTS over the
    crop when their weights are found, else the reason under "unavailable"); clip and contact sheet."""
    import imageio_ffmpeg

    from ..data import load_split
    from ..provenance import ffmpeg_metadata, mark_frame
    from .learned import load_learned_metrics

    data = load_split(collection, "train", appearances=[name])
    nets = load_learned_metrics()
    rows, scores = [], {k: [] for k in ("psnr_masked", "ssim_masked", "psnr", "ssim")}
    pick = set(np.linspace(0, len(data.expression) - 1, CONTACT_ROWS).round().astype(int).tolist())
    H, W = data.images.shape[1:3]
    with atomic_path(side_by_side) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (2 * W + (2 * W) % 2, H + H % 2), fps=25, codec="libx264",
                                             pix_fmt_out="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
                                             output_params=["-f", "mp4", *ffmpeg_metadata(provenance)])
        writer.send(None)
        for i in tqdm(range(len(data.expression)), desc="rendering held-out frames"):
            with torch.no_grad():
                pred = avatar.render(data.camera(i), data.expression[i], data.pose[i], appearance,
                                     translation=data.translation[i]).rgb.clamp(0, 1)
            gt, mask = data.images[i], data.masks[i] > 0.5
            scores["psnr"].append(psnr(pred, gt))
            scores["ssim"].append(ssim(pred, gt))
            scores["psnr_masked"].append(float(-10 * torch.log10(((pred - gt)[mask] ** 2).mean().clamp_min(1e-10))))
            ys, xs = torch.nonzero(mask, as_tuple=True)
            box = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
            scores["ssim_masked"].append(ssim(pred[box], gt[box]))
            if nets.alexnet is not None:
                scores.setdefault("lpips", []).append(nets.lpips(pred, gt))
            if nets.vgg is not None:
                scores.setdefault("dists", []).append(nets.dists(pred, gt))
            pair = (torch.cat([gt, pred], 1).numpy() * 255 + 0.5).astype(np.uint8)
            pair = np.pad(pair, ((0, H % 2), (0, (2 * W) % 2), (0, 0)), mode="edge")
            writer.send(np.ascontiguousarray(mark_frame(pair, provenance)))
            if i in pick:
                error = ((pred - gt).abs().mean(-1, keepdim=True) * 4).clamp(0, 1).expand(-1, -1, 3)
                rows.append(torch.cat([gt, pred, error], 1))
        writer.close()
        provenance.sign(tmp)
    write_png(sheet, torch.cat(rows, 0).numpy(), provenance=provenance)
    unavailable = {m: reason for m, reason in nets.reasons.items() if reason and m in ("lpips", "dists")}
    return {k: round(float(np.mean(v)), 3) for k, v in scores.items()} | {"frames": len(data.expression)} | \
        ({"unavailable": unavailable} if unavailable else {})


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_avatar
    from ..cli import main as cli
    from ..data import read_collection
    from ..provenance import for_avatar

    if not args.video.exists():
        raise FileNotFoundError(f"video not found: {args.video}")
    signing = load_signing(args.c2pa_cert, args.c2pa_key)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    frames, data, ckpt = out / "frames", out / "data", out / "avatar.pav"
    if not (frames / "heldout").is_dir():
        n_train, n_held = split_frames(args.video, frames, args.train_fraction, args.max_frames)
        print(f"split {args.video}: {n_train} frames to train, {n_held} held out")
    steps = (
        (data, ["track", str(frames / "train"), str(frames / "heldout"), "--out", str(data), "--size",
                str(args.size), "--test-fraction", "0", "--max-frames", str(args.max_frames), "--head-model",
                args.head_model]),
        (ckpt, ["train", str(data), "--out", str(ckpt), "--appearance", "train", "--minutes", str(args.minutes),
                "--head-model", args.head_model, *[a for item in args.set for a in ("--set", item)]]))
    for target, argv in steps:
        if target.exists():
            print(f"reusing {target} (delete it to redo this stage)")
            continue
        code = cli(argv)
        if code:
            return code
    collection = read_collection(data)
    avatar = load_avatar(ckpt, args.head_model)
    provenance = for_avatar(avatar, "train", extra={"driving": "held-out part of " + args.video.name},
                            c2pa=signing)
    result = score(avatar, collection, "heldout", "train", out / "side_by_side.mp4", out / "contact_sheet.png",
                   provenance)
    result |= {"video": str(args.video), "train_fraction": args.train_fraction, "minutes": args.minutes,
               "steps": avatar.info.get("steps"), "size": args.size,
               "command": f"python -m pav reenact-eval {args.video} --out {out} --train-fraction "
                          f"{args.train_fraction} --minutes {args.minutes} --size {args.size}"
                          + "".join(f" --set {item}" for item in args.set)}
    write_json(out / "results.json", result)
    print(json.dumps(result, indent=1))
    return 0
