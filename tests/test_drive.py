"""Driving an avatar with a tracked video: camera modes, relative transfer, side by side (issue 16 §2)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pav
from pav.cli import main
from pav.data import read_collection
from pav.data.synth import SynthConfig
from pav.data.synth.generate import generate
from pav.drive import DriveOptions, drive, neutral_index, relative_transfer, side_by_side
from pav.export import ClipFrame, orbit_camera


@pytest.fixture(scope="module")
def demo():
    return pav.load_avatar("assets/demo/avatar.pav")


@pytest.fixture(scope="module")
def driving(tmp_path_factory):
    """A tiny collection on the demo avatar's head model (the built-in one)."""
    root = tmp_path_factory.mktemp("drive") / "data"
    generate(SynthConfig(appearances=1, frames=4, size=32, seed=3, texture_size=128), root)
    return read_collection(root)


def test_relative_transfer_closed_form():
    e = torch.tensor([[0.3, 0.1], [0.05, 0.02], [0.6, 0.4]])
    pose = torch.zeros(3, 5, 3)
    pose[:, 2, 0] = torch.tensor([0.2, 0.05, 0.3])  # jaw
    frames = [ClipFrame(None, e[k], pose[k], None, 0) for k in range(3)]
    assert neutral_index(e) == 1
    out = relative_transfer(frames, 1, jaw=2)
    for k in range(3):
        torch.testing.assert_close(out[k].expression, e[k] - e[1], rtol=0, atol=0)
        assert out[k].pose[2, 0] == pytest.approx(float(pose[k, 2, 0] - pose[1, 2, 0]))
        torch.testing.assert_close(out[k].pose[0], pose[k, 0], rtol=0, atol=0)  # other joints untouched
    torch.testing.assert_close(out[1].expression, torch.zeros(2), rtol=0, atol=0)  # neutral → avatar's zero


def test_camera_modes(demo, driving):
    name = driving.appearance_names[0]
    app = driving.appearance(name)
    ordered = sorted((f for f in app.frames if f.view is None), key=lambda f: f.index)  # the video only
    clip = drive(demo, driving, name, 32, options=DriveOptions("driving"))
    for f, src in zip(clip.frames, ordered):  # the driving video's own cameras and parameters
        torch.testing.assert_close(f.camera.c2w.double(), app.camera(src).c2w.double(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(f.expression.numpy(), src.expression, atol=1e-6)
        np.testing.assert_allclose(f.translation.numpy(), src.translation, atol=1e-6)
        assert f.appearance == 0  # a video the avatar was not trained on: its first appearance
    assert len(clip.driving_images) == len(ordered) and clip.driving_images[0].dtype == np.uint8
    fixed = drive(demo, driving, name, 32, options=DriveOptions("avatar"))
    front = orbit_camera(demo, 32)
    assert all(f.translation is None and torch.equal(f.camera.c2w, front.c2w) for f in fixed.frames)
    orbit = drive(demo, driving, name, 32, options=DriveOptions("orbit", orbit_degrees=40.0))
    first, last = orbit.frames[0].camera.c2w[:3, 2], orbit.frames[-1].camera.c2w[:3, 2]
    angle = math.degrees(math.acos(float((first[[0, 2]] @ last[[0, 2]]) / first[[0, 2]].norm() / last[[0, 2]].norm())))
    assert angle == pytest.approx(40.0, abs=0.5)
    with pytest.raises(ValueError, match="neutral-frame 9"):
        drive(demo, driving, name, 32, options=DriveOptions(relative=True, neutral_frame=9))


def test_driving_with_its_own_collection_reproduces_the_collection_renders(demo, driving, tmp_path):
    """render --drive DATA/NAME --camera driving renders exactly avatar.render(frame camera, parameters)."""
    name = driving.appearance_names[0]
    app = driving.appearance(name)
    src = sorted(app.frames, key=lambda f: f.index)[0]
    clip = drive(demo, driving, name, None, options=DriveOptions("driving"))
    f = clip.frames[0]
    got = demo.render(f.camera, f.expression, f.pose, 0, translation=f.translation).rgb
    want = demo.render(app.camera(src), torch.as_tensor(src.expression, dtype=torch.float32),
                       torch.as_tensor(src.pose, dtype=torch.float32), 0,
                       translation=torch.as_tensor(src.translation, dtype=torch.float32)).rgb
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_side_by_side_layout():
    left = np.full((16, 24, 3), 10, np.uint8)
    right = np.full((32, 32, 3), 200, np.uint8)
    out = side_by_side(left, right)
    assert out.shape == (32, 48 + 32, 3)
    assert (out[:, :48] == 10).all() and (out[:, 48:] == 200).all()


def test_render_drive_cli_side_by_side_and_errors(driving, tmp_path, capsys):
    import imageio_ffmpeg

    drive_dir = str(driving.root / driving.appearances[0].folder.name)
    clip = tmp_path / "sbs.mp4"
    assert main(["render", "assets/demo/avatar.pav", "--drive", drive_dir, "--out", str(clip), "--size", "32",
                 "--side-by-side", "--relative"]) == 0
    reader = imageio_ffmpeg.read_frames(str(clip))
    meta = next(reader)
    assert tuple(meta["size"]) == (64, 32) and sum(1 for _ in reader) == 4
    assert "neutral frame" in capsys.readouterr().out
    for argv, fragment in ((["--neutral-frame", "7"], "neutral-frame 7"),):
        assert main(["render", "assets/demo/avatar.pav", "--drive", drive_dir, "--out", str(tmp_path / "x.mp4"),
                     "--size", "32", *argv]) == 2
        assert fragment in capsys.readouterr().err
    assert main(["render", "assets/demo/avatar.pav", "--out", str(tmp_path / "y.mp4"), "--relative"]) == 2
    assert "need --drive" in capsys.readouterr().err
