"""Atomic file writes (temp file in the same folder + rename), durable multi-file commits, and image I/O.

Inside PAV images are float RGB in [0, 1]; on disk they are uint8 PNG (masks single-channel).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success rename it onto `path`, on failure remove it.
    Readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class NoSpaceError(OSError):
    """Out of disk space while writing files; the message says how much room they need."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to the file descriptor (the one place commit_files writes; tests inject faults here)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_files(files: list[tuple[Path, bytes]]) -> None:
    """Write several files durably so that a crash or a full disk never leaves a half-written one.

    Every file's bytes first go to a temp file beside it (fsynced); only when all are written are they
    renamed into place, in the given order, each rename made durable before the next. A failure while
    writing (ENOSPC included) removes the temps and leaves every previous file untouched; out of space raises
    NoSpaceError naming the room needed. A crash between two renames leaves the earlier files new and the
    later ones old: readers that need the set consistent check it (pav.checkpoint does)."""
    umask = os.umask(0)
    os.umask(umask)
    temps: list[Path] = []
    try:
        for path, data in files:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append(Path(tmp))
            try:
                _write_all(fd, data)
                os.fchmod(fd, 0o666 & ~umask)
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException as exc:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            folder = Path(files[0][0]).parent
            need = sum(len(data) for _, data in files)
            free = shutil.disk_usage(folder).free
            names = " and ".join(Path(p).name for p, _ in files)
            raise NoSpaceError(f"no space left on the device of {folder} to write {names}: they need "
                                          f"{need / 2 ** 20:.1f} MB, {free / 2 ** 20:.1f} MB are free") from None
        raise
    with _signals_deferred():  # Ctrl-C or SIGTERM between the renames would leave a mixed set
        for (path, _), tmp in zip(files, temps):
            os.replace(tmp, path)
            _fsync_dir(Path(path).parent)


@contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends (their handlers run then); a no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


def write_png(path: str | Path, image: np.ndarray, provenance=None) -> None:
    """uint8 (H, W), (H, W, 3) or (H, W, 4), or float in [0, 1] → PNG, atomically. With a
    `pav.provenance.Provenance` (rendered media), the RGB image is marked as synthetic: watermark and tEXt."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"write_png {path}: image must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    pnginfo = None
    if provenance is not None:
        from .provenance import mark_frame, png_info

        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"write_png {path}: only RGB images carry provenance, got {image.shape}")
        image, pnginfo = mark_frame(image, provenance), png_info(provenance)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=pnginfo)
        if provenance is not None:
            provenance.sign(tmp)  # a C2PA manifest when asked for, over the finished file


def read_png(path: str | Path) -> np.ndarray:
    """PNG → uint8 array (H, W) or (H, W, C); a clear error for missing or corrupt files."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"image {path} is unreadable or corrupt ({exc})") from None
