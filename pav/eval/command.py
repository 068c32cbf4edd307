"""`python -m pav eval CKPT DATA [--split test|train|novel] [--json OUT] [--side-by-side DIR] [--contact-sheet PNG]`.

`--split novel` scores the novel views with ground truth (test frames seen from rotated cameras) per angle and
per appearance (pav.eval.novel), prints a table per angle and writes a contact sheet (rows = angles, columns =
rendered | ground truth | error) to --contact-sheet, or to DIR/novel_contact_sheet.png with --side-by-side.


Before any frame is rendered: the outputs must be writable, the avatar's head model must be the one the
collection was tracked with (checksum), and the appearances to evaluate must exist in both. Metrics that
are not finite (a PSNR of +inf for a pixel-exact render, NaN from a broken model) are written as null with
the reason under "non_finite", since JSON has no NaN or Infinity.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..backends import add_device_argument
from ..checkpoint import load_avatar
from ..cliargs import head_model_spec, output_dir, output_file, positive_int
from ..data import read_collection
from ..data.reader import check_head_model
from ..io import write_json
from .evaluate import evaluate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path)
    p.add_argument("data", type=Path, help="collection folder")
    p.add_argument("--split", default="test", choices=["train", "test", "novel"],
                   help="novel: the rotated-camera views with ground truth, scored per angle")
    p.add_argument("--json", type=output_file(), help="write the result here (atomically)")
    p.add_argument("--side-by-side", type=output_dir, metavar="DIR", help="write render | ground truth | error PNGs")
    p.add_argument("--contact-sheet", type=output_file(".png"), metavar="PNG",
                   help="--split novel: write the contact sheet here (rows = angles; rendered | ground truth | error)")
    p.add_argument("--appearance", action="append", help="evaluate this appearance only; repeatable")
    p.add_argument("--max-frames", type=positive_int, help="evaluate at most this many frames, evenly spread")
    p.add_argument("--head-model", type=head_model_spec,
                   help="head-model file if the checkpoint's spec is not 'default'")
    p.add_argument("--weights", type=Path, metavar="DIR",
                   help="folder with the LPIPS/DISTS/FID backbone files, searched instead of $PAV_WEIGHTS and "
                        "before torch's hub cache (see docs/metrics.md)")
    add_device_argument(p)


def check_appearances(avatar, collection, chosen: list[str] | None) -> None:
    """ValueError naming the missing appearances unless every chosen one (default: at least one of the
    avatar's) is in both the avatar and the collection."""
    ours, theirs = avatar.appearance_names, collection.appearance_names
    if chosen:
        for where, names in (("the avatar", ours), (f"the collection {collection.root}", theirs)):
            missing = [n for n in chosen if n not in names]
            if missing:
                raise ValueError(f"--appearance {', '.join(missing)}: not in {where} (has {', '.join(names)})")
    elif not set(ours) & set(theirs):
        raise ValueError(f"none of the avatar's appearances ({', '.join(ours)}) is in the collection "
                         f"{collection.root} (has {', '.join(theirs)}): evaluate it on the collection it was "
                         "trained on")


def json_safe(value, path: str = "", notes: dict | None = None):
    """(copy of `value` with every non-finite float replaced by None, {json path: "nan" | "inf" | "-inf"})."""
    notes = {} if notes is None else notes
    if isinstance(value, float) and not math.isfinite(value):
        notes[path] = str(value)
        return None, notes
    if isinstance(value, dict):
        return {k: json_safe(v, f"{path}.{k}" if path else str(k), notes)[0] for k, v in value.items()}, notes
    if isinstance(value, (list, tuple)):
        return [json_safe(v, f"{path}[{i}]", notes)[0] for i, v in enumerate(value)], notes
    return value, notes


def run(args: argparse.Namespace) -> int:
    if args.contact_sheet is not None and args.split != "novel":
        raise ValueError("--contact-sheet needs --split novel (it shows the novel views)")
    avatar = load_avatar(args.checkpoint, args.head_model, device=args.device)
    collection = read_collection(args.data)
    check_head_model(collection, avatar.head)
    check_appearances(avatar, collection, args.appearance)
    if args.split == "novel":
        return run_novel(args, avatar, collection)
    result = evaluate(avatar, collection, args.split, args.appearance, args.side_by_side, args.max_frames,
                      weights=args.weights)
    result, notes = json_safe(result)
    if notes:
        result["non_finite"] = {k: f"{v}: not a finite number (inf: the render equals the ground truth "
                                   "exactly; nan: the model produced NaN), written as null" for k, v in notes.items()}
    if args.json:
        write_json(args.json, result)
    print(json.dumps(result, indent=1))
    return 0


def run_novel(args: argparse.Namespace, avatar, collection) -> int:
    from ..io import write_png
    from ..provenance import for_avatar
    from .novel import contact_sheet, evaluate_novel, novel_table

    result = evaluate_novel(avatar, collection, args.appearance, args.side_by_side, args.max_frames)
    result, notes = json_safe(result)
    if notes:
        result["non_finite"] = {k: f"{v}: not a finite number, written as null" for k, v in notes.items()}
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
