"""pav.geometry canonicalization: the deformation-gradient map's properties, against closed forms."""
import math

import pytest
import torch

from pav.geometry import (canonicalize, closest_points, face_maps, icosphere, map_directions, map_points,
                          triangle_frames)


def _pair(seed=0):
    """A deformed/canonical pair of the same topology: smooth random displacement plus anisotropic scale."""
    v, f = icosphere(2, 0.1)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64)
    deformed = v * torch.tensor([1.1, 0.9, 1.2], dtype=torch.float64) + 0.02 * torch.sin(20 * v @ w)
    return deformed, v, f


def _random_bary(n, g, floor):
    """(n, 3) random barycentrics, each ≥ floor / (3·floor + 3): inside the triangle, off its edges."""
    w = torch.rand(n, 3, generator=g, dtype=torch.float64) + floor
    return w / w.sum(1, keepdim=True)


def _rotation(seed):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def _unit_normals(v, f):
    a, b, c = v[f].unbind(1)
    return torch.nn.functional.normalize(torch.linalg.cross(b - a, c - a), dim=-1)


def test_triangle_frames_and_closed_form_inverse():
    d, c, f = _pair()
    T = triangle_frames(d, f)
    a, b, cc = d[f].unbind(1)
    torch.testing.assert_close(T[:, :, 0], b - a)
    torch.testing.assert_close(T[:, :, 2], _unit_normals(d, f))
    maps = face_maps(d, c, f)
    reference = triangle_frames(c, f) @ torch.linalg.inv(T)  # plain twin: an explicit inverse
    torch.testing.assert_close(maps.linear, reference, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(maps.offset, c[f[:, 0]] - (reference @ a[..., None])[..., 0], rtol=1e-10, atol=1e-12)


def test_surface_points_keep_barycentrics_and_normal_offsets_keep_length():
    d, c, f = _pair(1)
    g = torch.Generator().manual_seed(2)
    fid = torch.randint(0, len(f), (2000,), generator=g)
    bary = _random_bary(2000, g, floor=0.5)
    h = (torch.rand(2000, generator=g, dtype=torch.float64) - 0.5) * 4e-3
    on_d = (bary[:, :, None] * d[f[fid]]).sum(1)
    on_c = (bary[:, :, None] * c[f[fid]]).sum(1)
    maps = face_maps(d, c, f)
    torch.testing.assert_close(map_points(maps, on_d, fid), on_c, rtol=0, atol=1e-14)
    x = on_d + h[:, None] * _unit_normals(d, f)[fid]
    torch.testing.assert_close(map_points(maps, x, fid), on_c + h[:, None] * _unit_normals(c, f)[fid],
                               rtol=0, atol=1e-14)
    # through the nearest-triangle search: samples whose nearest triangle is their own keep the signed offset
    out = canonicalize(x, d, c, f)
    own = out.face_id == fid
    assert own.float().mean() > 0.8
    torch.testing.assert_close(out.distance[own], h[own], rtol=0, atol=1e-14)
    torch.testing.assert_close(out.bary[own], bary[own], rtol=0, atol=1e-9)
    torch.testing.assert_close(out.points[own], on_c[own] + h[own, None] * _unit_normals(c, f)[fid[own]],
                               rtol=0, atol=1e-14)


def test_identity_mesh_is_the_identity():
    _, v, f = _pair()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(500, 3, generator=g, dtype=torch.float64) * 0.15
    dirs = torch.nn.functional.normalize(torch.randn(500, 3, generator=g, dtype=torch.float64), dim=-1)
    out = canonicalize(x, v, v, f, directions=dirs)
    torch.testing.assert_close(out.points, x, rtol=0, atol=1e-14)
    torch.testing.assert_close(out.directions, dirs, rtol=0, atol=1e-14)


def test_rigid_motion_maps_back_exactly():
    _, c, f = _pair()
    R, t = _rotation(4), torch.tensor([0.3, -0.1, 0.5], dtype=torch.float64)
    d = c @ R.T + t
    g = torch.Generator().manual_seed(5)
    x = torch.randn(800, 3, generator=g, dtype=torch.float64) * 0.2 + t
    dirs = torch.nn.functional.normalize(torch.randn(800, 3, generator=g, dtype=torch.float64), dim=-1)
    out = canonicalize(x, d, c, f, directions=dirs, backend="torch")  # float64 search: ties resolve alike
    torch.testing.assert_close(out.points, (x - t) @ R, rtol=0, atol=1e-13)
    torch.testing.assert_close(out.directions, dirs @ R, rtol=0, atol=1e-13)
    torch.testing.assert_close(out.distance, closest_points((x - t) @ R, c, f, backend="torch").distance,
                               rtol=0, atol=1e-13)


def test_directions_follow_the_linear_part_and_are_unit():
    d, c, f = _pair(6)
    fid = torch.arange(len(f))
    dirs = torch.nn.functional.normalize(torch.randn(len(f), 3, dtype=torch.float64), dim=-1)
    maps = face_maps(d, c, f)
    out = map_directions(maps, dirs, fid)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(len(f), dtype=torch.float64))
    expected = map_points(maps, dirs, fid) - map_points(maps, torch.zeros_like(dirs), fid)
    torch.testing.assert_close(out, torch.nn.functional.normalize(expected, dim=-1))
    # in-plane edge directions go to the canonical edge directions
    a, b, _ = d[f].unbind(1)
    ac, bc, _ = c[f].unbind(1)
    torch.testing.assert_close(map_directions(maps, b - a, fid), torch.nn.functional.normalize(bc - ac, dim=-1))


def test_reused_maps_and_closest_give_the_same_result():
    d, c, f = _pair(7)
    x = torch.randn(300, 3, dtype=torch.float64) * 0.12
    a = canonicalize(x, d, c, f)
    b = canonicalize(x, d, c, f, closest=closest_points(x, d, f), maps=face_maps(d, c, f))
    for u, w in zip(a, b):
        if u is not None:
            assert torch.equal(u, w)
    assert a.directions is None


def test_gradients_match_finite_differences():
    d, c, f = _pair(8)
    g = torch.Generator().manual_seed(9)
    # samples near the surface, away from the Voronoi boundaries where the nearest triangle (and the map) jumps
    fid = torch.randint(0, len(f), (30,), generator=g)
    bary = _random_bary(30, g, floor=1.0)
    x = (bary[:, :, None] * d[f[fid]]).sum(1) + 2e-3 * _unit_normals(d, f)[fid]
    x = x.requires_grad_(True)
    dirs = torch.randn(30, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    fn = lambda p, q: canonicalize(p, d, c, f, directions=q)[:3]  # noqa: E731 - points, directions, distance
    assert torch.autograd.gradcheck(fn, (x, dirs))
    fid = closest_points(x.detach(), d, f).face_id
    dv, cv = d.clone().requires_grad_(True), c.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, q: map_points(face_maps(p, q, f), x.detach(), fid), (dv, cv))


def test_degenerate_triangle_stays_finite():
    d = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2], [0, 1, 3]])
    maps = face_maps(d, d * 2, f)
    assert torch.isfinite(maps.linear).all() and torch.isfinite(maps.offset).all()
    torch.testing.assert_close(maps.linear[1], torch.diag(torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64)))


def test_bad_shapes_raise_with_the_shape():
    d, c, f = _pair()
    with pytest.raises(ValueError, match=r"\(7, 2\)"):
        canonicalize(torch.zeros(7, 2), d, c, f)
    with pytest.raises(ValueError, match=r"\(6, 3\)"):
        canonicalize(torch.zeros(7, 3, dtype=torch.float64), d, c, f, directions=torch.zeros(6, 3))
    with pytest.raises(ValueError, match=r"\(10, 3\)"):
        face_maps(d, c[:10], f)
    assert math.isclose(float(triangle_frames(d, f)[:, :, 2].norm(dim=-1).mean()), 1.0)
