"""The viewer opens a driving video: tracking runs in a background thread with progress, and its result
becomes the player's sequence (issue 16 §2, GUI-free)."""
from __future__ import annotations

import time
from types import SimpleNamespace

from pav.data import read_collection
from pav.data.synth import SynthConfig
from pav.data.synth.generate import generate
from viewer.app import App
from viewer.drive_job import DriveJob
from viewer.scenes import collection_sequence


def test_drive_job_tracks_in_the_background_and_becomes_the_sequence(tmp_path):
    calls = []

    def fake_track(args, report):  # stands in for `pav track` (tested in test_track_fit / test_drive)
        calls.append(args)
        for k in range(5):
            report("landmarks", 0.1 * k)
            time.sleep(0.05)
        generate(SynthConfig(appearances=1, frames=4, size=32, seed=1, texture_size=128, novel_view_frames=0),
                 args.out)
        return 0

    video = tmp_path / "new_clip.mp4"
    video.write_bytes(b"")
    job = DriveJob(video, "assets/demo/avatar.pav", tmp_path / "drive", track=fake_track)
    seen = []
    while not job.done:  # the caller (the UI loop) is never blocked
        seen.append(job.progress)
        time.sleep(0.01)
    assert job.error is None and job.progress == 1.0 and len(set(seen)) >= 2
    args = calls[0]
    assert args.identity.name == "avatar.pav" and args.inputs == [video] and args.test_fraction == 0.0
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
    ui = SimpleNamespace(drive=job, status=SimpleNamespace(message=""), scene=SimpleNamespace(sequence=None),
                         player=None)
    App._poll_drive(ui)
    assert ui.player is None and ui.status.message.startswith("driving video failed")
