"""Open a driving video in the viewer: track it against the open avatar in a background thread.

`python main.py --checkpoint CKPT --drive VIDEO` (or the panel's "open a driving video..." dialog,
viewer/drive_dialog.py) starts a
`DriveJob`: `pav track VIDEO --identity CKPT` (the avatar's own shape) into a folder under the output
folder, reporting its progress; when it is done the tracked video becomes the player's sequence (a
playable timeline that the editor turns into keyframes). The window stays live meanwhile.
"""
from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path


class DriveJob:
    """Tracks `video` with the identity of `checkpoint` into `out`; the UI polls `progress`, `stage`,
    `done`, `error` and, when done, reads `collection` and `name` (the tracked video's appearance)."""

    def __init__(self, video: str | Path, checkpoint: str | Path, out: str | Path, size: int = 256,
                 max_frames: int = 300, track=None):
        from pav.track.command import _names

        self.video, self.checkpoint, self.out = Path(video), Path(checkpoint), Path(out)
        self.progress, self.stage, self.done, self.error = 0.0, "starting", False, None
        self.collection, self.name = None, _names([self.video])[0]
        self._argv = ["track", str(self.video), "--identity", str(self.checkpoint), "--out", str(self.out),
                      "--size", str(size), "--max-frames", str(max_frames), "--test-fraction", "0"]
        self._track = track
        self._thread = threading.Thread(target=self._run, name="pav-drive", daemon=True)
        self._thread.start()

    def _report(self, stage: str, fraction: float) -> None:
        self.stage, self.progress = stage, max(self.progress, min(fraction, 1.0))

    def _run(self) -> None:
        from pav.cli import build_parser
        from pav.data import read_collection

        try:
            args = build_parser().parse_args(self._argv)
            track = self._track or __import__("pav.track.command", fromlist=["run"]).run
            track(args, self._report)
            self.collection = read_collection(self.out)
            self.name = self.collection.appearance_names[0]  # one video → one appearance
            self.progress, self.stage = 1.0, "done"
        except SystemExit as exc:  # argparse refused an argument (its message is on stderr)
            self.error = f"cannot track {self.video}: bad argument (exit {exc.code})"
        except (ValueError, FileNotFoundError, OSError) as exc:
            self.error = f"cannot track {self.video}: {exc}"
        except Exception:
            self.error = traceback.format_exc(limit=2)
        self.done = True

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done


def drive_folder(output_dir: Path, video: Path) -> Path:
    """A new, empty folder for the tracked driving video under the viewer's output folder."""
    return Path(output_dir) / "drive" / f"{Path(video).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
