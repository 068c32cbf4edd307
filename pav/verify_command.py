"""`python -m pav verify FILE [--json OUT] [--c2pa-trust CA.pem]`: is this image or clip PAV's synthetic output?

Prints the PAV metadata found in the file's tags, whether the invisible watermark decodes (its detection
statistic and payload), whether the two agree, and the C2PA manifest if the file has one: its digital
source type, signer and validation state (docs/provenance.md). Exit code 0 when it could read the file
(marked or not).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .io import write_json
from .provenance import verify


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a PNG/JPEG image or an mp4 clip")
    p.add_argument("--json", type=Path, help="also write the report as JSON")
    p.add_argument("--c2pa-trust", type=Path, metavar="PEM",
                   help="CA certificates to trust when validating a C2PA manifest (its state becomes 'Trusted')")


def run(args: argparse.Namespace) -> int:
    trust = None
    if args.c2pa_trust is not None:
        if not args.c2pa_trust.is_file():
            raise FileNotFoundError(f"--c2pa-trust not found: {args.c2pa_trust}")
        trust = args.c2pa_trust.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in trust:
            raise ValueError(f"--c2pa-trust {args.c2pa_trust}: not a PEM certificate file")
    result = verify(args.file, trust)
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
    c2pa = result.c2pa
    if c2pa is None:
        print("  C2PA manifest: none")
    elif c2pa.state.startswith("not checked"):
        print(f"  C2PA manifest: {c2pa.state}")
    else:
        source = (c2pa.digital_source_type or "none").rsplit("/", 1)[-1]
        print(f"  C2PA manifest: {c2pa.state}; digital source type {source}; signed by {c2pa.signer}"
              + (f"; failures: {', '.join(c2pa.failures)}" if c2pa.failures else ""))
    if args.json:
        write_json(args.json, {"file": str(args.file), "kind": result.kind, "metadata": meta,
                               "watermark": {"found": wm.found, "z": round(wm.z, 3), "frames": wm.frames,
                                             "payload": None if wm.payload is None else f"{wm.payload:04x}"},
                               "consistent": result.consistent,
                               "c2pa": None if c2pa is None else c2pa._asdict()})
    return 0
