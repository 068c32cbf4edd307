"""`python -m pav synth OUT`: a synthetic multi-appearance collection of the built-in head, with ground truth.

One identity; per appearance its own skin, brows, lips, stubble or beard (colour and volume), hair (colour
and volume), light and background; smooth talking-head trajectories; train / test / novel splits; and
OUT/preview.png. See docs/collection-format.md ("Synthetic collections") for what exactly is generated.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from .config import SynthConfig

__all__ = ["SynthConfig", "add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="collection folder to create")
    p.add_argument("--appearances", type=int, default=SynthConfig.appearances, help="videos (default %(default)s)")
    p.add_argument("--frames", type=int, default=SynthConfig.frames, help="frames per video (default %(default)s)")
    p.add_argument("--size", type=int, default=SynthConfig.size, help="image size in pixels (default %(default)s)")
    p.add_argument("--seed", type=int, default=SynthConfig.seed, help="random seed (default %(default)s)")
    p.add_argument("--head-model", default="default", help="'default' or a FLAME generic_model.pkl")
    p.add_argument("--supersample", type=int, default=SynthConfig.supersample,
                   help="anti-aliasing factor, odd (default %(default)s)")
    p.add_argument("--no-depth", action="store_true", help="do not store depth maps")
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
                         head_model=args.head_model, supersample=args.supersample, depth=not args.no_depth)
    prepare_output(args.out, args.overwrite)
    from .generate import generate

    start = time.perf_counter()
    result = generate(config, args.out, progress=True)
    print(f"wrote {args.out}: {config.appearances} appearances × {config.frames} frames at {config.size}² "
          f"in {time.perf_counter() - start:.1f} s; preview {result.preview}")
    return 0
