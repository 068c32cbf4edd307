"""Provenance of what PAV exports: every rendered PNG and mp4 says it is synthetic.

Two independent marks (docs/provenance.md):
- metadata: PNG `tEXt` chunks / mp4 `comment` and `description` tags, with the PAV version, the avatar
  checkpoint's SHA-256 and the appearance, and whether the pixel watermark is on;
- an invisible watermark in the pixels (`pav.watermark`), on by default, carrying 16 bits of the
  checkpoint's SHA-256; `--no-watermark` turns it off and the metadata records that.
Optionally a visible corner mark ("synthetic · PAV") and a signed C2PA manifest (pav.c2pa_manifest).
`verify(path)` reads them back.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from . import watermark

if TYPE_CHECKING:
    from .c2pa_manifest import C2paReading, C2paSigning

TAG = "PAV-provenance"
"""The PNG tEXt key holding the JSON record (mp4: the same JSON in the `comment` tag)."""
DESCRIPTION = "Synthetic media: rendered by PAV from a learned head avatar. Not a recording of a real scene."


@dataclass(frozen=True)
class Provenance:
    """What an exported file says about itself."""

    checkpoint_sha256: str = ""
    """SHA-256 of the avatar checkpoint file ('' when the avatar was not loaded from a file)."""
    appearance: str = ""
    """appearance name, or a description of blend weights"""
    watermark: bool = True
    """embed the invisible pixel watermark (off: recorded in the metadata)"""
    visible_mark: bool = False
    """draw a small 'synthetic · PAV' mark in the bottom-right corner"""
    extra: dict = field(default_factory=dict)
    """more facts to record (e.g. the driving video)"""
    c2pa: C2paSigning | None = None
    """sign a C2PA manifest into the file with this identity (`--c2pa-cert`/`--c2pa-key`); None: no manifest"""

    @property
    def payload(self) -> int:
        """The watermark's 16-bit payload: the first 4 hex digits of the checkpoint SHA-256 (0 if none)."""
        return int(self.checkpoint_sha256[:4], 16) if self.checkpoint_sha256 else 0

    def record(self) -> dict:
        from . import __version__

        return {"synthetic": True, "generator": f"PAV {__version__}", "digital_source_type":
                "trainedAlgorithmicMedia", "checkpoint_sha256": self.checkpoint_sha256,
                "appearance": self.appearance, "watermark": "pav-stdm-v1" if self.watermark else "off",
                "watermark_payload": f"{self.payload:04x}" if self.watermark else None} | \
            ({"c2pa": "signed manifest"} if self.c2pa else {}) | self.extra

    def sign(self, path: str | Path) -> None:
        """Sign a C2PA manifest into the written file at `path` when asked to (the last step of a write)."""
        if self.c2pa is not None:
            from .c2pa_manifest import sign_in_place

            sign_in_place(Path(path), self.c2pa, self.record())


def for_avatar(avatar, appearance=None, **kw) -> Provenance:
    """Provenance of frames rendered from `avatar` (its `checkpoint_sha256`, set by `load_avatar`)."""
    return Provenance(checkpoint_sha256=getattr(avatar, "checkpoint_sha256", ""),
                      appearance=describe_appearance(avatar, appearance), **kw)


def describe_appearance(avatar, appearance) -> str:
    names = list(getattr(avatar, "appearance_names", []))
    if appearance is None:
        return names[0] if names else ""
    if isinstance(appearance, str):
        return appearance
    if isinstance(appearance, int):
        return names[appearance] if 0 <= appearance < len(names) else str(appearance)
    weights = np.asarray(appearance, dtype=float).ravel()
    return "blend " + ", ".join(f"{n}={w:.2f}" for n, w in zip(names, weights) if w)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def mark_frame(rgb: np.ndarray, provenance: Provenance) -> np.ndarray:
    """uint8 (H, W, 3) → the marked uint8 frame (watermark and/or visible mark as configured)."""
    out = np.asarray(rgb)
    if provenance.visible_mark:
        out = visible_mark(out)
    if provenance.watermark:
        out = watermark.embed(out, provenance.payload)
    return out


def visible_mark(rgb: np.ndarray) -> np.ndarray:
    """Draw 'synthetic · PAV' in the bottom-right corner, white on a dark box (uint8 (H, W, 3))."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(image)
    text = "synthetic · PAV"
    x0, y0, x1, y1 = draw.textbbox((0, 0), text)
    w, h = x1 - x0 + 6, y1 - y0 + 6
    W, H = image.size
    draw.rectangle([W - w - 2, H - h - 2, W - 2, H - 2], fill=(20, 20, 20))
    draw.text((W - w + 1 - x0, H - h + 1 - y0), text, fill=(255, 255, 255))
    return np.asarray(image)


def png_info(provenance: Provenance):
    """PIL PngInfo with the tEXt chunks: PAV-provenance (JSON), Description, Software."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    record = provenance.record()
    info.add_text(TAG, json.dumps(record))
    info.add_text("Description", DESCRIPTION)
    info.add_text("Software", record["generator"])
    return info


def ffmpeg_metadata(provenance: Provenance) -> list[str]:
    """ffmpeg output arguments that write the record into the mp4's comment and description tags."""
    return ["-metadata", f"comment={json.dumps(provenance.record())}", "-metadata", f"description={DESCRIPTION}",
            "-metadata", f"encoder={provenance.record()['generator']}"]


class Verification(NamedTuple):
    kind: str
    """'png' | 'video' | 'image'"""
    metadata: dict | None
    """the PAV record found in the file's tags, or None"""
    watermark: watermark.Reading
    consistent: bool | None
    """the watermark payload equals the metadata's (None when either is missing)"""
    c2pa: C2paReading | None = None
    """the C2PA manifest and its validation state (None: the file has none)"""


def _mp4_tags(path: Path) -> dict:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    tags = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_]+)=(.*)$", line)
        if m:
            tags[m.group(1).lower()] = m.group(2).replace("\\=", "=").replace("\\;", ";").replace("\\#", "#")
    return tags


def _video_frames(path: Path, max_frames: int = 48) -> list[np.ndarray]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    W, H = meta["size"]
    frames = []
    for k, raw in enumerate(reader):
        if k >= max_frames:
            break
        frames.append(np.frombuffer(raw, np.uint8).reshape(H, W, 3))
    reader.close()
    return frames


def _c2pa_reading(path: Path, trust_pem: bytes | None) -> C2paReading | None:
    from .c2pa_manifest import C2paReading, read_manifest

    try:
        return read_manifest(path, trust_pem)
    except ValueError as exc:  # c2pa-python missing, or a container it cannot parse: say so, keep the rest
        return C2paReading(f"not checked: {exc}", None, "", [], None)


def verify(path: str | Path, c2pa_trust: bytes | None = None) -> Verification:
    """Read the provenance of an image or clip: its PAV metadata, the pixel watermark and any C2PA manifest
    (`c2pa_trust`: PEM CA certificates to trust when validating it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"verify: no such file: {path}")
    record = None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            text = getattr(im, "text", {}) or {}
            frames = [np.asarray(im.convert("RGB"))]
            kind = "png" if im.format == "PNG" else "image"
        if TAG in text:
            record = json.loads(text[TAG])
    except (UnidentifiedImageError, OSError):
        kind = "video"
        try:
            frames = _video_frames(path)
        except Exception:
            frames = []
        if not frames:
            raise ValueError(f"verify: {path} is neither an image nor a video that ffmpeg can read") from None
        comment = _mp4_tags(path).get("comment", "")
        try:
            record = json.loads(comment) if comment.startswith("{") else None
        except json.JSONDecodeError:
            record = None
    reading = watermark.read(frames)
    consistent = None
    if record and record.get("watermark_payload") and reading.found:
        consistent = f"{reading.payload:04x}" == record["watermark_payload"]
    return Verification(kind, record, reading, consistent, _c2pa_reading(path, c2pa_trust))
