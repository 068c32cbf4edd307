"""Novel views with ground truth (issue 18 §1): synth --novel-views, the reader's checks, eval --split novel,
the contact sheet and reproduce's novel-view table."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.transform import Rotation
from skimage.metrics import structural_similarity

from pav.checkpoint import load_avatar, save_avatar
from pav.cli import main
from pav.data import load_split, read_collection
from pav.data.synth.config import SynthConfig
from pav.data.synth.generate import generate
from pav.eval.novel import contact_sheet
from pav.eval.reproduce import render_tables
from pav.head import load_head_model
from pav.nerf.avatar import Avatar
from test_avatar import small_config

TINY = SynthConfig(appearances=2, frames=6, size=32, seed=3, supersample=1, texture_size=128, novel_view_frames=1,
                   novel_yaws=(0.0, 30.0), novel_pitches=(-15.0, 15.0))
VIEWS = [(0.0, 0.0), (30.0, 0.0), (0.0, -15.0), (0.0, 15.0)]


def test_default_views():
    from pav.data.synth.novelviews import view_angles

    config = SynthConfig()
    assert view_angles(config.novel_yaws, config.novel_pitches) == [
        (0.0, 0.0), (15.0, 0.0), (30.0, 0.0), (45.0, 0.0), (60.0, 0.0), (0.0, -15.0), (0.0, 15.0)]
    from pav.cli import build_parser

    args = build_parser().parse_args(["synth", "out", "--novel-views", "-30,0.5", "--novel-pitches", "-15,-5"])
    assert args.novel_views == (-30.0, 0.5) and args.novel_pitches == (-15.0, -5.0)
    args = build_parser().parse_args(["synth", "out", "--novel-views", "", "--novel-pitches="])
    assert args.novel_views == () and args.novel_pitches == ()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("novel") / "data"
    generate(TINY, root)
    return root


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory):
    collection = read_collection(data)
    torch.manual_seed(0)
    avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                    collection.appearance_names)
    with torch.no_grad():  # visible density and distinct colours, so renders differ per view
        avatar.field.mlp_d.last.bias[0] = 4.0
        for p in avatar.parameters():
            if p.ndim == 4:
                p.normal_(0, 1.0)
    path = tmp_path_factory.mktemp("ckpt") / "avatar.pav"
    save_avatar(avatar, path)
    return path


def views_of(app):
    return [f for f in app.frames if f.split == "novel" and f.view is not None]


def test_the_views_and_the_yaw_0_view_equals_its_test_frame(data):
    collection = read_collection(data)
    for app in collection.appearances:
        test = app.frames_in("test")[0]
        views = views_of(app)
        assert [(f.view.yaw, f.view.pitch) for f in views] == VIEWS
        assert all(f.view.test_frame == test.index for f in views)
        assert len([f for f in app.frames_in("novel") if f.view is None]) == TINY.n_novel  # replay frames kept
        front = views[0]
        assert np.array_equal(front.c2w, test.c2w)  # bit for bit
        assert (front.fx, front.fy, front.cx, front.cy) == (test.fx, test.fy, test.cx, test.cy)
        for key in ("expression", "pose", "translation"):
            assert np.array_equal(getattr(front, key), getattr(test, key))
        assert torch.equal(app.image(front), app.image(test)) and torch.equal(app.mask(front), app.mask(test))
        assert not torch.equal(app.image(views[1]), app.image(test))  # 30° shows something else
        assert all(f.file_path.startswith("novel_views/images/") for f in views)
        assert sorted(p.name for p in (app.folder / "images").iterdir()) == [f"{k:05d}.png" for k in range(6)]


def test_load_split_novel_with_and_without_ground_truth(data):
    collection = read_collection(data)
    views = load_split(collection, "novel", ground_truth=True)
    assert views.images.shape == (2 * len(VIEWS), 32, 32, 3)
    assert views.views.tolist() == [list(v) for v in VIEWS] * 2
    want = [f for app in collection.appearances for f in views_of(app)]
    assert views.frame_index.tolist() == [f.index for f in want]
    torch.testing.assert_close(views.c2w, torch.tensor(np.stack([f.c2w for f in want]), dtype=torch.float32))
    mixed = load_split(collection, "novel")  # replay frames too: no images for the whole batch
    assert mixed.images is None and mixed.views is None and len(mixed.frame_index) == 2 * (len(VIEWS) + 1)


def ry(degrees):
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def test_cameras_are_rotated_about_the_head_centre_by_the_stated_angles(data):
    """Against closed forms: Ry(θ) written out, scipy's rotation about the camera's −x axis for pitch; the
    centre is recomputed from the frame's parameters with the head model."""
    collection = read_collection(data)
    model = load_head_model("default")
    shape = collection.shape()
    for app in collection.appearances:
        test = app.frames_in("test")[0]
        with torch.no_grad():
            v = model(shape=shape, expression=torch.tensor(test.expression[None], dtype=torch.float32),
                      pose=torch.tensor(test.pose[None], dtype=torch.float32),
                      translation=torch.tensor(test.translation[None], dtype=torch.float32)).vertices[0].double()
        center = ((v.min(0).values + v.max(0).values) / 2).numpy()
        Rc, p = test.c2w[:3, :3], test.c2w[:3, 3]
        for f in views_of(app):
            np.testing.assert_allclose(f.view.center, center, rtol=0, atol=1e-6)
            if f.view.pitch == 0:
                R = ry(f.view.yaw)
            else:
                assert f.view.yaw == 0
                axis = -Rc[:, 0] / np.linalg.norm(Rc[:, 0])  # the stored float32 axes are unit to ~1e-8 only
                R = Rotation.from_rotvec(axis * math.radians(f.view.pitch)).as_matrix()
            np.testing.assert_allclose(f.c2w[:3, :3], R @ Rc, rtol=0, atol=1e-12)
            np.testing.assert_allclose(f.c2w[:3, 3], center + R @ (p - center), rtol=0, atol=1e-12)
            np.testing.assert_allclose(f.c2w[3], [0, 0, 0, 1], rtol=0, atol=0)
            # the centre keeps its camera coordinates (same pixel, same depth)
            np.testing.assert_allclose(f.c2w[:3, :3].T @ (center - f.c2w[:3, 3]), Rc.T @ (center - p), atol=1e-12)
            moved = f.c2w[:3, 3] - p  # signs: +yaw toward +x (camera in front, at +z), +pitch up (+y)
            if f.view.yaw:
                assert np.sign(moved[0]) == np.sign(f.view.yaw) and abs(moved[1]) < 1e-12
            if f.view.pitch:
                assert np.sign(moved[1]) == np.sign(f.view.pitch)


def _rewrite(tmp_path, data, change):
    root = tmp_path / "bad"
    shutil.copytree(data, root)
    path = root / "app0" / "transforms.json"
    doc = json.loads(path.read_text())
    frames = doc["frames"]
    change(frames, [k for k, f in enumerate(frames) if "view" in f])
    path.write_text(json.dumps(doc))
    return root


def _drop(frame, key):
    del frame[key]


BAD = [
    ("a view without its image", lambda fr, v: _drop(fr[v[1]], "file_path"),
     r"frames\[\d+\]\.file_path is missing \(required for novel frames with a view"),
    ("images without a view", lambda fr, v: _drop(fr[v[1]], "view"),
     r"frames\[\d+\]\.file_path is set on a novel frame without a view record"),
    ("a NaN yaw", lambda fr, v: fr[v[2]]["view"].update(yaw=float("nan")), r"view\.yaw is nan \(must be finite\)"),
    ("pitch 90", lambda fr, v: fr[v[2]]["view"].update(pitch=90), r"view\.pitch must be in \(-90, 90\)"),
    ("a centre of two numbers", lambda fr, v: fr[v[0]]["view"].update(center=[0, 0]), r"view\.center has shape"),
    ("a train frame as its test frame", lambda fr, v: fr[v[0]]["view"].update(test_frame=0),
     r"view\.test_frame 0 is not the frame_index of a test frame"),
    ("a view on a test frame", lambda fr, v: fr[5].update(view=fr[v[0]]["view"]),
     r"frames\[5\]\.view is only allowed on novel frames"),
    ("a camera that is not a rotation", lambda fr, v: fr[v[1]]["transform_matrix"][0].__setitem__(0, 2.0),
     r"transform_matrix rotation part is not a rotation"),
]


@pytest.mark.parametrize("what, change, message", BAD, ids=[b[0] for b in BAD])
def test_reader_rejects_a_malformed_novel_frame(tmp_path, data, what, change, message):
    root = _rewrite(tmp_path, data, change)
    with pytest.raises(ValueError, match=message) as err:
        read_collection(root)
    assert "\n" not in str(err.value) and "transforms.json" in str(err.value)


def test_check_data_on_a_malformed_novel_frame_is_one_line_and_exit_2(tmp_path, data, capsys):
    root = _rewrite(tmp_path, data, lambda fr, v: _drop(fr[v[1]], "file_path"))
    assert main(["check-data", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "file_path is missing" in err


def _render(avatar, app, f):
    with torch.no_grad():
        return avatar.render(app.camera(f), torch.tensor(f.expression, dtype=torch.float32),
                             torch.tensor(f.pose, dtype=torch.float32), avatar.appearance_names.index(app.name),
                             translation=torch.tensor(f.translation, dtype=torch.float32),
                             background=app.background()).rgb.clamp(0, 1)


@pytest.fixture(scope="module")
def hand_renders(data, checkpoint):
    """{(appearance, frame_index): (rendered, ground truth)} of every view frame, float64 (H, W, 3)."""
    collection, avatar = read_collection(data), load_avatar(checkpoint)
    return {(app.name, f.index): (_render(avatar, app, f).double().numpy(), app.image(f).double().numpy())
            for app in collection.appearances for f in views_of(app)}


def test_eval_novel_reports_per_angle_numbers_equal_to_a_hand_aggregation(tmp_path, data, checkpoint, hand_renders,
                                                                          capsys):
    out, sheet = tmp_path / "novel.json", tmp_path / "sheet.png"
    assert main(["eval", str(checkpoint), str(data), "--split", "novel", "--json", str(out),
                 "--contact-sheet", str(sheet)]) == 0
    assert "| 30° | 0° | 2 |" in capsys.readouterr().out  # the per-angle table
    result = json.loads(out.read_text())
    collection = read_collection(data)
    hand: dict = {}
    for app in collection.appearances:  # independent path: frame by frame, PSNR by hand, SSIM by scikit-image
        for f in views_of(app):
            pred, gt = hand_renders[(app.name, f.index)]
            psnr = -10 * math.log10(((pred - gt) ** 2).mean())
            ssim = structural_similarity(pred, gt, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1.0, channel_axis=-1)
            hand.setdefault((f.view.yaw, f.view.pitch), {}).setdefault(app.name, []).append((psnr, ssim))
    assert [(v["yaw"], v["pitch"]) for v in result["per_view"]] == VIEWS
    for row in result["per_view"]:
        per_app = hand[(row["yaw"], row["pitch"])]
        every = [s for scores in per_app.values() for s in scores]
        assert row["frames"] == len(every) == 2
        assert row["psnr"] == pytest.approx(np.mean([s[0] for s in every]), rel=1e-5)
        assert row["ssim"] == pytest.approx(np.mean([s[1] for s in every]), rel=1e-4)
        for name, scores in per_app.items():
            assert row["per_appearance"][name]["psnr"] == pytest.approx(np.mean([s[0] for s in scores]), rel=1e-5)
    every = [s for per_app in hand.values() for scores in per_app.values() for s in scores]
    assert result["frames"] == len(every) == 2 * len(VIEWS)
    assert result["psnr"] == pytest.approx(np.mean([s[0] for s in every]), rel=1e-5)
    for name in collection.appearance_names:
        mine = [s[0] for per_app in hand.values() for s in per_app[name]]
        assert result["per_appearance"][name]["psnr"] == pytest.approx(np.mean(mine), rel=1e-5)
        assert result["per_appearance"][name]["frames"] == len(VIEWS)
    spread = [row["psnr"] for row in result["per_view"]]
    assert max(spread) - min(spread) > 0.1  # the views really differ
    assert result["contact_sheet"] == str(sheet)
    assert Image.open(sheet).size == (2 * 3 * 32, len(VIEWS) * 32)
    tables = render_tables({"minutes_per_model": 1, "minutes_per_model_b": 1, "protocol_a": {}, "protocol_b": {},
                            "novel_views": {"full": result}})
    assert "**Novel views — `full`" in tables
    v30 = result["per_view"][1]
    assert f"| 30° | 0° | 2 | {v30['psnr']:.2f} | {v30['ssim']:.4f} | n/a |" in tables


def test_contact_sheet_layout(data, checkpoint, hand_renders):
    """Rows = views in order, per appearance the columns rendered | ground truth | error (L1 × 4 heat map)."""
    collection, avatar = read_collection(data), load_avatar(checkpoint)
    sheet = contact_sheet(avatar, collection)
    H = W = 32
    assert sheet.shape == (len(VIEWS) * H, 2 * 3 * W, 3)
    for a, app in enumerate(collection.appearances):
        by_view = {(f.view.yaw, f.view.pitch): f for f in views_of(app)}
        for r, view in enumerate(VIEWS):
            cell = lambda c: sheet[r * H:(r + 1) * H, (3 * a + c) * W:(3 * a + c + 1) * W]  # noqa: E731
            pred, gt = hand_renders[(app.name, by_view[view].index)]
            np.testing.assert_allclose(cell(0), pred, rtol=0, atol=1e-6)
            np.testing.assert_array_equal(cell(1), gt)
            e = np.clip(np.abs(pred - gt).mean(-1) * 4, 0, 1)
            heat = np.stack([np.clip(3 * e, 0, 1), np.clip(3 * e - 1, 0, 1), np.clip(3 * e - 2, 0, 1)], -1)
            np.testing.assert_allclose(cell(2), heat, rtol=0, atol=1e-5)


def test_overall_numbers_weight_each_view_by_its_frames(data, monkeypatch):
    """Views with different frame counts: the overall and per-appearance means are frame-weighted (= the mean
    over every novel frame), written out by hand for made-up per-view results."""
    import pav.eval.novel as novel

    made_up = {(0.0, 0.0): (1, 20.0, 0.5), (30.0, 0.0): (3, 12.0, 0.3), (0.0, -15.0): (2, 16.0, 0.4),
               (0.0, 15.0): (4, 10.0, 0.2)}

    def fake_evaluate(avatar, collection, split, names, side_by_side, max_frames, progress):
        (view,) = {(f.view.yaw, f.view.pitch) for a in collection.appearances for f in a.frames}
        n, p, s = made_up[view]
        return {"split": split, "frames": n, "psnr": p, "ssim": s, "lpips": None, "fid": None, "unavailable": {},
                "per_appearance": {name: {"psnr": p, "ssim": s, "frames": n}}, "seconds_per_frame": 1.0}

    collection = read_collection(data)
    name = collection.appearance_names[0]
    monkeypatch.setattr(novel, "evaluate", fake_evaluate)
    avatar = type("A", (), {"appearance_names": collection.appearance_names})()
    result = novel.evaluate_novel(avatar, collection, progress=False)
    assert result["frames"] == 10
    assert result["psnr"] == pytest.approx((20 + 36 + 32 + 40) / 10)
    assert result["ssim"] == pytest.approx((0.5 + 0.9 + 0.8 + 0.8) / 10)
    assert result["lpips"] is None and result["fid"] is None
    assert [v["frames"] for v in result["per_view"]] == [1, 3, 2, 4]
    assert result["per_appearance"][name]["psnr"] == pytest.approx(12.8)
    assert result["per_appearance"][name]["frames"] == 10


def test_a_rotated_view_keeps_the_test_frames_light_and_background(data):
    """The 30° view of appearance 0, re-rendered here from the generator's seeds with the light fixed to the
    TEST camera, matches the stored image to 8-bit rounding; lit from the rotated camera it would not."""
    from pav.camera import Camera
    from pav.data.synth.appearance import appearance_scene
    from pav.data.synth.generate import sample_identity
    from pav.data.synth.looks import sample_looks
    from pav.data.synth.render import render
    from pav.data.synth.uvbake import bake_uv

    model = load_head_model(TINY.head_model)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(TINY.seed).spawn(2 + 2 * TINY.appearances)]
    shape = sample_identity(rngs[0], model)
    look = sample_looks(rngs[1], TINY.appearances)[0]
    with torch.no_grad():
        rest = model(shape=shape)
    eyes = rest.joints[0, [model.joint_names.index(n) for n in ("left_eye", "right_eye")]].double().numpy()
    canonical = rest.vertices[0]
    scene = appearance_scene(model, look, bake_uv(model, canonical, TINY.texture_size), canonical.double().numpy(),
                             eyes, rngs[3])
    app = read_collection(data).appearances[0]
    view = next(f for f in views_of(app) if (f.view.yaw, f.view.pitch) == (30.0, 0.0))
    test = next(f for f in app.frames if f.index == view.view.test_frame)
    with torch.no_grad():
        verts = model(shape=shape, expression=torch.tensor(view.expression[None], dtype=torch.float32),
                      pose=torch.tensor(view.pose[None], dtype=torch.float32),
                      translation=torch.tensor(view.translation[None], dtype=torch.float32)).vertices[0]
    cam, test_cam = app.camera(view), app.camera(test)
    stored = app.image(view).numpy()
    for light, close in ((test_cam.c2w, True), (cam.c2w, False)):
        image = render(scene, look, verts, Camera(cam.c2w, cam.fx, cam.fy, cam.cx, cam.cy, 32, 32),
                       app.background(), model.faces, TINY.supersample, light_c2w=light).image
        quantised = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8) / 255.0
        assert (np.abs(quantised - stored).max() < 1e-6) == close
