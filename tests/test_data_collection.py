"""Collection format: the reader returns exactly what the writer wrote, and every kind of damage gives a
one-line error naming the file and the field (also at the CLI: exit code 2, no traceback)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from pav.camera import orbit
from pav.cli import main as cli_main
from pav.head import load_head_model
from pav.data import (Appearance, AppearanceEntry, Frame, HeadModelRef, Manifest, frame_paths, load_split,
                      read_collection, write_background, write_frame_files, write_manifest, write_transforms)

E_NAMES = ["browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft"]  # the built-in model's first four
J_NAMES = ["global", "neck", "jaw", "left_eye", "right_eye"]
W, H = 12, 10


def make_collection(root, seed=0):
    """Two appearances (4 frames + 1 novel each) of random numbers and random uint8 images on disk.
    Returns (manifest, appearances, pixels) where pixels[(appearance, frame index)] = the arrays written."""
    rng = np.random.default_rng(seed)
    entries = [AppearanceEntry("beard", "app0"), AppearanceEntry("clean shaven", "app1")]
    head = load_head_model("default")  # check-data verifies the checksum, names and shape size against it
    manifest = Manifest("test subject", HeadModelRef("default", head.name, head.checksum()), rng.normal(size=7).tolist(),
                        entries, "made by a test")
    apps, pixels = [], {}
    for a, entry in enumerate(entries):
        app = Appearance(entry.name, root / entry.folder, W, H, fx=20.0 + a, fy=21.5, cx=6.0, cy=5.25,
                         expression_names=E_NAMES, joint_names=J_NAMES, frames=[], fps=30.0,
                         background_path="background.png" if a == 0 else None,
                         background_color=None if a == 0 else (0.25, 0.5, 1.0), extra={"note": "kept"})
        for k in range(5):
            split = ("train", "train", "train", "test", "novel")[k]
            c2w = orbit(rng.normal(size=3) * 0.01, 0.7, rng.uniform(-30, 30), rng.uniform(-10, 10)).numpy()
            paths = frame_paths(k, depth=(a == 0)) if split != "novel" else {}
            frame = Frame(k, k / 30.0, split, c2w, fx=app.fx if k != 2 else 30.0, fy=app.fy, cx=app.cx, cy=app.cy,
                          expression=rng.normal(size=len(E_NAMES)), pose=rng.normal(size=(len(J_NAMES), 3)) * 0.1,
                          translation=rng.normal(size=3) * 0.01, source="clean shaven/3" if split == "novel" else None,
                          **paths)
            app.frames.append(frame)
            if split != "novel":
                arrays = dict(image=rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
                              mask=rng.integers(0, 256, (H, W), dtype=np.uint8),
                              face_mask=rng.integers(0, 256, (H, W), dtype=np.uint8),
                              depth=rng.integers(0, 20000, (H, W)) * app.depth_scale if a == 0 else None)
                write_frame_files(app, frame, **arrays)
                pixels[(a, k)] = arrays
        if a == 0:
            pixels[(a, "bg")] = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            write_background(app, pixels[(a, "bg")])
        write_transforms(app)
        apps.append(app)
    write_manifest(root, manifest)
    return manifest, apps, pixels


@pytest.fixture
def written(tmp_path):
    return (tmp_path / "data",) + make_collection(tmp_path / "data")


def test_reader_returns_exactly_what_the_writer_wrote(written):
    root, manifest, apps, pixels = written
    col = read_collection(root)
    assert col.manifest == manifest
    for a, (want, got) in enumerate(zip(apps, col.appearances)):
        for key in ("name", "folder", "width", "height", "fx", "fy", "cx", "cy", "expression_names", "joint_names",
                    "fps", "depth_scale", "background_path", "background_color", "extra"):
            assert getattr(got, key) == getattr(want, key), key
        for fw, fg in zip(want.frames, got.frames):
            for key in ("index", "timestamp", "split", "fx", "fy", "cx", "cy", "file_path", "mask_path",
                        "face_mask_path", "depth_path", "source"):
                assert getattr(fg, key) == getattr(fw, key), key
            for key in ("c2w", "expression", "pose", "translation"):
                np.testing.assert_array_equal(getattr(fg, key), getattr(fw, key))  # bit-exact
            if fw.split == "novel":
                continue
            px = pixels[(a, fw.index)]
            assert torch.equal(got.image(fg), torch.from_numpy(px["image"]).float() / 255)
            assert torch.equal(got.mask(fg), torch.from_numpy(px["mask"]).float() / 255)
            assert torch.equal(got.face_mask(fg), torch.from_numpy(px["face_mask"]).float() / 255)
            if px["depth"] is not None:
                np.testing.assert_allclose(got.depth(fg).numpy(), px["depth"], rtol=1e-6, atol=0)
    bg0 = col.appearances[0].background()
    assert torch.equal(bg0, torch.from_numpy(pixels[(0, "bg")]).float() / 255)
    assert torch.equal(col.appearances[1].background()[3, 4], torch.tensor([0.25, 0.5, 1.0]))


def test_load_split_stacks_numbers_in_order(written):
    root, _, apps, pixels = written
    col = read_collection(root)
    train = load_split(col, "train")
    assert train.images.shape == (6, H, W, 3) and train.depth is None  # app1 has no depth files
    assert train.appearance.tolist() == [0, 0, 0, 1, 1, 1] and train.frame_index.tolist() == [0, 1, 2] * 2
    assert torch.equal(train.images[4], torch.from_numpy(pixels[(1, 1)]["image"]).float() / 255)
    f = apps[1].frames[2]
    assert torch.equal(train.expression[5], torch.as_tensor(f.expression, dtype=torch.float32))
    assert torch.equal(train.pose[5], torch.as_tensor(f.pose, dtype=torch.float32))
    assert train.intrinsics[5].tolist() == [30.0, 21.5, 6.0, 5.25]  # the per-frame focal override
    cam = train.camera(5)
    assert torch.equal(cam.c2w, torch.as_tensor(f.c2w, dtype=torch.float32)) and cam.width == W
    assert train.backgrounds.shape == (2, H, W, 3)
    only0 = load_split(col, "train", appearances=["beard"])
    assert only0.depth is not None and only0.depth.shape == (3, H, W)
    novel = load_split(col, "novel")
    assert novel.images is None and novel.expression.shape == (2, len(E_NAMES))


def edit_json(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def damage_nan(root):
    edit_json(root / "app0/transforms.json", lambda d: d["frames"][3]["expression"].__setitem__(1, math.nan))


def damage_size(root):
    from PIL import Image
    Image.new("RGB", (W + 1, H)).save(root / "app1/images/00001.png")


def damage_pose(root):
    edit_json(root / "app1/transforms.json", lambda d: d["frames"][0].__setitem__("pose", [[0, 0, 0]] * 4))


CASES = {
    "missing image": (lambda root: (root / "app0/images/00002.png").unlink(), FileNotFoundError,
                      ["app0/images/00002.png", "frames[2].file_path", "not found"]),
    "bad json": (lambda root: (root / "app1/transforms.json").write_text('{"w": 12, "h": 10,'), ValueError,
                 ["app1/transforms.json", "invalid JSON", "line 1"]),
    "bad manifest": (lambda root: (root / "collection.json").write_text("[1, 2"), ValueError,
                     ["collection.json", "invalid JSON"]),
    "wrong image size": (damage_size, ValueError, ["app1/images/00001.png", "13×10", "expected 12×10",
                                                    "frames[1].file_path"]),
    "NaN expression": (damage_nan, ValueError, ["app0/transforms.json", "frames[3].expression contains NaN"]),
    "NaN manifest shape": (lambda root: edit_json(root / "collection.json", lambda d: d["shape"].__setitem__(
        0, math.nan)), ValueError, ["collection.json", "shape contains NaN"]),
    "wrong pose shape": (damage_pose, ValueError, ["app1/transforms.json", "frames[0].pose has shape (4, 3)",
                                                   "expected (5, 3)"]),
    "missing field": (lambda root: edit_json(root / "app0/transforms.json", lambda d: d.pop("fl_x")),
                      ValueError, ["app0/transforms.json", "fl_x is missing"]),
    "bad split": (lambda root: edit_json(root / "app0/transforms.json", lambda d: d["frames"][1].__setitem__(
        "split", "val")), ValueError, ["frames[1].split must be one of"]),
    "missing folder": (lambda root: __import__("shutil").rmtree(root / "app1"), FileNotFoundError,
                       ["app1", "appearance folder of 'clean shaven' not found"]),
    "newer version": (lambda root: edit_json(root / "collection.json", lambda d: d.__setitem__("version", 9)),
                      ValueError, ["collection.json", "version is 9", "newer PAV"]),
    "escaping path": (lambda root: edit_json(root / "app0/transforms.json", lambda d: d["frames"][0].__setitem__(
        "mask_path", "../../etc/passwd")), ValueError, ["frames[0].mask_path must be a relative path inside"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damage_gives_one_line_error_naming_file_and_field(written, case):
    root = written[0]
    damage, exc_type, fragments = CASES[case]
    damage(root)
    with pytest.raises(exc_type) as info:
        read_collection(root)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_lazy_load_rechecks_the_file(written):
    root = written[0]
    col = read_collection(root)
    damage_size(root)  # damaged after reading: found when the image is loaded
    frame = col.appearances[1].frames[1]
    with pytest.raises(ValueError, match=r"app1/images/00001.png: size 13×10, expected 12×10.*frame 1 file_path"):
        col.appearances[1].image(frame)


def test_pose_may_be_given_per_joint_name(written):
    root = written[0]
    edit_json(root / "app0/transforms.json", lambda d: d["frames"][0].__setitem__("pose", {"jaw": [0.1, 0, 0]}))
    pose = read_collection(root).appearances[0].frames[0].pose
    assert pose.tolist() == [[0, 0, 0], [0, 0, 0], [0.1, 0, 0], [0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("case", ["missing image", "bad json", "wrong image size", "NaN expression"])
def test_cli_reports_damage_in_one_line_with_exit_code_2(written, capsys, case):
    root = written[0]
    assert cli_main(["check-data", str(root), "--decode"]) == 0
    assert "ok" in capsys.readouterr().out
    damage, _, fragments = CASES[case]
    damage(root)
    assert cli_main(["check-data", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_cli_subprocess_has_no_traceback(written):
    root = written[0]
    damage_nan(root)
    proc = subprocess.run([sys.executable, "-m", "pav", "check-data", str(root)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "frames[3].expression contains NaN" in proc.stderr
