"""`python -m pav eval CKPT DATA [--split test|train|novel] [--json OUT] [--side-by-side DIR] [--contact-sheet PNG]`.

`--split novel` scores the novel views with ground truth (test frames seen from rotated cameras) per angle and
per appearance (pav.eval.novel), prints a table per angle and writes a contact sheet (rows = angles, columns =
rendered | ground truth | error) to --contact-sheet, or to DIR/novel_contact_sheet.png with --side-by-side.
"""
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
    p.add_argument("--split", default="test", choices=["train", "test", "novel"],
                   help="novel: the rotated-camera views with ground truth, scored per angle")
    p.add_argument("--json", type=Path, help="write the result here (atomically)")
    p.add_argument("--side-by-side", type=Path, metavar="DIR", help="write render | ground truth | error PNGs")
    p.add_argument("--contact-sheet", type=Path, metavar="PNG",
                   help="--split novel: write the contact sheet here (rows = angles; rendered | ground truth | error)")
    p.add_argument("--appearance", action="append", help="evaluate this appearance only; repeatable")
    p.add_argument("--max-frames", type=int, help="evaluate at most this many frames, evenly spread")
    p.add_argument("--head-model", help="head-model file if the checkpoint's spec is not 'default'")


def run(args: argparse.Namespace) -> int:
    if args.contact_sheet is not None and args.split != "novel":
        raise ValueError("--contact-sheet needs --split novel (it shows the novel views)")
    avatar = load_avatar(args.checkpoint, args.head_model)
    collection = read_collection(args.data)
    if args.split == "novel":
        return run_novel(args, avatar, collection)
    result = evaluate(avatar, collection, args.split, args.appearance, args.side_by_side,
                      args.max_frames)
    if args.json:
        write_json(args.json, result)
    print(json.dumps(result, indent=1))
    return 0


def run_novel(args: argparse.Namespace, avatar, collection) -> int:
    from ..io import write_png
    from ..provenance import for_avatar
    from .novel import contact_sheet, evaluate_novel, novel_table

    result = evaluate_novel(avatar, collection, args.appearance, args.side_by_side, args.max_frames)
    sheet = args.contact_sheet or (args.side_by_side / "novel_contact_sheet.png" if args.side_by_side else None)
    if sheet is not None:
        write_png(sheet, contact_sheet(avatar, collection, args.appearance),
                  provenance=for_avatar(avatar, ", ".join(args.appearance or avatar.appearance_names),
                                    extra={"content": "novel-view contact sheet"}))
        result["contact_sheet"] = str(sheet)
    if args.json:
        write_json(args.json, result)
    print(json.dumps(result, indent=1))
    print("\n".join(novel_table(result)))
    return 0
