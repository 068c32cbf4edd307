"""One device through the pipeline (DESIGN §6): `--device`, `load_avatar(device=)`, `.to(device)`, and the
meta-device discipline test: with `torch.set_default_device("meta")` active, any tensor created without
`device=` is a meta tensor and fails the operation it joins, so a model loaded explicitly onto the CPU must
render, train and evaluate exactly as without the default device."""
import copy
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from pav import backends, cli
from pav.camera import Camera, orbit
from pav.checkpoint import load_avatar
from pav.config import TrainConfig
from pav.data import load_split, read_collection
from pav.eval import evaluate
from pav.export import demo_sequence, export_clip
from pav.head import load_head_model
from pav.train import Trainer

DEMO = "assets/demo/avatar.pav"


@pytest.fixture(scope="module")
def demo_collection(tmp_path_factory):
    """The demo avatar's five appearances (seed 0 names them alike), one train and one test frame each."""
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate

    out = tmp_path_factory.mktemp("device") / "five"
    generate(SynthConfig(appearances=5, frames=2, size=24, supersample=1, texture_size=32, seed=0), out)
    return out


@contextmanager
def default_device(device):
    torch.set_default_device(device)
    try:
        yield
    finally:
        torch.set_default_device(None)


def render_train_eval(collection_path, tmp_path):
    """Load the demo avatar onto the CPU; a 32² render, a 2-frame clip, 3 training steps (occupancy update
    and interval refresh included), a one-frame eval. Returns every number that came out."""
    avatar = load_avatar(DEMO, device="cpu")
    centre = ((avatar.canonical_vertices.min(0).values + avatar.canonical_vertices.max(0).values) / 2).tolist()
    camera = Camera.from_fov(orbit(centre, 0.6, 25.0, 5.0), 20.0, 32, 32)
    expression = torch.zeros(avatar.head.n_expression, device="cpu")
    expression[0] = 0.5
    image = avatar.render(camera, expression, torch.zeros(avatar.head.n_joints, 3, device="cpu"),
                          torch.tensor([0.5, 0.5, 0, 0, 0], device="cpu"))
    frames = demo_sequence(avatar, 32, seconds=0.08, fps=25)  # 2 frames, the `render` command's path
    export_clip(avatar, frames, tmp_path / "clip.mp4")
    collection = read_collection(collection_path)
    result = evaluate(avatar, collection, "test", max_frames=1, progress=False)
    avatar.train()
    config = TrainConfig(steps=3, rays_per_step=96, frames_per_step=2, occupancy_every=2, occupancy_warmup=1,
                         interval_refresh_every=2, seed=0)
    trainer = Trainer(avatar, load_split(collection, "train", device="cpu"), config)
    stats = [trainer.step() for _ in range(3)]
    return {"rgb": image.rgb, "alpha": image.alpha, "depth": image.depth, "psnr": result["psnr"],
            "ssim": result["ssim"], "loss": [s.loss for s in stats], "samples": [s.samples for s in stats],
            "weights": {k: v.clone() for k, v in avatar.state_dict().items()}, "clip": (tmp_path / "clip.mp4").stat().st_size}


def test_meta_default_device_changes_nothing(demo_collection, tmp_path):
    plain = render_train_eval(demo_collection, tmp_path)
    with default_device("meta"):
        meta = render_train_eval(demo_collection, tmp_path)
    assert float(plain["alpha"].sum()) > 20  # the head is in the picture
    for key in ("rgb", "alpha", "depth"):
        assert meta[key].device.type == "cpu"
        torch.testing.assert_close(meta[key], plain[key], rtol=0, atol=0, msg=key)
    assert (meta["psnr"], meta["ssim"], meta["samples"]) == (plain["psnr"], plain["ssim"], plain["samples"])
    # step 1's loss is exact; later ones follow weights that CPU float32 training reproduces only to ~1e-6
    assert meta["loss"][0] == plain["loss"][0]
    assert meta["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert meta["clip"] == plain["clip"]
    for name, value in plain["weights"].items():
        assert meta["weights"][name].device.type == "cpu", name
        # CPU float32 training is not bit-reproducible from run to run (two plain runs already differ in
        # the last bits of a few weights and occupancy densities, ~1e-6 relative): float32 tolerance here
        torch.testing.assert_close(meta["weights"][name], value, msg=name)


def all_tensors(module: torch.nn.Module):
    """Every tensor a module tree holds: parameters, buffers, and tensor-valued plain attributes (dicts too)."""
    for m in module.modules():
        yield from m.parameters(recurse=False)
        yield from (b for b in m.buffers(recurse=False) if b is not None)
        for value in vars(m).values():
            if torch.is_tensor(value):
                yield value
            elif isinstance(value, dict):
                yield from (v for v in value.values() if torch.is_tensor(v))


def test_to_moves_every_tensor_of_the_avatar_and_head():
    avatar = load_avatar(DEMO, device="cpu")
    n_regions = len(avatar.head.regions)
    assert n_regions > 0
    avatar.to("meta")
    devices = {t.device.type for t in all_tensors(avatar)}
    assert devices == {"meta"}
    assert avatar.device.type == "meta" and avatar.head.device.type == "meta"
    assert all(m.device.type == "meta" for m in avatar.head.regions.values())
    assert len(avatar.head.regions) == n_regions


def test_load_head_model_and_camera_and_batch_devices(demo_collection):
    head = load_head_model("default", device="cpu")
    assert {t.device.type for t in all_tensors(head)} == {"cpu"}
    camera = Camera.from_fov(orbit([0, 0, 0], 0.5, 0, 0), 20, 8, 6).to("meta")
    origins, dirs = camera.rays()
    assert origins.device.type == dirs.device.type == camera.K.device.type == "meta"
    batch = load_split(read_collection(demo_collection), "train").to("meta")
    assert {v.device.type for v in batch if torch.is_tensor(v)} == {"meta"} and batch.device.type == "meta"


def test_resolve_device(monkeypatch):
    assert backends.resolve_device("cpu") == torch.device("cpu")
    assert backends.resolve_device(" CPU ") == torch.device("cpu")
    for bad in ("tpu", "gpu", "cuda:x", ""):
        with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
            backends.resolve_device(bad)
    if not torch.cuda.is_available():
        assert backends.resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is unavailable"):
            backends.resolve_device("cuda")
    # a machine with two GPUs (the probe and the count faked)
    monkeypatch.setattr(backends, "cuda", lambda: backends.Probe(True, "fake"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert backends.resolve_device("auto") == torch.device("cuda")
    assert backends.resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="2 CUDA device"):
        backends.resolve_device("cuda:2")


COMMANDS = {
    "train": lambda d, t: ["train", str(d), "--out", str(t / "a.pav")],
    "eval": lambda d, t: ["eval", DEMO, str(d)],
    "render": lambda d, t: ["render", DEMO, "--out", str(t / "c.mp4")],
    "reproduce": lambda d, t: ["reproduce", str(d), "--out", str(t / "r")],
    "track": lambda d, t: ["track", DEMO, "--out", str(t / "tracked")],
}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cuda_on_a_machine_without_it_is_one_line_exit_2(command, demo_collection, tmp_path, capsys):
    assert cli.main(COMMANDS[command](demo_collection, tmp_path) + ["--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --device cuda: CUDA is unavailable"), err


def tracking_inputs():
    """The built-in head (CPU) and 2 videos × 2 frames of 48² crops: noisy projected landmarks, random
    images, whole-frame face masks."""
    from pav.track.fit import project

    head = load_head_model("default", device="cpu")
    g = torch.Generator().manual_seed(3)
    landmarks, images, masks = [], [], []
    for video in range(2):
        translation = torch.tensor([[0.01 * video, 0.0, -0.45], [0.0, 0.01, -0.47]], dtype=torch.float64)
        with torch.no_grad():
            out = copy.deepcopy(head).double()(translation=translation)
        landmarks.append(project(out.landmarks, torch.tensor(60.0, dtype=torch.float64), 24.0).numpy()
                         + 0.3 * torch.randn(2, 468, 2, generator=g, dtype=torch.float64).numpy())
        images.append(torch.randint(0, 256, (2, 48, 48, 3), generator=g, dtype=torch.uint8).numpy())
        masks.append(np.ones((2, 48, 48), dtype=bool))
    return head, landmarks, images, masks


def tracking_fit(head, landmarks, images, masks, device="cpu", photometric_steps=3):
    """`track`'s model fit on `device`, every stage a few steps: landmarks, then photometric."""
    from pav.track.fit import FitConfig, fit

    config = FitConfig(rigid_steps=3, steps=3, photometric_steps=photometric_steps, photometric_size=24,
                       photometric_batch=2)
    gaps = [np.arange(len(lm)) * 2 for lm in landmarks]
    return fit(head, landmarks, gaps, 48, ["a", "b"], config, images=images, face_masks=masks, device=device)


def test_tracking_fit_under_the_meta_default_device_changes_nothing():
    """`track --device`: the fit makes every tensor on the device it is given (here the CPU, with "meta" as
    the default device catching any tensor made without `device=`), and its numbers do not change."""
    inputs = tracking_inputs()
    plain = tracking_fit(*inputs)
    with default_device("meta"):
        meta = tracking_fit(*inputs)
    assert np.abs(plain.shape).max() > 0  # the identity moved
    np.testing.assert_array_equal(meta.shape, plain.shape)
    for a, b in zip(meta.videos, plain.videos):
        assert a.focal == b.focal
        for field in ("expression", "pose", "translation", "landmark_error"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
