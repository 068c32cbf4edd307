"""CUDA parity (`python -m pytest -m cuda` on a GPU machine; every test here skips cleanly without CUDA):
the same avatar renders, trains and round-trips through a checkpoint on CUDA as on the CPU."""
import numpy as np
import pytest
import torch

from pav.camera import Camera, orbit
from pav.checkpoint import load_avatar, save_avatar
from pav.config import TrainConfig
from pav.data import load_split, read_collection
from pav.train import Trainer

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

DEMO = "assets/demo/avatar.pav"


def front_camera(avatar, size=48):
    v = avatar.canonical_vertices
    centre = ((v.min(0).values + v.max(0).values) / 2).tolist()
    return Camera.from_fov(orbit(centre, 0.6, 20.0, 5.0), 20.0, size, size)


def test_render_on_cuda_equals_the_cpu():
    cpu, gpu = load_avatar(DEMO, device="cpu"), load_avatar(DEMO, device="cuda")
    assert gpu.device.type == "cuda" and all(t.is_cuda for t in gpu.state_dict().values())
    e, p = torch.zeros(cpu.head.n_expression), torch.zeros(cpu.head.n_joints, 3)
    a = cpu.render(front_camera(cpu), e, p, [0.5, 0.5, 0, 0, 0])
    b = gpu.render(front_camera(cpu), e, p, [0.5, 0.5, 0, 0, 0])
    assert b.rgb.is_cuda
    # another nearest-triangle backend and float32 kernels: a few boundary rays may differ
    close = ((a.rgb - b.rgb.cpu()).abs().amax(-1) < 1e-3).float().mean()
    assert float(close) > 0.99 and float(a.alpha.sum()) > 50
    torch.testing.assert_close(b.alpha.cpu().sum(), a.alpha.sum(), rtol=1e-2, atol=0.5)


def test_checkpoint_from_cuda_opens_on_the_cpu(tmp_path):
    gpu = load_avatar(DEMO, device="cuda")
    with torch.no_grad():
        gpu.field.encoder.params.mul_(1.5)
    save_avatar(gpu, tmp_path / "g.pav", info={})
    back = load_avatar(tmp_path / "g.pav", device="cpu")
    for name, value in gpu.state_dict().items():
        torch.testing.assert_close(back.state_dict()[name], value.cpu(), rtol=0, atol=0, msg=name)


def test_training_steps_on_cuda(tmp_path):
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate

    generate(SynthConfig(appearances=5, frames=2, size=32, supersample=1, texture_size=32, seed=0), tmp_path / "d")
    avatar = load_avatar(DEMO, device="cuda").train()
    config = TrainConfig(steps=4, rays_per_step=512, frames_per_step=2, occupancy_every=2, occupancy_warmup=1,
                         interval_refresh_every=2, seed=0)
    trainer = Trainer(avatar, load_split(read_collection(tmp_path / "d"), "train"), config)
    assert trainer.data.images.is_cuda and trainer.generator.device.type == "cuda"
    before = avatar.field.encoder.params.detach().clone()
    stats = [trainer.step() for _ in range(4)]
    assert all(torch.isfinite(torch.tensor(s.loss)) and s.samples > 0 for s in stats)
    assert not torch.equal(before, avatar.field.encoder.params.detach())
    assert avatar.occupancy.is_cuda and avatar.vertex_extent.is_cuda
    state = trainer.state_dict()
    assert state["ray_extent"] is None or state["ray_extent"].device.type == "cpu"


def test_tracking_fit_on_cuda_equals_the_cpu():
    """`track --device cuda`: the landmark fit (float64) gives the CPU's numbers; the photometric stage runs."""
    from test_device import tracking_fit, tracking_inputs

    inputs = tracking_inputs()
    cpu, gpu = tracking_fit(*inputs, photometric_steps=0), tracking_fit(*inputs, device="cuda", photometric_steps=0)
    np.testing.assert_allclose(gpu.shape, cpu.shape, rtol=0, atol=1e-5)
    for a, b in zip(gpu.videos, cpu.videos):
        assert abs(a.focal - b.focal) < 1e-6 * b.focal
        for field in ("expression", "pose", "translation", "landmark_error"):
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=0, atol=1e-5, err_msg=field)
    photo = tracking_fit(*inputs, device="cuda")
    assert np.isfinite(photo.shape).all() and all(np.isfinite(v.landmark_error).all() for v in photo.videos)


def test_nvdiffrast_rasterizes_the_head_like_the_torch_path():
    """nvdiffrast's visibility (`PAV_RASTER`/`backend="nvdiffrast"`) against the pure-torch z-buffer and the
    float64 reference, on the demo head from several cameras and image sizes (one not a multiple of 8)."""
    from pav import backends
    from pav.geometry import rasterize
    from pav.geometry.raster_ref import rasterize_reference

    if not backends.nvdiffrast().available:
        pytest.skip(backends.nvdiffrast().reason)
    assert backends.raster_backend("cuda").name == "nvdiffrast"
    avatar = load_avatar(DEMO, device="cuda")
    v, f = avatar.canonical_vertices.double(), avatar.head.faces
    centre = ((v.min(0).values + v.max(0).values) / 2).tolist()
    for yaw, size in ((0.0, (256, 256)), (40.0, (100, 75)), (-70.0, (64, 48))):
        camera = Camera.from_fov(orbit(centre, 0.6, yaw, 5.0), 20.0, *size).to("cuda")
        fast, plain = rasterize(v, f, camera, backend="nvdiffrast"), rasterize(v, f, camera, backend="torch")
        assert fast.face_id.is_cuda and fast.mask.sum() > 0.1 * size[0] * size[1]
        same = fast.face_id == plain.face_id
        assert same.float().mean() > 0.99, (yaw, float(same.float().mean()))
        assert (fast.mask != plain.mask).float().mean() < 0.01  # silhouette pixels only
        torch.testing.assert_close(fast.depth[same], plain.depth[same], rtol=0, atol=0)
        torch.testing.assert_close(fast.bary[same], plain.bary[same], rtol=0, atol=0)
        shared_edge = ~same & fast.mask & plain.mask  # another face across an edge: about the same depth
        if shared_edge.any():
            assert ((fast.depth - plain.depth)[shared_edge].abs() < 2e-3).float().mean() > 0.9
    small = Camera.from_fov(orbit(centre, 0.6, 20.0, 5.0), 20.0, 40, 32)
    ref = rasterize_reference(v.cpu(), f.cpu(), small)
    fast = rasterize(v, f, small.to("cuda"), backend="nvdiffrast")
    assert (fast.face_id.cpu() != ref.face_id).float().mean() < 0.02
