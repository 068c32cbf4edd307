"""`python -m pav check-data DATA`: validate a collection and print what it holds.

Checks the manifest, every transforms.json field and every referenced PNG's size and channels;
`--decode` also decodes every image (finds truncated files). The first problem is one line, exit code 2.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from .collection import SPLITS
from .reader import read_collection


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="collection folder (holds collection.json)")
    p.add_argument("--decode", action="store_true", help="also decode every image, mask and depth map")


def run(args: argparse.Namespace) -> int:
    col = read_collection(args.data)
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
