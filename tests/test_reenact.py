"""`reenact-eval`'s scoring (issue 16 §3): the masked and whole-crop numbers against float64 formulas written
here, the learned metrics when present (else the reason), and the outputs: a marked side-by-side clip and a
contact sheet (signed too when a C2PA identity is given)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import torch

from pav.data import load_split, read_collection
from pav.eval import reenact
from pav.provenance import Provenance, verify


class GreyAvatar:
    """Renders a per-frame constant grey: an avatar whose error against each frame is known in closed form."""

    appearance_names = ["train"]
    checkpoint_sha256 = "5eed" + "0" * 60

    def __init__(self):
        self.k = 0

    def render(self, camera, expression, pose, appearance, translation=None):
        level = 0.3 + 0.05 * (self.k % 5)
        self.k += 1
        return SimpleNamespace(rgb=torch.full((camera.height, camera.width, 3), level))


def test_scores_match_float64_formulas_and_outputs_are_marked(tiny_collection, tmp_path, monkeypatch):
    collection = read_collection(tiny_collection)
    name = collection.appearance_names[0]
    learned = SimpleNamespace(alexnet=object(), vgg=None, reasons={"lpips": None, "dists": "no VGG16 here",
                                                                   "fid": "no Inception"},
                              lpips=lambda p, g: float((p - g).abs().mean()))  # a stand-in with a known value
    monkeypatch.setattr("pav.eval.learned.load_learned_metrics", lambda: learned)
    clip, sheet = tmp_path / "sbs.mp4", tmp_path / "sheet.png"
    got = reenact.score(GreyAvatar(), collection, name, "train", clip, sheet, Provenance(GreyAvatar.checkpoint_sha256,
                                                                                         "train"))
    data = load_split(collection, "train", appearances=[name])
    n = len(data.expression)
    masked, whole, l1 = [], [], []
    for k in range(n):
        gt = data.images[k].double().numpy()
        pred = np.full_like(gt, 0.3 + 0.05 * (k % 5))
        inside = data.masks[k].numpy() > 0.5
        masked.append(-10 * math.log10(((pred - gt)[inside] ** 2).mean()))
        whole.append(-10 * math.log10(((pred - gt) ** 2).mean()))
        l1.append(np.abs(pred - gt).mean())
    assert got["frames"] == n
    assert abs(got["psnr_masked"] - np.mean(masked)) < 2e-3 and abs(got["psnr"] - np.mean(whole)) < 2e-3
    assert got["psnr_masked"] != got["psnr"]  # the mask matters on these frames
    assert abs(got["lpips"] - np.mean(l1)) < 2e-3 and "dists" not in got
    assert got["unavailable"] == {"dists": "no VGG16 here"}
    assert 0 < got["ssim_masked"] < 1 and 0 < got["ssim"] < 1
    v = verify(clip)
    assert v.metadata["checkpoint_sha256"] == GreyAvatar.checkpoint_sha256 and v.watermark.frames == n
    from PIL import Image

    H, W = data.images.shape[1:3]
    assert Image.open(sheet).size == (3 * W, reenact.CONTACT_ROWS * H)  # rows of real | avatar | error
    assert verify(sheet).metadata["appearance"] == "train"


def test_clip_and_sheet_are_signed_when_given_an_identity(tiny_collection, tmp_path, monkeypatch):
    import pytest

    pytest.importorskip("c2pa")
    from test_c2pa import make_identity

    from pav.c2pa_manifest import load_signing

    ids = make_identity(tmp_path, "r")
    monkeypatch.setattr("pav.eval.learned.load_learned_metrics",
                        lambda: SimpleNamespace(alexnet=None, vgg=None, reasons={"lpips": "x", "dists": "y"}))
    collection = read_collection(tiny_collection)
    prov = Provenance(GreyAvatar.checkpoint_sha256, "train", c2pa=load_signing(ids.cert, ids.key))
    got = reenact.score(GreyAvatar(), collection, collection.appearance_names[0], "train", tmp_path / "s.mp4",
                        tmp_path / "s.png", prov)
    assert got["unavailable"] == {"lpips": "x", "dists": "y"} and "lpips" not in got
    for path in (tmp_path / "s.mp4", tmp_path / "s.png"):
        c2pa = verify(path, ids.ca.read_bytes()).c2pa
        assert c2pa is not None and c2pa.state == "Trusted", path


def test_set_passes_training_fields_through_to_train(tmp_path, monkeypatch):
    """`reenact-eval --set K=V` (repeatable) reaches `pav train` as `--set K=V`, in order (stages done are reused)."""
    import argparse

    from pav import cli

    parser = argparse.ArgumentParser()
    reenact.add_arguments(parser)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    out = tmp_path / "run"
    (out / "frames" / "heldout").mkdir(parents=True)
    (out / "data").mkdir()  # tracking done
    args = parser.parse_args([str(video), "--out", str(out), "--set", "train.random_background=true",
                              "--set", "train.lambda_inner_opacity=0.1"])
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 3)
    assert reenact.run(args) == 3  # the train stage's exit code is passed on
    (argv,) = calls
    assert argv[:2] == ["train", str(out / "data")]
    assert argv[-4:] == ["--set", "train.random_background=true", "--set", "train.lambda_inner_opacity=0.1"]
