"""`python -m pav check-data DATA`: validate a collection and print what it holds.

Checks the manifest, every transforms.json field and every referenced PNG's size and channels, that all
appearances share one image size, and that the head model (the manifest's spec, or --head-model) has the
manifest's checksum, names and shape size — everything `train` refuses; `--decode` also decodes every image
(finds truncated files). The first problem is one line, exit code 2.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..cliargs import head_model_spec
from .collection import SPLITS, TRANSFORMS
from .reader import check_head_model, read_collection


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="collection folder (holds collection.json)")
    p.add_argument("--decode", action="store_true", help="also decode every image, mask and depth map")
    p.add_argument("--head-model", type=head_model_spec,
                   help="head-model file if the collection's spec is not 'default' (checked against the checksum)")


def check_one_size(col) -> None:
    """ValueError naming the appearances and sizes unless all appearances share one image size (train
    stacks every appearance's frames in one batch)."""
    sizes = {(a.width, a.height) for a in col.appearances}
    if len(sizes) > 1:
        shown = ", ".join(f"'{a.name}' {a.width}×{a.height}" for a in col.appearances)
        raise ValueError(f"{col.root}: appearances have different image sizes ({shown}); train needs one size: "
                         f"resize them (see each {TRANSFORMS} w, h)")


def run(args: argparse.Namespace) -> int:
    from ..head import load_head_model

    col = read_collection(args.data)
    check_one_size(col)
    spec = args.head_model or col.manifest.head_model.spec
    try:
        model = load_head_model(spec)
    except FileNotFoundError:
        raise FileNotFoundError(f"{args.data}: head model '{spec}' (the collection's head_model.spec) not found; "
                                "pass its file with --head-model") from None
    check_head_model(col, model)
    if args.decode:
        items = [(a, f) for a in col.appearances for f in a.frames if f.file_path is not None]
        for app, f in tqdm(items, desc="decoding", leave=False):
            app.image(f), app.mask(f), app.face_mask(f)
            if f.depth_path is not None:
                app.depth(f)
        for app in col.appearances:
            app.background()
    m = col.manifest
    print(f"{args.data}: subject '{m.subject}', head model '{m.head_model.name}' ({m.head_model.spec}), "
          f"{len(m.shape)} shape coefficients")
    for app in col.appearances:
        counts = ", ".join(f"{len(app.frames_in(s))} {s}" for s in SPLITS)
        print(f"  {app.name:<16} {app.width}×{app.height}  {counts}")
    print("ok")
    return 0
