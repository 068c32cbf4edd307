"""`python -m pav render CKPT --out clip.mp4 [--appearance NAME] [--drive DATA/APPEARANCE | seq.json]
[--orbit DEG] [--size PX] [--fps N]`: headless clip export (the viewer's export runs the same code)."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from .checkpoint import load_avatar
from .cliargs import float_range, head_model_spec, int_range, output_file
from .export import demo_sequence, drive_from_collection, export_clip, read_sequence, with_orbit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=output_file(".mp4"), required=True, help="mp4 to write")
    p.add_argument("--appearance", help="appearance name to render in (default: the first, or the driving video's)")
    p.add_argument("--drive", type=Path, help="a collection video DATA/APPEARANCE, or a timeline .json")
    p.add_argument("--orbit", type=float_range(-3600.0, 3600.0), default=0.0, metavar="DEG", help="sweep the camera over DEG degrees")
    p.add_argument("--size", type=int_range(16, 2048), default=256, help="frame height in pixels (default 256)")
    p.add_argument("--fps", type=int_range(1, 240), default=25, help="frames per second (default 25)")
    p.add_argument("--head-model", type=head_model_spec, help="head-model file if the checkpoint's spec is not 'default'")


def run(args: argparse.Namespace) -> int:
    avatar = load_avatar(args.checkpoint, args.head_model)
    appearance = args.appearance if args.appearance is not None else 0
    if args.appearance is not None:
        avatar.appearance_weights(args.appearance)  # validates the name early
    fps = args.fps
    if args.drive is None:
        frames = demo_sequence(avatar, args.size, fps=fps, appearance=appearance)
    elif args.drive.suffix == ".json":
        frames, fps = read_sequence(avatar, args.drive, args.size, appearance)
    else:
        from .data import read_collection

        collection = read_collection(args.drive.parent)
        folder = args.drive.name
        names = {a.folder.name: a.name for a in collection.appearances}
        if folder not in names and folder not in collection.appearance_names:
            raise ValueError(f"--drive {args.drive}: no appearance '{folder}' in {args.drive.parent} "
                             f"(has {', '.join(collection.appearance_names)})")
        frames = drive_from_collection(avatar, collection, names.get(folder, folder), args.size, args.appearance)
    if args.orbit:
        frames = with_orbit(avatar, frames, args.orbit, args.size)
    bar = tqdm(total=len(frames), desc="rendering", unit="frame")
    n = export_clip(avatar, frames, args.out, fps=fps, progress=lambda k, total: bar.update(1))
    bar.close()
    print(f"wrote {args.out} ({n} frames, {n / fps:.1f} s)")
    return 0
