"""Read the frames of a video file or of a folder of images, evenly subsampled to at most N frames.

Video files are decoded by the ffmpeg binary that imageio-ffmpeg bundles (any container/codec it knows:
mp4, mov, mkv, avi, webm …; rotation metadata is applied). The frame count comes first from a packet
count (`-c copy`, no decoding), so only the kept frames are held in memory. Image folders: the .png,
.jpg and .jpeg files directly inside, in natural name order (frame2 before frame10), all of one size.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Video", "read_video", "even_indices", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class Video(NamedTuple):
    frames: np.ndarray
    """(N, H, W, 3) uint8 RGB frames."""
    indices: np.ndarray
    """(N,) int64 index of each frame in the source (video frame number or sorted image position)."""
    fps: float | None
    """Frames per second of the source video; None for an image folder."""
    source_frames: int
    """Number of frames in the source before subsampling."""


def even_indices(n: int, max_frames: int | None) -> np.ndarray:
    """(M,) int64 sorted distinct indices in [0, n), evenly spread, M = min(n, max_frames); the first and
    last frames are always kept (when M ≥ 2). max_frames None keeps all."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be ≥ 1, got {max_frames}")
    if max_frames is None or max_frames >= n:
        return np.arange(n, dtype=np.int64)
    if max_frames == 1:
        return np.array([(n - 1) // 2], dtype=np.int64)
    return np.round(np.linspace(0, n - 1, max_frames)).astype(np.int64)


def read_video(path: str | Path, max_frames: int | None = None) -> Video:
    """Frames of a video file or an image folder, subsampled evenly to at most `max_frames` (see
    `even_indices`). Raises FileNotFoundError for a missing path, ValueError (one line, naming the path)
    for an undecodable file, an empty folder or a video without frames."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video not found: {path} (give a video file or a folder of .png/.jpg frames)")
    if path.is_dir():
        return _read_folder(path, max_frames)
    return _read_file(path, max_frames)


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _read_folder(path: Path, max_frames: int | None) -> Video:
    from PIL import Image, UnidentifiedImageError

    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise ValueError(f"{path} holds no .png/.jpg/.jpeg images (give a video file or a folder of frames)")
    keep = even_indices(len(files), max_frames)
    frames = []
    for k in keep:
        try:
            with Image.open(files[k]) as im:
                frames.append(np.asarray(im.convert("RGB")))
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{files[k]}: unreadable image ({exc}); remove it or re-export the frames") from None
        if frames[-1].shape != frames[0].shape:
            h, w = frames[0].shape[:2]
            raise ValueError(f"{files[k]}: size {frames[-1].shape[1]}×{frames[-1].shape[0]} differs from "
                             f"{files[keep[0]].name} ({w}×{h}); all frames must have one size")
    return Video(np.stack(frames), keep, None, len(files))


def _ffmpeg_fail(path: Path, output: str) -> ValueError:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    reason = lines[-1] if lines else "ffmpeg failed"
    return ValueError(f"{path} is not a readable video ({reason}); give an mp4/mov/mkv/avi file or a folder of frames")


def _count_frames(path: Path) -> int:
    """Video packets of the first video stream, counted without decoding."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    out = proc.stdout.decode(errors="replace")
    counts = re.findall(r"frame=\s*(\d+)", out)
    if proc.returncode != 0 or not counts:
        if proc.returncode == 0 or "matches no streams" in out:
            raise ValueError(f"{path} has no video frames (no video stream); give a video or a folder of frames")
        raise _ffmpeg_fail(path, out)
    return int(counts[-1])


def _read_file(path: Path, max_frames: int | None) -> Video:
    import imageio_ffmpeg

    n = _count_frames(path)
    if n == 0:
        raise ValueError(f"{path} has no video frames; give a video with at least one frame or a folder of frames")
    keep = even_indices(n, max_frames)
    wanted = set(keep.tolist())
    frames, got = [], []
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        w, h = meta["size"]
        for k, raw in enumerate(reader):
            if k in wanted:
                frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).copy())
                got.append(k)
            if k >= keep[-1]:
                break
    except (RuntimeError, OSError, StopIteration) as exc:
        raise _ffmpeg_fail(path, str(exc)) from None
    finally:
        reader.close()
    if not frames:
        raise ValueError(f"{path} has no decodable video frames; re-encode it (e.g. to H.264 mp4) or give a "
                         "folder of frames")
    fps = float(meta.get("fps") or 0.0) or None
    return Video(np.stack(frames), np.asarray(got, dtype=np.int64), fps, n)
