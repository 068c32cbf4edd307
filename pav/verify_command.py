"""`python -m pav verify FILE [--json OUT]`: is this image or clip PAV's synthetic output?

Prints the PAV metadata found in the file's tags, whether the invisible watermark decodes (its detection
statistic and payload), and whether the two agree. Exit code 0 when it could read the file (marked or not).
C2PA manifests are not written or read by this version (docs/provenance.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .io import write_json
from .provenance import verify


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a PNG/JPEG image or an mp4 clip")
    p.add_argument("--json", type=Path, help="also write the report as JSON")


def run(args: argparse.Namespace) -> int:
    result = verify(args.file)
    wm = result.watermark
    meta = result.metadata
    print(f"{args.file} ({result.kind})")
    if meta:
        print(f"  metadata: synthetic={meta.get('synthetic')}, generator={meta.get('generator')}, "
              f"checkpoint sha256={meta.get('checkpoint_sha256', '')[:16]}…, appearance={meta.get('appearance')!r}, "
              f"watermark={meta.get('watermark')}")
    else:
        print("  metadata: none (no PAV tags: stripped, re-encoded, or not made by PAV)")
    if wm.found:
        print(f"  watermark: FOUND (z = {wm.z:.1f} over {wm.frames} frame(s); payload {wm.payload:04x}, "
              "the first 4 hex digits of the checkpoint's SHA-256)")
    else:
        print(f"  watermark: not found (z = {wm.z:.1f} over {wm.frames} frame(s); threshold 4.5)")
    if result.consistent is not None:
        print(f"  metadata and watermark {'agree' if result.consistent else 'DISAGREE'}")
    if args.json:
        write_json(args.json, {"file": str(args.file), "kind": result.kind, "metadata": meta,
                               "watermark": {"found": wm.found, "z": round(wm.z, 3), "frames": wm.frames,
                                             "payload": None if wm.payload is None else f"{wm.payload:04x}"},
                               "consistent": result.consistent})
    return 0
