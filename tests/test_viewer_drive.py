"""The viewer opens a driving video: from its file dialog (viewer/drive_dialog.py) or `--drive`; tracking runs
in a child process with progress, and its result becomes the player's sequence (issue 16 §2; GUI-free,
except the last test, which clicks through the dialog in a real window under Xvfb)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pav.data import read_collection
from viewer.app import App
from viewer.drive_dialog import DriveDialog, Entry, FileBrowser
from viewer.drive_job import DriveJob
from viewer.scenes import collection_sequence


def test_drive_job_tracks_in_a_child_process_and_becomes_the_sequence(tmp_path):
    video = tmp_path / "new_clip.mp4"
    video.write_bytes(b"")
    job = DriveJob(video, "assets/demo/avatar.pav", tmp_path / "drive", track="drive_fakes:fake_track")
    seen = []
    while not job.done:  # the caller (the UI loop) is never blocked
        seen.append(job.progress)
        time.sleep(0.01)
    assert job.error is None and job.progress == 1.0 and len(set(seen)) >= 2
    asked = json.loads((tmp_path / "asked.json").read_text())
    assert Path(asked["identity"]).name == "avatar.pav" and asked["inputs"] == [str(video)]
    assert asked["test_fraction"] == 0.0
    assert asked["pid"] != os.getpid() and asked["nice"] > os.getpriority(os.PRIO_PROCESS, 0)  # its own, niced
    ui = SimpleNamespace(drive=job, status=SimpleNamespace(message=""), scene=SimpleNamespace(sequence=None),
                         player=None)
    App._poll_drive(ui)
    want = collection_sequence(read_collection(tmp_path / "drive"), job.name)
    assert ui.drive is None and len(ui.scene.sequence) == len(want) == 4
    assert ui.player is not None and len(ui.player.frames) == 4 and "4 frames" in ui.status.message


def test_drive_job_reports_a_failure_in_one_line(tmp_path):
    job = DriveJob(tmp_path / "missing.mp4", "assets/demo/avatar.pav", tmp_path / "drive")
    assert job.wait(120)
    assert job.error is not None and "missing.mp4" in job.error and "\n" not in job.error
    crashed = DriveJob(tmp_path / "clip.mp4", "assets/demo/avatar.pav", tmp_path / "d2", track="drive_fakes:failing_track")
    assert crashed.wait(120) and crashed.progress == 0.2
    assert "no face" in crashed.error and "\n" not in crashed.error and crashed.collection is None
    ui = SimpleNamespace(drive=job, status=SimpleNamespace(message=""), scene=SimpleNamespace(sequence=None),
                         player=None)
    App._poll_drive(ui)
    assert ui.player is None and ui.status.message.startswith("driving video failed")


def make_folder(root: Path) -> Path:
    for name in ("Zeta", "alpha", ".git"):
        (root / name).mkdir()
    for name in ("z.MP4", "a.mov", "clip.mp4", "notes.txt", ".hidden.mp4", "frames.png", "B.webm"):
        (root / name).write_bytes(b"")
    (root / "alpha" / "inner.mkv").write_bytes(b"")
    return root


def test_file_browser_lists_folders_then_videos_and_navigates(tmp_path):
    root = make_folder(tmp_path)
    b = FileBrowser(root)
    # written out by hand: folders first, then videos, each case-insensitively sorted, no hidden names, no others
    assert b.entries() == [Entry("alpha", True), Entry("Zeta", True), Entry("a.mov", False), Entry("B.webm", False),
                           Entry("clip.mp4", False), Entry("z.MP4", False)]
    assert b.pick(Entry("alpha", True)) is None and b.folder == root / "alpha"
    assert b.entries() == [Entry("inner.mkv", False)]
    b.pick(Entry("inner.mkv", False))
    assert b.typed == "inner.mkv" and b.submit() == root / "alpha" / "inner.mkv"
    b.up()
    assert b.folder == root and b.typed == ""
    b.typed = "alpha/inner.mkv"  # relative to the folder shown
    assert b.submit() == root / "alpha" / "inner.mkv"
    b.typed = str(root / "notes.txt")  # typed paths need not be listed (ffmpeg reads more than the list shows)
    assert b.submit() == root / "notes.txt"
    b.typed = "Zeta"  # a folder opens instead
    assert b.submit() is None and b.folder == root / "Zeta" and b.error == ""


def test_file_browser_errors_are_one_line_and_the_listing_is_cached(tmp_path, monkeypatch):
    root = make_folder(tmp_path)
    b = FileBrowser(root)
    for typed, message in (("", "choose a video file"), ("missing.mp4", "no such file"),
                           ("alpha/../nope/x.mp4", "no such file")):
        b.typed = typed
        assert b.submit() is None and message in b.error and "\n" not in b.error
    assert not b.go("notes.txt") and "not a folder" in b.error and b.folder == root
    n = len(b.entries())
    (root / "new.mp4").write_bytes(b"")
    assert len(b.entries()) == n  # listed once per folder, not every UI frame
    b.refresh()
    assert Entry("new.mp4", False) in b.entries()
    monkeypatch.setenv("HOME", str(root / "alpha"))
    b.typed = "~/inner.mkv"
    assert b.submit() == root / "alpha" / "inner.mkv"
    b.folder = root / "gone"
    assert b.entries() == [] and "cannot list" in b.error


def test_drive_dialog_starts_one_job_against_the_avatar(tmp_path):
    started = []
    ui = SimpleNamespace(drive=None, status=SimpleNamespace(message=""))
    dialog = DriveDialog(start=lambda video, ckpt: started.append((video, ckpt)) or
                         SimpleNamespace(done=False, video=video), visible=True)
    assert not dialog.choose(ui, tmp_path / "a.mp4") and "needs an avatar checkpoint" in ui.status.message
    assert started == [] and ui.drive is None
    dialog.checkpoint = Path("assets/demo/avatar.pav")
    assert dialog.choose(ui, tmp_path / "a.mp4") and started == [(tmp_path / "a.mp4", dialog.checkpoint)]
    assert ui.drive.video == tmp_path / "a.mp4" and not dialog.visible and "tracking a.mp4" in ui.status.message
    dialog.visible = True
    assert not dialog.choose(ui, tmp_path / "b.mp4") and "already tracking a.mp4" in ui.status.message
    assert len(started) == 1 and dialog.visible


@pytest.mark.gui
@pytest.mark.slow
def test_clicking_through_the_dialog_in_a_real_window_plays_the_tracked_video(display, tmp_path):
    (tmp_path / "videos").mkdir()
    root = make_folder(tmp_path / "videos")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, DISPLAY=display)
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "drive_dialog_driver.py"), str(root),
                           str(out)], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads((out / "facts.json").read_text())
    assert "timeout" not in facts
    assert facts["visible_after_button"] and facts["typed"] == "clip.mp4"  # the clicks landed
    assert facts["entries"] == ["alpha", "Zeta", "a.mov", "B.webm", "clip.mp4", "z.MP4"]
    assert facts["started"] == [[str(root / "clip.mp4"), "assets/demo/avatar.pav"]]
    assert facts["sequence_frames"] == 4 and facts["message"] == "tracked clip.mp4: 4 frames to play"
    assert facts["visible_after_open"] is False and (out / "dialog.png").stat().st_size > 0
