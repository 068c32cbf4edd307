"""Import, once at start-up, what the app's background jobs would otherwise import lazily. GUI-free.

Why: importing an extension module (its dlopen and init) holds the GIL from start to end, and the UI thread
waits for it. The first clip export imported OpenCV (for the watermark) in the export thread, and the UI
froze for 560–710 ms: the worst frame of two failed soak runs. The stall trace showed it (cv2's
`bootstrap` in the export thread, docs/performance.md). Here such a module costs start-up time once
(cv2 ~0.6 s), before the window opens.

`tests/test_viewer_threads.py` checks this list against the jobs. After `preload()`, an export (deep copy,
render, watermark, encoding), a checkpoint save and a screenshot import no new module.
"""
from __future__ import annotations

import importlib

BACKGROUND_MODULES = (
    "cv2",                    # pav.watermark: the invisible mark of every exported frame
    "scipy.fft",              # pav.watermark: its patterns
    "imageio_ffmpeg",         # pav.export: the clip's encoder
    "PIL.Image", "PIL.ImageDraw", "PIL.PngImagePlugin",  # screenshots, the visible mark
    "safetensors", "safetensors.torch",  # checkpoint saves (the panel's "save", closing the window)
    "pav.export", "pav.watermark", "pav.provenance", "pav.c2pa_manifest", "pav.checkpoint", "pav.io",
)
"""Modules imported off the UI thread, or on it in the middle of use, after start-up."""


def _first_calls() -> None:
    """What the jobs' libraries import on their first call: PIL's image plugins (on the first save), the
    path of imageio-ffmpeg's encoder binary (found once, then cached)."""
    import imageio_ffmpeg
    from PIL import Image

    Image.preinit()
    try:
        imageio_ffmpeg.get_ffmpeg_exe()
    except (RuntimeError, OSError):  # no encoder: the export says so when asked for
        pass


def preload(modules: tuple[str, ...] = BACKGROUND_MODULES) -> list[str]:
    """Import `modules` now, and make the first calls that import more; returns the modules that are not
    installed (their jobs report that themselves)."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if not {"PIL.Image", "imageio_ffmpeg"} & set(missing):
        _first_calls()
    return missing
