"""The viewer's "open a driving video..." button and its file dialog, drawn with imgui (no system toolkit, so it
works anywhere the window does, Xvfb included).

`FileBrowser` is the dialog's logic, GUI-free: a folder, its sub-folders and video files, a typed path.
`DriveDialog.draw(app)` draws the button (inside the panel) and the modal dialog; choosing a video starts a
`viewer.drive_job.DriveJob` against the open avatar, exactly as `main.py --drive VIDEO` does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m")
"""files the dialog lists (anything ffmpeg reads can still be typed in)"""
TITLE = "Open a driving video"


def _item_rect(imgui) -> tuple[float, float, float, float]:
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    return (lo.x, lo.y, hi.x, hi.y)


class Entry(NamedTuple):
    name: str
    is_dir: bool


@dataclass
class FileBrowser:
    """A folder listing for picking a video; `submit()` turns the selection or the typed path into a file."""

    folder: Path = field(default_factory=Path.cwd)
    """the folder shown (absolute)"""
    typed: str = ""
    """the path entry: a file or folder, absolute, relative to `folder`, or starting with ~"""
    error: str = ""
    """why the last action did nothing (one line), '' if it worked"""
    _listing: tuple | None = field(default=None, repr=False)

    def entries(self) -> list[Entry]:
        """Sub-folders then video files, each sorted case-insensitively; hidden names left out. Listed once
        per folder (the dialog draws every frame); `refresh()` lists again."""
        if self._listing is None or self._listing[0] != self.folder:
            self._listing = (self.folder, self._list())
        return self._listing[1]

    def refresh(self) -> None:
        self._listing = None

    def _list(self) -> list[Entry]:
        try:
            items = list(os.scandir(self.folder))
        except OSError as exc:
            self.error = f"cannot list {self.folder}: {exc.strerror or exc}"
            return []
        dirs, files = [], []
        for item in items:
            if item.name.startswith("."):
                continue
            try:
                is_dir = item.is_dir()
            except OSError:
                continue
            if is_dir:
                dirs.append(Entry(item.name, True))
            elif item.name.lower().endswith(VIDEO_SUFFIXES):
                files.append(Entry(item.name, False))
        key = lambda e: e.name.lower()  # noqa: E731
        return sorted(dirs, key=key) + sorted(files, key=key)

    def go(self, folder: str | Path) -> bool:
        folder = (self.folder / Path(folder).expanduser()).resolve()
        if not folder.is_dir():
            self.error = f"not a folder: {folder}"
            return False
        self.folder, self.typed, self.error = folder, "", ""
        return True

    def up(self) -> None:
        self.go(self.folder.parent)

    def pick(self, entry: Entry) -> Path | None:
        """A click on a listed entry: a folder opens, a file is put in the path entry (returns None);
        a double click submits it (`submit`)."""
        if entry.is_dir:
            self.go(entry.name)
        else:
            self.typed, self.error = entry.name, ""
        return None

    def submit(self) -> Path | None:
        """The typed path as a video file to open; a folder is opened instead (None); else None and `error`."""
        text = self.typed.strip()
        if not text:
            self.error = "choose a video file (or type its path)"
            return None
        path = (self.folder / Path(text).expanduser()).resolve()
        if path.is_dir():
            self.go(path)
            return None
        if not path.is_file():
            self.error = f"no such file: {path}"
            return None
        self.error = ""
        return path


@dataclass
class DriveDialog:
    """The button and the dialog; `start(video, checkpoint)` makes the DriveJob (tests give their own)."""

    checkpoint: Path | None = None
    """the avatar the driving video is tracked against (None: no avatar open, the button says so)"""
    browser: FileBrowser = field(default_factory=FileBrowser)
    visible: bool = False
    start: Callable | None = None
    """(video, checkpoint) → a DriveJob; None: `viewer.drive_job.DriveJob` into the output folder"""
    rects: dict = field(default_factory=dict)
    """window rectangles (x0, y0, x1, y1) of the last drawn button, entries and 'open' (GUI tests click them)"""

    def choose(self, app, video: Path) -> bool:
        """Start tracking `video` against the avatar (the result plays when done; `App._poll_drive`)."""
        if self.checkpoint is None:
            app.status.message = "a driving video needs an avatar checkpoint (python main.py --checkpoint CKPT)"
            return False
        if app.drive is not None and not app.drive.done:
            app.status.message = f"already tracking {app.drive.video.name}: wait for it to finish"
            return False
        if self.start is None:
            from .drive_job import DriveJob, drive_folder
            from .paths import output_dir

            app.drive = DriveJob(video, self.checkpoint, drive_folder(output_dir(), video))
        else:
            app.drive = self.start(video, self.checkpoint)
        app.status.message = f"tracking {video.name} against the avatar..."
        self.visible = False
        return True

    def draw(self, app) -> None:
        """The button (in the panel) and, while open, the modal file dialog."""
        from imgui_bundle import imgui

        busy = app.drive is not None and not app.drive.done
        if imgui.button("open a driving video...") and not busy:
            self.visible, self.browser.error = True, ""
            self.browser.refresh()
        self.rects["button"] = _item_rect(imgui)
        if imgui.is_item_hovered():
            imgui.set_tooltip("track a new video of the same person against this avatar, then play it"
                              if not busy else "a driving video is being tracked")
        if not self.visible:
            return
        imgui.open_popup(TITLE)
        imgui.set_next_window_size(imgui.ImVec2(560, 420), imgui.Cond_.appearing)
        if not imgui.begin_popup_modal(TITLE, None)[0]:
            return
        b = self.browser
        if imgui.button("up"):
            b.up()
        imgui.same_line()
        imgui.text(str(b.folder))
        chosen = None
        rows = imgui.get_content_region_avail().y - 3.4 * imgui.get_frame_height_with_spacing()
        if imgui.begin_child("##files", imgui.ImVec2(-1, max(rows, 60)), imgui.ChildFlags_.borders):
            for entry in b.entries():
                label = f"[{entry.name}]" if entry.is_dir else entry.name
                if imgui.selectable(label, b.typed == entry.name and not entry.is_dir)[0]:
                    b.pick(entry)
                    if not entry.is_dir and imgui.is_mouse_double_clicked(0):
                        chosen = b.submit()
                self.rects[entry.name] = _item_rect(imgui)
        imgui.end_child()
        imgui.text("path")
        imgui.same_line()
        imgui.set_next_item_width(-1)
        entered, b.typed = imgui.input_text("##path", b.typed, imgui.InputTextFlags_.enter_returns_true)
        if b.error:
            imgui.text_colored(imgui.ImVec4(1.0, 0.45, 0.4, 1.0), b.error)
        if imgui.button("open") or entered:
            chosen = b.submit()
        self.rects["open"] = _item_rect(imgui)
        imgui.same_line()
        if imgui.button("cancel"):
            self.visible = False
        if chosen is not None:
            self.choose(app, chosen)
        if not self.visible:
            imgui.close_current_popup()
        imgui.end_popup()
