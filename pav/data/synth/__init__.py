"""`python -m pav synth OUT`: a synthetic multi-appearance collection of the built-in head, with ground truth.

One identity; per appearance its own skin, brows, lips, stubble or beard (colour and volume), hair (colour
and volume), light and background; smooth talking-head trajectories; train / test / novel splits (the novel
split: replayed trajectories without images, and test frames seen from rotated cameras WITH ground
truth, `--novel-views`); and OUT/preview.png. See docs/collection-format.md ("Synthetic collections") for
what exactly is generated.
"""
from __future__ import annotations

import argparse
import re
import shutil
import time
from pathlib import Path

from ...cliargs import check_memory, head_model_spec, int_range, output_dir, seed
from .config import SynthConfig

__all__ = ["SynthConfig", "add_arguments", "memory_estimate", "run"]

MAX_APPEARANCES = 64
"""More videos than any real collection of one person has (and ~0.5 s per frame each)."""


def memory_estimate(config: SynthConfig) -> int:
    """Bytes the generator holds at its peak (measured: ~560 MB of code, head model and textures at any size;
    the per-frame parameters and records of all videos; the supersampled render's buffers)."""
    sub_pixels = (config.size * config.supersample) ** 2
    return 600 * 2 ** 20 + config.appearances * config.frames * 4096 + sub_pixels * 16


def angle_list(text: str) -> tuple[float, ...]:
    """'0,15,30' → (0.0, 15.0, 30.0); '' → () (argparse type: a bad list is a usage error, exit code 2)."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of degrees, e.g. 0,15,30") from None


def _degrees(values) -> str:
    return ",".join(f"{v:g}" for v in values)


def add_arguments(p: argparse.ArgumentParser) -> None:
    # let angle lists that start with a minus ("--novel-pitches -15,15") be values, not options (argparse
    # only treats "-15" or "-1.5" so); no option of this command looks like a number
    p._negative_number_matcher = re.compile(r"^-\d[\d.,\-]*$")
    p.add_argument("out", type=output_dir, help="collection folder to create")
    p.add_argument("--appearances", type=int_range(1, MAX_APPEARANCES), default=SynthConfig.appearances,
                   help="videos (default %(default)s)")
    p.add_argument("--frames", type=int_range(2), default=SynthConfig.frames,
                   help="frames per video (default %(default)s; bounded by the memory available)")
    p.add_argument("--size", type=int_range(16, 2048), default=SynthConfig.size,
                   help="image size in pixels (default %(default)s)")
    p.add_argument("--seed", type=seed, default=SynthConfig.seed, help="random seed (default %(default)s)")
    p.add_argument("--head-model", type=head_model_spec, default="default",
                   help="'default' or a FLAME generic_model.pkl")
    p.add_argument("--supersample", type=int_range(1, 15), default=SynthConfig.supersample,
                   help="anti-aliasing factor, odd (default %(default)s)")
    p.add_argument("--no-depth", action="store_true", help="do not store depth maps")
    p.add_argument("--novel-views", type=angle_list, default=SynthConfig.novel_yaws, metavar="YAWS",
                   help="yaws in degrees of the novel views with ground truth: test frames seen from cameras "
                        f"rotated about the head centre ('' for none; default {_degrees(SynthConfig.novel_yaws)})")
    p.add_argument("--novel-pitches", type=angle_list, default=SynthConfig.novel_pitches, metavar="PITCHES",
                   help="pitches in degrees of further novel views at yaw 0 "
                        f"(default {_degrees(SynthConfig.novel_pitches)})")
    p.add_argument("--novel-view-frames", type=int, default=SynthConfig.novel_view_frames, metavar="N",
                   help="test frames per appearance seen from every novel view (default %(default)s; 0 for none)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it is an existing PAV collection")


def prepare_output(out: Path, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder unless it is a PAV collection and `overwrite` is set."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"{out} exists and is not empty; pass --overwrite to replace a PAV collection")
        if not (out / "collection.json").is_file():
            raise ValueError(f"{out} is not a PAV collection (no collection.json); refusing to overwrite it")
        shutil.rmtree(out)


def run(args: argparse.Namespace) -> int:
    config = SynthConfig(appearances=args.appearances, frames=args.frames, size=args.size, seed=args.seed,
                         head_model=args.head_model, supersample=args.supersample, depth=not args.no_depth,
                         novel_yaws=args.novel_views, novel_pitches=args.novel_pitches,
                         novel_view_frames=args.novel_view_frames)
    check_memory(memory_estimate(config), f"synth of {config.appearances} appearances × {config.frames} frames",
                 "use fewer --frames or --appearances")
    prepare_output(args.out, args.overwrite)
    from .generate import generate

    start = time.perf_counter()
    result = generate(config, args.out, progress=True)
    print(f"wrote {args.out}: {config.appearances} appearances × {config.frames} frames at {config.size}² "
          f"in {time.perf_counter() - start:.1f} s; preview {result.preview}")
    return 0
