"""`python -m pav eval CKPT DATA [--split test] [--json OUT] [--side-by-side DIR]`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..checkpoint import load_avatar
from ..data import read_collection
from ..io import write_json
from .evaluate import evaluate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path)
    p.add_argument("data", type=Path, help="collection folder")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--json", type=Path, help="write the result here (atomically)")
    p.add_argument("--side-by-side", type=Path, metavar="DIR", help="write render | ground truth | error PNGs")
    p.add_argument("--appearance", action="append", help="evaluate this appearance only; repeatable")
    p.add_argument("--max-frames", type=int, help="evaluate at most this many frames, evenly spread")
    p.add_argument("--head-model", help="head-model file if the checkpoint's spec is not 'default'")
    p.add_argument("--weights", type=Path, metavar="DIR",
                   help="folder with the LPIPS/DISTS/FID backbone files, searched instead of $PAV_WEIGHTS and "
                        "before torch's hub cache (see docs/metrics.md)")


def run(args: argparse.Namespace) -> int:
    avatar = load_avatar(args.checkpoint, args.head_model)
    result = evaluate(avatar, read_collection(args.data), args.split, args.appearance, args.side_by_side,
                      args.max_frames, weights=args.weights)
    if args.json:
        write_json(args.json, result)
    print(json.dumps(result, indent=1))
    return 0
