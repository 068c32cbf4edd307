"""The nvdiffrast fast path of `rasterize` on the CPU: its clip-space map against an OpenGL-style projection
matrix written here, and the whole path against the reference rasterizer through a stand-in for
`nvdiffrast.torch` that follows nvdiffrast's documented contract (clip-space input; pixel (i, j) sampled at
NDC (2(j+½)/W − 1, 2(i+½)/H − 1), row 0 at NDC y = −1; the smallest z/w wins; channel 3 = triangle + 1;
sizes in whole 8-pixel tiles). The real library's parity test runs on CUDA (tests/test_cuda.py)."""
import sys
import types

import numpy as np
import pytest
import torch

from pav import backends
from pav.camera import Camera, orbit
from pav.geometry import _nvdiffrast, icosphere, rasterize
from pav.geometry.raster import project
from pav.geometry.raster_ref import rasterize_reference
from test_geometry_raster import EYE, _random_soup


@pytest.fixture(autouse=True)
def fresh_probes():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(backends.RASTER_ENV_VAR, raising=False)
        backends.clear_cache()
        yield
        backends.clear_cache()


def test_clip_space_equals_an_opengl_projection_matrix():
    g = torch.Generator().manual_seed(0)
    cam = Camera(orbit((0.02, -0.01, 0.0), 0.5, 25.0, -10.0), 300.0, 280.0, 61.3, 47.9, 128, 96)
    points = torch.randn(500, 3, generator=g, dtype=torch.float64) * 0.1
    W8, H8, near, far = 128, 96, 0.2, 1.5
    # reference: camera-space points (OpenCV axes) times the 4×4 projection of the intrinsics
    w2c = torch.linalg.inv(cam.c2w.double())
    cam_space = points @ w2c[:3, :3].T + w2c[:3, 3]
    P = torch.tensor([[2 * cam.fx / W8, 0, 2 * cam.cx / W8 - 1, 0],
                      [0, 2 * cam.fy / H8, 2 * cam.cy / H8 - 1, 0],
                      [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
                      [0, 0, 1, 0]], dtype=torch.float64)
    want = torch.cat([cam_space, torch.ones(500, 1, dtype=torch.float64)], 1) @ P.T
    got = _nvdiffrast.clip_space(project(points, cam), W8, H8, near, far)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    ends = _nvdiffrast.clip_space(torch.tensor([[0.0, 0.0, near], [0.0, 0.0, far]], dtype=torch.float64),
                                  W8, H8, near, far)
    torch.testing.assert_close(ends[:, 2] / ends[:, 3], torch.tensor([-1.0, 1.0], dtype=torch.float64))
    # pixel centre (j + ½, i + ½) lands on nvdiffrast's sample NDC (2(j + ½)/W − 1, 2(i + ½)/H − 1)
    corner = _nvdiffrast.clip_space(torch.tensor([[0.5, 0.5, 0.7]], dtype=torch.float64), W8, H8, near, far)[0]
    torch.testing.assert_close(corner[:2] / corner[3], torch.tensor([1 / W8 - 1, 1 / H8 - 1], dtype=torch.float64))


def test_padded_size_and_limit():
    assert _nvdiffrast.padded_size(40, 30) == (40, 32) and _nvdiffrast.padded_size(1, 8) == (8, 8)
    assert _nvdiffrast.fits(2048, 2041) and not _nvdiffrast.fits(2049, 16)


def fake_nvdiffrast(calls: list) -> types.ModuleType:
    """A float64 numpy stand-in for `nvdiffrast.torch` (rasterize + RasterizeCudaContext), with the
    library's input checks; every call's (resolution, pos dtype, tri dtype) is appended to `calls`."""

    def rasterize(context, pos, tri, resolution, ranges=None, grad_db=True):
        H, W = resolution
        assert H % 8 == 0 and W % 8 == 0, "width and height must be divisible by 8"
        assert pos.dtype == torch.float32 and tri.dtype == torch.int32 and pos.is_contiguous() and tri.is_contiguous()
        assert pos.ndim == 3 and pos.shape[2] == 4 and len(tri) > 0
        calls.append((tuple(resolution), pos.dtype, tri.dtype))
        ndc = (pos[0, :, :3] / pos[0, :, 3:]).double().numpy()
        out = np.zeros((H, W, 4), dtype=np.float32)
        depth = np.full((H, W), np.inf)
        sx, sy = np.meshgrid(2 * (np.arange(W) + 0.5) / W - 1, 2 * (np.arange(H) + 0.5) / H - 1)
        for k, (a, b, c) in enumerate(ndc[tri.long().numpy()]):
            e = [(q[0] - p[0]) * (sy - p[1]) - (q[1] - p[1]) * (sx - p[0]) for p, q in ((b, c), (c, a), (a, b))]
            area = e[0] + e[1] + e[2]
            inside = ((e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)) | ((e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                z = (e[0] * a[2] + e[1] * b[2] + e[2] * c[2]) / area  # z/w is affine in screen space
            win = inside & (area != 0) & (z < depth)
            depth[win] = z[win]
            out[win, 2], out[win, 3] = z[win], k + 1
        return torch.from_numpy(out)[None], torch.zeros(1, H, W, 0)

    torch_module = types.ModuleType("nvdiffrast.torch")
    torch_module.RasterizeCudaContext = lambda device=None: object()
    torch_module.rasterize = rasterize
    package = types.ModuleType("nvdiffrast")
    package.torch = torch_module
    return package


@pytest.fixture
def fake(monkeypatch):
    calls = []
    package = fake_nvdiffrast(calls)
    monkeypatch.setitem(sys.modules, "nvdiffrast", package)
    monkeypatch.setitem(sys.modules, "nvdiffrast.torch", package.torch)
    monkeypatch.setattr(_nvdiffrast, "_contexts", {})
    # the CPU tensors take the nvdiffrast path (in real use: CUDA tensors only)
    monkeypatch.setattr(backends, "raster_backend",
                        lambda device=None, value=None: backends.BackendChoice("nvdiffrast", "stand-in"))
    return calls


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("cull", [False, True])
def test_nvdiffrast_path_equals_the_reference_and_the_torch_path(fake, seed, cull):
    v, f = _random_soup(seed)  # overlapping triangles, some behind the camera, off-centre principal point
    cam = Camera(EYE, 30.0, 28.0, 20.3, 14.6, 40, 30)  # 30 rows: padded to 32, cropped back
    fast = rasterize(v, f, cam, cull_backfaces=cull, backend="nvdiffrast")
    assert fake == [((32, 40), torch.float32, torch.int32)]
    ref = rasterize_reference(v, f, cam, cull_backfaces=cull)
    plain = rasterize(v, f, cam, cull_backfaces=cull, backend="torch")
    assert fast.face_id.shape == (30, 40) and fast.mask.sum() > 300
    # float32 clip coordinates: a pixel centre on an edge may go either way
    assert (fast.face_id != ref.face_id).sum() <= 3
    same = fast.face_id == plain.face_id
    assert same.float().mean() > 0.99
    torch.testing.assert_close(fast.depth[same], plain.depth[same], rtol=0, atol=0)
    torch.testing.assert_close(fast.bary[same], plain.bary[same], rtol=0, atol=0)
    hit = same & fast.mask
    torch.testing.assert_close(fast.depth[hit], ref.depth[hit], rtol=1e-9, atol=1e-12)


def test_nvdiffrast_path_on_a_closed_mesh_from_an_orbit_camera(fake):
    v, f = icosphere(2, 0.1)
    cam = Camera(orbit((0.01, 0.0, 0.0), 0.4, 30.0, -20.0), 70.0, 70.0, 24.0, 17.0, 48, 36)
    fast, ref = rasterize(v, f, cam, backend="nvdiffrast"), rasterize_reference(v, f, cam)
    assert (fast.face_id != ref.face_id).sum() <= 2 and fast.mask.sum() > 500
    assert torch.equal(fast.mask, ref.mask)


def test_no_visible_triangle_and_oversized_images(fake, monkeypatch):
    v = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, -1.0], [0.0, 1.0, -1.0]], dtype=torch.float64)  # behind
    empty = rasterize(v, torch.tensor([[0, 1, 2]]), Camera(EYE, 10.0, 10.0, 8.0, 8.0, 16, 16), backend="nvdiffrast")
    assert not empty.mask.any() and fake == []
    monkeypatch.setattr(_nvdiffrast, "MAX_SIZE", 32)  # as if 40 × 30 (padded to 40 × 32) were beyond 2048
    v, f = _random_soup(0)
    cam = Camera(EYE, 30.0, 28.0, 20.3, 14.6, 40, 30)
    assert torch.equal(rasterize(v, f, cam, backend="nvdiffrast").face_id, rasterize(v, f, cam).face_id)
    assert fake == []  # the torch path drew it


def _fake_gpu(monkeypatch):
    monkeypatch.setattr(backends, "cuda", lambda: backends.Probe(True, "CUDA 12.4, Fake GPU"))


def test_raster_choice_and_reasons(monkeypatch):
    assert backends.raster_backend("cpu").name == "warp"  # the compiled z-buffer (warp-lang is a requirement)
    assert backends.raster_backend("cpu").reason.endswith(": compiled CPU z-buffer")
    assert backends.raster_backend("cpu", "torch") == ("torch", "pure torch (requested)")
    with pytest.raises(RuntimeError, match=r"^PAV_RASTER=warp cannot be honoured: the warp z-buffer runs on the CPU"):
        backends.raster_backend("cuda", "warp")
    monkeypatch.setattr(backends, "nearest_probe", lambda name: backends.Probe(False, "warp does not import (test)"))
    assert backends.raster_backend("cpu").name == "torch"
    assert "nvdiffrast rasterizes CUDA tensors only, these are on cpu" in backends.raster_backend("cpu").reason
    with pytest.raises(RuntimeError, match=r"^PAV_RASTER=warp cannot be honoured: warp does not import \(test\)"):
        backends.raster_backend("cpu", "warp")
    monkeypatch.undo()
    assert backends.raster_backend("cuda", "torch") == ("torch", "pure torch (requested)")
    with pytest.raises(RuntimeError, match=r"^backend 'nvdiffrast' cannot be honoured: nvdiffrast rasterizes CUDA"):
        backends.raster_backend("cpu", "nvdiffrast")
    monkeypatch.setenv(backends.RASTER_ENV_VAR, "vulkan")
    with pytest.raises(ValueError, match=r"\$PAV_RASTER='vulkan': expected one of auto, torch, warp, nvdiffrast"):
        backends.raster_backend("cpu")

    monkeypatch.delenv(backends.RASTER_ENV_VAR)
    _fake_gpu(monkeypatch)
    monkeypatch.setitem(sys.modules, "nvdiffrast", None)  # `import nvdiffrast.torch` raises ImportError
    probe = backends.nvdiffrast()
    assert not probe.available and probe.reason.startswith("nvdiffrast.torch does not import (ModuleNotFoundError")
    assert probe.reason.endswith("install: " + backends.NVDIFFRAST_INSTALL_HINT)
    assert backends.raster_backend("cuda:0") == ("torch", f"pure torch ({probe.reason})")
    monkeypatch.setenv(backends.RASTER_ENV_VAR, "NVDIFFRAST")
    with pytest.raises(RuntimeError, match=r"^PAV_RASTER=nvdiffrast cannot be honoured: nvdiffrast.torch does not"):
        backends.raster_backend("cuda")

    backends.nvdiffrast.cache_clear()
    monkeypatch.delenv(backends.RASTER_ENV_VAR)
    package = fake_nvdiffrast([])
    package.__version__ = "0.3.4"
    monkeypatch.setitem(sys.modules, "nvdiffrast", package)
    monkeypatch.setitem(sys.modules, "nvdiffrast.torch", package.torch)
    assert backends.nvdiffrast() == (True, "nvdiffrast 0.3.4 on CUDA 12.4, Fake GPU")
    assert backends.raster_backend("cuda:1") == ("nvdiffrast", "nvdiffrast 0.3.4 on CUDA 12.4, Fake GPU")
    assert backends.raster_backend("cpu").name == "warp"  # CPU tensors never take it


def test_a_cpu_machine_never_imports_nvdiffrast(monkeypatch):
    if backends.cuda().available:
        pytest.skip("checks the CPU-only path")
    monkeypatch.setitem(sys.modules, "nvdiffrast", None)
    assert backends.nvdiffrast().reason.startswith("nvdiffrast needs CUDA: ")
    v, f = icosphere(1, 0.1)
    rasterize(v, f, Camera(orbit((0, 0, 0), 0.4, 0, 0), 40.0, 40.0, 8.0, 8.0, 16, 16))  # auto: torch, no import
