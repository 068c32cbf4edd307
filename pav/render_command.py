"""`python -m pav render CKPT --out clip.mp4 [--appearance NAME] [--drive DATA/APPEARANCE | seq.json]
[--camera driving|avatar|orbit] [--relative] [--neutral-frame K] [--side-by-side]
[--orbit DEG] [--size PX] [--fps N] [--no-watermark] [--visible-mark] [--c2pa-cert PEM --c2pa-key PEM]`: headless clip export (the viewer's
export runs the same code). Every clip is marked as synthetic (pav.provenance)."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from .animation import drive_frames, is_animation_file
from .backends import add_device_argument
from .checkpoint import load_avatar
from .cliargs import float_range, head_model_spec, int_range, non_negative_int, output_file
from .drive import DriveOptions, drive, side_by_side
from .export import demo_sequence, export_clip, read_sequence, with_orbit
from .c2pa_manifest import add_signing_arguments, load_signing
from .provenance import for_avatar


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=output_file(".mp4"), required=True, help="mp4 to write")
    p.add_argument("--appearance", help="appearance name to render in (default: the first, or the driving video's)")
    p.add_argument("--drive", type=Path, help="a collection video DATA/APPEARANCE, a keyframe animation .json "
                                              "(docs/animation.md), or a timeline .json")
    p.add_argument("--orbit", type=float_range(-3600.0, 3600.0), default=0.0, metavar="DEG",
                   help="sweep the camera over DEG degrees")
    p.add_argument("--size", type=int_range(16, 2048), default=256, help="frame height in pixels (default 256)")
    p.add_argument("--fps", type=int_range(1, 240), default=25, help="frames per second (default 25)")
    p.add_argument("--head-model", type=head_model_spec, help="head-model file if the checkpoint's spec is not 'default'")
    p.add_argument("--camera", choices=("driving", "avatar", "orbit"), default="driving",
                   help="with --drive DATA/NAME: the driving video's cameras (default), a fixed camera in front of "
                        "the avatar, or an orbit of --orbit degrees (30 if not given)")
    p.add_argument("--relative", action="store_true",
                   help="transfer expression and jaw relative to a neutral frame of the driving video")
    p.add_argument("--neutral-frame", type=non_negative_int, metavar="K",
                   help="the driving frame (0-based, in time order) taken as neutral (default: nearest to zero "
                        "expression)")
    p.add_argument("--side-by-side", action="store_true", help="write [driving frame | avatar] side by side")
    p.add_argument("--no-watermark", action="store_true",
                   help="do not embed the invisible watermark (the metadata still says the clip is synthetic "
                        "and records that the watermark is off)")
    p.add_argument("--visible-mark", action="store_true", help="also draw 'synthetic · PAV' in a corner")
    add_signing_arguments(p)
    add_device_argument(p)


def run(args: argparse.Namespace) -> int:
    if (args.relative or args.side_by_side or args.neutral_frame is not None or args.camera != "driving") and \
            (args.drive is None or args.drive.suffix == ".json"):
        raise ValueError("--camera/--relative/--neutral-frame/--side-by-side need --drive DATA/NAME (a tracked video)")
    signing = load_signing(args.c2pa_cert, args.c2pa_key)  # checked before any rendering
    avatar = load_avatar(args.checkpoint, args.head_model, device=args.device)
    appearance = args.appearance if args.appearance is not None else 0
    if args.appearance is not None:
        avatar.appearance_weights(args.appearance)  # validates the name early
    fps = args.fps
    compose = None
    if args.drive is None:
        frames = demo_sequence(avatar, args.size, fps=fps, appearance=appearance)
    elif args.drive.suffix == ".json" and is_animation_file(args.drive):  # keyframes (docs/animation.md)
        frames, fps = drive_frames(avatar, args.drive, args.size)
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
        options = DriveOptions(args.camera, args.relative, args.neutral_frame, args.orbit or 30.0)
        driven = drive(avatar, collection, names.get(folder, folder), args.size, args.appearance, options)
        frames = driven.frames
        if args.side_by_side:
            compose = lambda k, image: side_by_side(driven.driving_images[k], image)  # noqa: E731
        if driven.neutral_frame is not None:
            print(f"neutral frame: {driven.neutral_frame}")
    if args.orbit and not (args.drive is not None and args.drive.suffix != ".json" and args.camera == "orbit"):
        frames = with_orbit(avatar, frames, args.orbit, args.size)
    bar = tqdm(total=len(frames), desc="rendering", unit="frame")
    provenance = for_avatar(avatar, frames[0].appearance, watermark=not args.no_watermark,
                            visible_mark=args.visible_mark, c2pa=signing)
    n = export_clip(avatar, frames, args.out, fps=fps, progress=lambda k, total: bar.update(1),
                    provenance=provenance, compose=compose)
    bar.close()
    print(f"wrote {args.out} ({n} frames, {n / fps:.1f} s)")
    return 0
