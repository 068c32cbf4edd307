"""Open a driving video in the viewer: track it against the open avatar in a child process.

`python main.py --checkpoint CKPT --drive VIDEO` (or the panel's "open a driving video..." dialog,
viewer/drive_dialog.py) starts a
`DriveJob`: `pav track VIDEO --identity CKPT` (the avatar's own shape) into a folder under the output
folder, reporting its progress; when it is done the tracked video becomes the player's sequence (a
playable timeline that the editor turns into keyframes). The window stays live meanwhile.

Why a process, not a thread: tracking imports mediapipe (1.0 s, partly holding the GIL) and runs its
detector and many small torch ops in Python. In a thread of the app, a thread standing in for the UI
waited up to 200 ms for the GIL (40 frames, quiet machine). The child runs at a lower priority, with one
torch thread fewer than the app, and reports progress as JSON lines on its stdout. It exits when the app
does: it reads its stdin, and the end of that pipe ends it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path


class DriveJob:
    """Tracks `video` with the identity of `checkpoint` into `out`; the UI polls `progress`, `stage`,
    `done`, `error` and, when done, reads `collection` and `name` (the tracked video's appearance).
    `track`: "module:function" run in the child instead of `pav track` (tests)."""

    def __init__(self, video: str | Path, checkpoint: str | Path, out: str | Path, size: int = 256,
                 max_frames: int = 300, track: str | None = None):
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
        try:
            self.error = self._follow_child()
            if self.error is None:
                from pav.data import read_collection

                self.collection = read_collection(self.out)
                self.name = self.collection.appearance_names[0]  # one video → one appearance
                self.progress, self.stage = 1.0, "done"
        except (ValueError, FileNotFoundError, OSError) as exc:
            self.error = f"cannot track {self.video}: {exc}"
        except Exception:
            self.error = traceback.format_exc(limit=2)
        self.done = True

    def _follow_child(self) -> str | None:
        """Run the child and follow its progress lines; its one-line error, or None when it succeeded."""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # imports as the app does
        command = [sys.executable, "-m", "viewer.drive_job", json.dumps({"argv": self._argv, "track": self._track})]
        with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as child:
            outcome = None
            for line in child.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    print(line, end="", flush=True)  # what `pav track` says (where it wrote), passed on
                elif "stage" in message:
                    self._report(message["stage"], message["fraction"])
                elif "outcome" in message:
                    outcome = message
            code = child.wait()
        if outcome is None:
            return f"cannot track {self.video}: tracking stopped unexpectedly (exit code {code})"
        return outcome["error"]

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done


def drive_folder(output_dir: Path, video: Path) -> Path:
    """A new, empty folder for the tracked driving video under the viewer's output folder."""
    return Path(output_dir) / "drive" / f"{Path(video).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---- the child process ---------------------------------------------------------------------------------
def _exit_with_the_app() -> None:
    """End this process when the app's end of the stdin pipe closes (the app exited or was killed)."""
    sys.stdin.read()
    os._exit(3)


def child_main(spec: dict) -> int:
    """`python -m viewer.drive_job SPEC`: run `pav track` (or spec["track"]) with spec["argv"], printing
    {"stage", "fraction"} lines, then one {"outcome", "error"} line."""
    import importlib

    import torch

    from pav.cli import build_parser
    from viewer.threads import lower_priority

    threading.Thread(target=_exit_with_the_app, daemon=True).start()
    lower_priority()  # the app's UI first; threads made from here on inherit it
    torch.set_num_threads(max(1, torch.get_num_threads() - 1))  # a core left for the app's UI and render

    def say(**message) -> None:
        print(json.dumps(message), flush=True)

    video = spec["argv"][1]
    try:
        args = build_parser().parse_args(spec["argv"])
        module, _, function = (spec["track"] or "pav.track.command:run").partition(":")
        getattr(importlib.import_module(module), function)(args, lambda stage, f: say(stage=stage, fraction=f))
        error = None
    except SystemExit as exc:  # argparse refused an argument (its message is on stderr)
        error = f"cannot track {video}: bad argument (exit {exc.code})"
    except (ValueError, FileNotFoundError, OSError, ImportError) as exc:
        error = f"cannot track {video}: {exc}"
    except Exception as exc:  # one line for the window; the traceback goes to the terminal
        traceback.print_exc()
        error = f"cannot track {video}: {type(exc).__name__}: {exc}"
    say(outcome="failed" if error else "done", error=error and " ".join(error.split()))  # one line
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(child_main(json.loads(sys.argv[1])))
