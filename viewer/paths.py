"""Where the app writes files: one documented folder, never the current directory.

`$PAV_OUTPUT_DIR` if set, else `~/PAV`. Inside: `screenshots/`, `clips/` (exports), `animations/`
(keyframe JSON, docs/animation.md) and `presets/` (expression presets). Folders are created on first use.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def output_dir() -> Path:
    return Path(os.environ.get("PAV_OUTPUT_DIR") or Path.home() / "PAV").expanduser()


def output_path(kind: str, suffix: str, stem: str | None = None) -> Path:
    """A new file in output_dir()/kind/ (e.g. 'screenshots', '.png'), named by the time unless `stem`."""
    folder = output_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stem or 'pav-' + time.strftime('%Y%m%d-%H%M%S')}{suffix}"
