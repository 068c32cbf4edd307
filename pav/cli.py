"""`python -m pav <command>`: the command-line entry point.

Each command lives in its own module with `add_arguments(parser)` and `run(args) -> int`; this file only
wires them and turns expected failures (bad input) into one clear line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import re
import sys

from .allocator import tune_allocator
from .cliargs import OneLineParser

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
    parser = OneLineParser(prog="python -m pav", description="PAV: personalized head avatars.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


_TEMP_NAME = re.compile(r"(^|/)\.([^/]+)\.[A-Za-z0-9_]{8}\.tmp[^/]*$")
"""pav.io.atomic_path's temp names (.NAME.XXXXXXXX.tmp.EXT): shown as the file the user asked for."""


def os_error_line(exc: OSError) -> str:
    """One line for a failed file operation, naming the user's file (never a temp name)."""
    name = _TEMP_NAME.sub(r"\1\2", str(exc.filename)) if exc.filename else None
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason += ": choose a writable place"
    return f"{name}: {reason}" if name else reason


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed in one line)
        return int(exc.code or 0)
    tune_allocator()
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        message = os_error_line(exc) if isinstance(exc, OSError) and exc.filename else str(exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory: use a smaller size or fewer frames", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {' '.join(os_error_line(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
