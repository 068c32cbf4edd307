"""pav.geometry closest points: every backend, forced in turn, against brute force; signed distance,
gradients, fallback."""
import functools
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from pav import backends
from pav.geometry import closest_on_faces, closest_points, closest_points_fast, icosphere, nearest_faces
from pav.geometry.closest import closest_point_barycentrics, nearest_faces_reference

BACKENDS = ["fcpw", "warp", "pcu", "torch"]
FLOAT32_BACKENDS = {"fcpw", "warp"}
"""fcpw and warp search in float32: they may pick a triangle farther than the nearest by float32 rounding
(~1e-8 m)."""


@pytest.fixture(autouse=True)
def fresh_probes(monkeypatch):
    monkeypatch.delenv(backends.NEAREST_ENV_VAR, raising=False)
    backends.clear_cache()
    yield
    backends.clear_cache()


def _require(name):
    """Skip unless the backend's package imports here ('torch' always does)."""
    if name != "torch" and not backends.nearest_probe(name).available:
        pytest.skip(backends.nearest_probe(name).reason)


def _random_bary(n, g, floor):
    """(n, 3) random barycentrics, each ≥ floor / (3·floor + 3): inside the triangle, off its edges."""
    w = torch.rand(n, 3, generator=g, dtype=torch.float64) + floor
    return w / w.sum(1, keepdim=True)


def _segment_closest(p, a, b):
    t = (((p - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1)).clamp(0, 1)
    return a + t[..., None] * (b - a)


def _independent_closest(p, a, b, c):
    """Closest point on a triangle by another route: the plane projection when it lies inside the
    triangle, else the best of the three edge segments."""
    n = torch.linalg.cross(b - a, c - a)
    proj = p - (((p - a) * n).sum(-1) / (n * n).sum(-1))[..., None] * n
    m = torch.stack([b - a, c - a], -1)  # (..., 3, 2): least squares for the in-plane coordinates
    uv = torch.linalg.lstsq(m, (proj - a)[..., None]).solution[..., 0]
    inside = (uv >= 0).all(-1) & (uv.sum(-1) <= 1)
    cands = torch.stack([_segment_closest(p, a, b), _segment_closest(p, b, c), _segment_closest(p, c, a)], -2)
    best = cands[torch.arange(len(p)), ((cands - p[:, None]) ** 2).sum(-1).argmin(-1)]
    return torch.where(inside[:, None], proj, best)


def test_point_triangle_matches_an_independent_formulation():
    g = torch.Generator().manual_seed(0)
    n = 20000
    a, b, c = torch.randn(3, n, 3, generator=g, dtype=torch.float64)
    c[: n // 4] = a[: n // 4] + 0.01 * (b[: n // 4] - a[: n // 4]) + 1e-3 * c[: n // 4]  # thin slivers
    p = 2 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    bary = closest_point_barycentrics(p, a, b, c)
    assert (bary >= -1e-12).all() and torch.allclose(bary.sum(-1), torch.ones(n, dtype=torch.float64))
    x = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    torch.testing.assert_close(x, _independent_closest(p, a, b, c), rtol=0, atol=1e-9)


def _meshes():
    v, f = icosphere(2, 0.1)
    g = torch.Generator().manual_seed(1)
    soup = torch.randn(150, 3, 3, generator=g, dtype=torch.float64) * 0.05 + torch.randn(150, 1, 3, generator=g,
                                                                                         dtype=torch.float64) * 0.1
    return [(v, f), (soup.reshape(-1, 3), torch.arange(450).reshape(150, 3))]


def _all_distances(points, v, f):
    tri = v[f]
    bary = closest_point_barycentrics(points[:, None], tri[None, :, 0], tri[None, :, 1], tri[None, :, 2])
    x = (bary[..., None] * tri[None]).sum(-2)
    return (points[:, None] - x).norm(dim=-1)  # (N, F)


def _check_exact(out, p, v, f, backend, d=None):
    """`out` (ClosestPoints) against the float64 brute force d (N, F) over all triangles."""
    d = _all_distances(p.double(), v.double(), f) if d is None else d
    best2 = d.topk(2, dim=1, largest=False).values
    tol = 1e-7 if backend in FLOAT32_BACKENDS or p.dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out.distance.abs().double(), best2[:, 0], rtol=0, atol=tol)
    clear = best2[:, 1] - best2[:, 0] > 1e-6
    assert clear.float().mean() > 0.5
    assert torch.equal(out.face_id[clear], d.argmin(1)[clear])
    atol = 1e-6 if p.dtype == torch.float32 else 1e-12
    torch.testing.assert_close((out.points - p).norm(dim=1), out.distance.abs(), rtol=0, atol=atol)
    x = (out.bary[:, :, None] * v[f[out.face_id]]).sum(1)
    torch.testing.assert_close(x, out.points, rtol=0, atol=atol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mesh", [0, 1])
def test_each_backend_matches_brute_force(backend, mesh):
    _require(backend)
    v, f = _meshes()[mesh]
    g = torch.Generator().manual_seed(2)
    p = torch.randn(1000, 3, generator=g, dtype=torch.float64) * 0.08
    _check_exact(closest_points(p, v, f, backend=backend), p, v, f, backend)


@functools.cache
def _head_case():
    """float32 queries in the shell of a head-sized mesh, as the renderer has them, and their float64
    brute-force distances (N, F)."""
    from pav.geometry import head_like_mesh

    v, f = head_like_mesh(30, 15)
    v = v.float()
    g = torch.Generator().manual_seed(5)
    x = v[torch.randint(len(v), (1500,), generator=g)] + 0.01 * torch.randn(1500, 3, generator=g)
    return x, v, f, _all_distances(x.double(), v.double(), f)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_path_matches_brute_force_in_float32(backend):
    """closest_points_fast, forced to each backend (its only difference from closest_points: no autograd)."""
    _require(backend)
    x, v, f, d = _head_case()
    out = closest_points_fast(x, v, f, backend=backend)
    assert out.points.dtype == torch.float32 and not out.distance.requires_grad
    _check_exact(out, x, v, f, backend, d)


def test_dispatch_runs_the_chosen_or_forced_backend(monkeypatch):
    """'auto' runs what nearest_backend chooses for the CPU; the argument and $PAV_NEAREST force one."""
    from pav.geometry import _backend, closest

    ran = []
    for name, module, attr in (("fcpw", _backend, "fcpw_nearest_faces"), ("warp", _backend, "warp_nearest_faces"),
                               ("pcu", _backend, "pcu_nearest_faces"), ("torch", closest, "_nearest_faces_torch")):
        real = getattr(module, attr)
        monkeypatch.setattr(module, attr, lambda *a, _real=real, _name=name: ran.append(_name) or _real(*a))
    v, f = _meshes()[0]
    p = torch.randn(50, 3, dtype=torch.float64) * 0.1
    nearest_faces(p, v, f)
    assert ran == [backends.nearest_backend("cpu").name]
    for name in BACKENDS:
        if name == "torch" or backends.nearest_probe(name).available:
            ran.clear()
            nearest_faces(p, v, f, backend=name)
            assert ran == [name]
    ran.clear()
    monkeypatch.setenv(backends.NEAREST_ENV_VAR, "Torch")
    nearest_faces(p, v, f)
    assert ran == ["torch"]
    monkeypatch.setenv(backends.NEAREST_ENV_VAR, "bvh")
    with pytest.raises(ValueError, match=r"\$PAV_NEAREST='bvh': expected one of auto, fcpw, warp, pcu, torch"):
        nearest_faces(p, v, f)


def test_warp_corrects_the_slivers_it_skips():
    """warp's query skips near-degenerate triangles; the result must still be the nearest one."""
    _require("warp")
    sliver = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [0.05, 1e-9, 0]], dtype=torch.float64)  # ratio ~7e-9
    far = torch.tensor([[0.0, 0, 0.05], [0.1, 0, 0.05], [0.05, 0.1, 0.05]], dtype=torch.float64)
    v, f = torch.cat([far, sliver]), torch.tensor([[0, 1, 2], [3, 4, 5]])
    g = torch.Generator().manual_seed(6)
    p = torch.rand(200, 3, generator=g, dtype=torch.float64) * torch.tensor([0.1, 0.02, 0.01]) - 0.005
    assert torch.equal(nearest_faces(p, v, f, backend="warp"), nearest_faces_reference(p, v, f))
    assert (nearest_faces_reference(p, v, f) == 1).all()


def test_torch_search_equals_the_plain_reference_exactly():
    v, f = _meshes()[1]
    p = torch.randn(800, 3, dtype=torch.float64) * 0.1
    assert torch.equal(nearest_faces(p, v, f, backend="torch"), nearest_faces_reference(p, v, f))


def test_signed_distance_on_a_sphere():
    v, f = icosphere(3, 0.1)
    g = torch.Generator().manual_seed(3)
    u = torch.nn.functional.normalize(torch.randn(3000, 3, generator=g, dtype=torch.float64), dim=-1)
    rho = torch.rand(3000, 1, generator=g, dtype=torch.float64) * 0.2
    out = closest_points(u * rho, v, f)
    a, b, c = v[f].unbind(1)
    r_in = (torch.nn.functional.normalize(torch.linalg.cross(b - a, c - a), dim=-1) * a).sum(-1).min()  # inradius
    inside, outside = rho[:, 0] < r_in - 1e-6, rho[:, 0] > 0.1 + 1e-6
    assert (out.distance[inside] < 0).all() and (out.distance[outside] > 0).all()
    assert (out.distance[outside] <= rho[outside, 0] - r_in + 1e-12).all()
    assert (out.distance[inside] >= rho[inside, 0] - 0.1 - 1e-12).all()


def test_points_on_the_surface():
    v, f = icosphere(2, 0.1)
    g = torch.Generator().manual_seed(4)
    fid = torch.randint(0, len(f), (500,), generator=g)
    bary = _random_bary(500, g, floor=0.5)
    p = (bary[:, :, None] * v[f[fid]]).sum(1)
    out = closest_points(p, v, f)
    assert out.distance.abs().max() < 1e-15
    torch.testing.assert_close(out.points, p, rtol=0, atol=1e-15)
    interior = bary.min(1).values > 1e-3
    assert torch.equal(out.face_id[interior], fid[interior])
    torch.testing.assert_close(out.bary[interior], bary[interior], rtol=0, atol=1e-12)


def test_gradients_match_finite_differences():
    v, f = icosphere(1, 0.1)
    g = torch.Generator().manual_seed(5)
    p = torch.randn(40, 3, generator=g, dtype=torch.float64) * 0.09
    fid = nearest_faces(p, v, f)
    pp, vv = p.clone().requires_grad_(True), v.clone().requires_grad_(True)

    def fn(x, y):
        out = closest_on_faces(x, y, f, fid)
        return out.points, out.bary, out.distance

    assert torch.autograd.gradcheck(fn, (pp, vv))
    assert torch.autograd.gradcheck(lambda x: closest_points(x, v, f).distance, (pp,))


def test_fallback_warns_once_and_stays_exact():
    v, f = _meshes()[0]
    p = torch.randn(300, 3, dtype=torch.float64) * 0.1
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        mp.setattr(backends, "nearest_probe", lambda name: backends.Probe(False, f"{name}: simulated"))
        warnings.simplefilter("always")
        a = closest_points(p, v, f)
        closest_points(p, v, f)
        with pytest.raises(RuntimeError, match="backend 'pcu' cannot be honoured: pcu: simulated"):
            nearest_faces(p, v, f, backend="pcu")
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "pip install fcpw warp-lang" in msgs[0] and "warp: simulated" in msgs[0]
    assert torch.equal(a.face_id, nearest_faces_reference(p, v, f))


def test_empty_and_bad_shapes():
    v, f = icosphere(0)
    out = closest_points(torch.zeros(0, 3, dtype=torch.float64), v, f)
    assert out.face_id.shape == (0,) and out.points.shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        closest_points(torch.zeros(5, 2), v, f)
    with pytest.raises(ValueError, match=r"\(20, 4\)"):
        closest_points(torch.zeros(5, 3), v, torch.zeros(20, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="backend"):
        closest_points(torch.zeros(5, 3), v, f, backend="gpu")


def test_the_accelerators_are_imported_lazily():
    code = ("import sys, pav.geometry, pav.backends; "
            "print(sorted(m for m in ('fcpw', 'warp', 'point_cloud_utils') if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "[]"
