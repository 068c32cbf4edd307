"""Synthetic collections: deterministic, readable, geometrically exact ground truth, documented splits, and
hair/beard volume that is real geometry in the images but not in the stored head parameters."""
import math

import numpy as np
import pytest
import torch

from pav.cli import main as cli_main
from pav.data import load_split, read_collection
from pav.data.synth import SynthConfig
from pav.data.synth.generate import generate
from pav.data.synth.trajectory import talking_head
from pav.geometry import rasterize
from pav.head import load_head_model

TINY = SynthConfig(appearances=2, frames=6, size=32, seed=3, texture_size=128)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    return generate(TINY, root)


@pytest.fixture(scope="module")
def head():
    return load_head_model("default")


def files_of(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_images(tiny, tmp_path):
    again = generate(TINY, tmp_path / "again")
    assert files_of(tiny.root) == files_of(again.root)
    other = generate(SynthConfig(appearances=1, frames=2, size=32, seed=4, texture_size=128), tmp_path / "other")
    a = read_collection(tiny.root).appearances[0]
    b = read_collection(other.root).appearances[0]
    assert not torch.equal(a.image(a.frames[0]), b.image(b.frames[0]))


def test_stored_parameters_reproduce_the_stored_depth(tiny, head):
    col = read_collection(tiny.root)
    col.check_head_model(head)
    for app in col.appearances:
        for frame in app.frames:
            if frame.split == "novel" and frame.view is None:  # replay frames have no depth; novel views do
                continue
            verts = head(shape=col.shape(), expression=torch.tensor(frame.expression[None], dtype=torch.float32),
                         pose=torch.tensor(frame.pose[None], dtype=torch.float32),
                         translation=torch.tensor(frame.translation[None], dtype=torch.float32)).vertices[0]
            depth = rasterize(verts, head.faces, app.camera(frame)).depth
            depth = torch.where(torch.isfinite(depth), depth, torch.zeros(()))
            stored = app.depth(frame)
            assert (stored > 0).sum() > 50  # the head is in view
            assert torch.equal(stored > 0, depth > 0)
            assert (stored - depth).abs().max() < 1e-4  # 16-bit PNG at 0.1 mm


def test_masks_and_splits(tiny):
    col = read_collection(tiny.root)
    n_test, n_novel = TINY.n_test, TINY.n_novel
    assert (n_test, n_novel) == (1, 1)
    for a, app in enumerate(col.appearances):
        video = [f for f in app.frames if f.view is None]  # the novel views are tested in test_novel_views.py
        assert [f.split for f in video] == ["train"] * 5 + ["test"] + ["novel"]
        assert [f.index for f in video] == list(range(7))
        novel = video[-1]
        assert novel.file_path is None and novel.mask_path is None
        src = col.appearances[(a + 1) % 2]
        assert novel.source == f"{src.name}/5"
        np.testing.assert_array_equal(novel.expression, src.frames[5].expression)  # another video's trajectory
        np.testing.assert_array_equal(novel.pose, src.frames[5].pose)
        np.testing.assert_array_equal(novel.c2w, app.frames[0].c2w)  # seen through this video's camera
        for frame in video[:-1]:
            face, fg = app.face_mask(frame), app.mask(frame)
            assert set(face.unique().tolist()) <= {0.0, 1.0}
            assert face.sum() > 0 and bool((fg[face > 0] == 1).all())  # face ⊂ foreground (fully covered)
            assert bool((app.depth(frame)[face > 0] > 0).all())  # the depth loss has a target there
    assert col.appearances[0].background() is not None
    train = load_split(col, "train")
    assert train.images.shape == (10, 32, 32, 3) and train.depth.shape == (10, 32, 32)
    assert train.backgrounds.shape == (2, 32, 32, 3)


def test_hair_volume_is_in_the_images_not_in_the_mesh(tiny):
    col = read_collection(tiny.root)
    k = max(range(len(tiny.looks)), key=lambda i: tiny.looks[i].hair_thickness)
    assert tiny.looks[k].hair_thickness >= 0.008
    app = col.appearances[k]
    for frame in app.frames_in("train"):
        covered = (app.mask(frame) >= 0.5).sum()
        bare = (app.depth(frame) > 0).sum()
        assert covered > 1.1 * bare, (int(covered), int(bare))


def test_anti_aliased_edges_and_background(tiny):
    col = read_collection(tiny.root)
    app = col.appearances[0]
    frame = app.frames[0]
    alpha = app.mask(frame)
    partial = ((alpha > 0) & (alpha < 1)).sum()
    assert partial > 10  # fractional coverage along the silhouette
    bg = app.background()
    image = app.image(frame)
    empty = alpha == 0
    assert (image[empty] - bg[empty]).abs().max() <= 1 / 255 + 1e-6


def test_preview_grid_tiles_are_the_stored_frames(tiny):
    """Row a, column j of preview.png is appearance a's frame j (6 frames, 6 columns), byte for byte;
    the 2-pixel gaps are the dark grey 0.1."""
    from pav.io import read_png

    grid = read_png(tiny.preview)
    cols = min(TINY.preview_columns, TINY.frames)
    assert grid.shape == (2 * 34 + 2, cols * 34 + 2, 3)
    col = read_collection(tiny.root)
    gaps = np.ones(grid.shape[:2], bool)
    for a, app in enumerate(col.appearances):
        for j in range(cols):
            y, x = 2 + 34 * a, 2 + 34 * j
            stored = (app.image(app.frames[j]) * 255).round().to(torch.uint8).numpy()
            np.testing.assert_array_equal(grid[y:y + 32, x:x + 32], stored)
            gaps[y:y + 32, x:x + 32] = False
    assert (grid[gaps] == round(0.1 * 255)).all()


def _coverage(lo: float, hi: float, n: int, s: int) -> np.ndarray:
    """(n,) how many of the s sub-samples i + (k + 0.5)/s of each pixel i lie in [lo, hi] (one axis)."""
    sub = np.arange(n)[:, None] + (np.arange(s) + 0.5) / s
    return ((sub >= lo) & (sub <= hi)).sum(1)


def test_render_matches_a_closed_form_on_a_lit_quad():
    """pav.data.synth.render on a textured rectangle facing the camera (no shells): per pixel, alpha is
    the exact covered share of the s × s sub-samples, colour = albedo · (ambient + wrap-Lambert · light)
    composited over the background, face mask = every sub-sample covered, depth = the plane's z."""
    from types import SimpleNamespace

    from pav.camera import Camera
    from pav.data.synth.render import WRAP, Scene, render

    W, H, s, z = 16, 12, 3, 1.5
    cam = Camera(torch.eye(4), 16.0, 16.0, 8.0, 6.0, W, H)
    u0, u1, v0, v1 = 3.3, 11.6, 2.8, 9.25  # rectangle edges in pixels, off every sub-sample position
    x0, x1 = [(u - cam.cx) * z / cam.fx for u in (u0, u1)]
    y0, y1 = [(v - cam.cy) * z / cam.fy for v in (v0, v1)]
    verts = torch.tensor([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # normals towards the camera (−z)
    albedo = torch.tensor([0.6, 0.4, 0.3])
    texture = albedo[:, None, None].expand(3, 8, 8)
    scene = Scene(faces, torch.full((2, 3, 2), 0.5), torch.zeros(2, 3, 3), torch.zeros(2, dtype=torch.int64),
                  torch.ones(2, dtype=torch.bool), torch.zeros(0, 4), torch.stack([texture] * 3).contiguous())
    theta = 0.7
    look = SimpleNamespace(ambient=(0.2, 0.25, 0.3), light=(0.9, 0.8, 0.7),
                           light_dir=(0.0, math.sin(theta), -math.cos(theta)))
    background = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(0))
    out = render(scene, look, verts, cam, background, faces, s)

    count = _coverage(v0, v1, H, s)[:, None] * _coverage(u0, u1, W, s)[None, :]  # (H, W) of s² sub-samples
    alpha = count / s ** 2
    wrap = float(WRAP[0])
    shade = albedo.numpy() * (np.array(look.ambient) + (math.cos(theta) + wrap) / (1 + wrap) * np.array(look.light))
    image = alpha[..., None] * shade + (1 - alpha[..., None]) * background.numpy()
    np.testing.assert_allclose(out.alpha, alpha, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.image, image, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out.face, count == s ** 2)
    centre = _coverage(v0, v1, H, 1)[:, None] * _coverage(u0, u1, W, 1)[None, :]
    np.testing.assert_allclose(out.depth, np.where(centre > 0, z, 0.0), rtol=0, atol=1e-6)
    assert 0 < (alpha > 0).sum() - (alpha == 1).sum() and (alpha == 1).sum() > 20  # edges and interior


def test_trajectory_ranges():
    head_names = (["jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft"],
                  ["global", "neck", "jaw", "left_eye", "right_eye"])
    t = talking_head(np.random.default_rng(0), 2500, 25.0, *head_names)
    yaw, pitch = t.pose[:, 0, 1], t.pose[:, 0, 0]
    assert np.abs(yaw).max() <= math.radians(35) and np.abs(yaw).max() > math.radians(25)
    assert np.abs(pitch).max() <= math.radians(20) and np.abs(pitch).max() > math.radians(12)
    assert t.expression[:, 1].max() > 0.99 and (t.expression[:, 1] > 0.5).mean() < 0.1  # short blinks
    assert np.abs(np.diff(yaw)).max() < math.radians(3)  # smooth at 25 fps
    assert t.pose[:, 2, 0].min() >= 0  # the jaw only opens
    assert (t.expression >= 0).all() and (t.expression <= 1).all()


def test_cli_refuses_to_overwrite_and_rejects_bad_sizes(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert cli_main(["synth", str(tmp_path), "--frames", "2", "--size", "32"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not empty" in err and "\n" not in err
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert cli_main(["synth", str(tmp_path / "new"), "--size", "8"]) == 2
    assert "argument --size: must be in 16..2048, got 8" in capsys.readouterr().err
    assert cli_main(["synth", str(tmp_path / "new"), "--supersample", "2"]) == 2
    assert "odd" in capsys.readouterr().err
