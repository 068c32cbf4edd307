"""`python -m pav <command>`: the command-line entry point.

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`; this file only
wires them and turns expected failures (bad input) into one clear line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .allocator import tune_allocator

# command name → (module, one-line help)
COMMANDS = {
    "head-preview": ("pav.head.preview", "render the head model shaded from the front and the side to a PNG"),
    "synth": ("pav.data.synth", "render a synthetic multi-appearance video collection with ground truth"),
    "check-data": ("pav.data.check", "validate a video collection and summarise it"),
    "track": ("pav.track.command", "track videos of one subject into a collection (landmarks, one shared identity)"),
    "train": ("pav.train.command", "train an avatar on a collection (resumable; Ctrl-C saves)"),
    "eval": ("pav.eval.command", "evaluate an avatar on a collection split (PSNR, SSIM, LPIPS, DISTS, FID, per appearance)"),
    "reproduce": ("pav.eval.reproduce", "run the paper's protocols (a) and (b) and write tables like Tables 1 and 3"),
    "bench": ("pav.bench", "measure rendering, field, geometry and training speed on this machine"),
    "render": ("pav.render_command", "render a clip of an avatar to mp4 (demo, collection video or timeline)"),
    "reenact-eval": ("pav.eval.reenact", "self-reenactment on a real video: train on its start, score the rest"),
    "verify": ("pav.verify_command", "report whether an image or clip was rendered by PAV (metadata, watermark)"),
}


class UserError(Exception):
    """A failure caused by the user's input; reported as one line without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pav", description="PAV: personalized head avatars.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_allocator()
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
