"""pav.geometry rasterizer: against the plain float64 twin, closed forms, conventions, gradients."""
import pytest
import torch

from pav.camera import Camera, orbit
from pav.geometry import icosphere, interpolate, pixel_barycentrics, rasterize
from pav.geometry.raster_ref import rasterize_reference

EYE = torch.eye(4, dtype=torch.float64)  # camera at the origin looking along +z


def _random_soup(seed, n=60):
    """Overlapping random triangles of mixed sizes in front of (and a few behind) an identity camera."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 1, 3, generator=g, dtype=torch.float64) * torch.tensor([1.6, 1.2, 2.0]) \
        - torch.tensor([0.8, 0.6, -0.3])
    size = torch.rand(n, 1, 1, generator=g, dtype=torch.float64) ** 2 * 0.8
    v = (centre + size * torch.randn(n, 3, 3, generator=g, dtype=torch.float64)).reshape(-1, 3)
    return v, torch.arange(3 * n).reshape(n, 3)


def _compare(a, b, max_mismatch=0):
    assert (a.face_id != b.face_id).sum() <= max_mismatch
    same = (a.face_id == b.face_id) & a.mask
    assert same.sum() > 0
    torch.testing.assert_close(a.depth[same], b.depth[same], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(a.bary[same], b.bary[same], rtol=0, atol=1e-9)
    assert torch.isinf(a.depth[~a.mask]).all() and (a.bary[~a.mask] == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cull", [False, True])
def test_random_soup_matches_reference(seed, cull):
    v, f = _random_soup(seed)
    cam = Camera(EYE, 30.0, 28.0, 20.3, 14.6, 40, 30)
    _compare(rasterize(v, f, cam, cull_backfaces=cull), rasterize_reference(v, f, cam, cull_backfaces=cull))


def test_icosphere_matches_reference_and_culling_changes_nothing_when_closed():
    v, f = icosphere(2, 0.1)
    cam = Camera(orbit((0.01, 0.0, 0.0), 0.4, 30.0, -20.0), 70.0, 70.0, 24.0, 17.0, 48, 36)
    r = rasterize(v, f, cam)
    _compare(r, rasterize_reference(v, f, cam))
    rc = rasterize(v, f, cam, cull_backfaces=True)
    assert torch.equal(r.face_id, rc.face_id)
    # the visible faces of a convex outward mesh face the camera
    a, b, c = v[f[r.face_id[r.mask]]].unbind(1)
    n = torch.linalg.cross(b - a, c - a)
    assert ((n * (a - cam.center)).sum(-1) < 0).all()


def test_small_chunks_give_the_same_image():
    v, f = _random_soup(3)
    cam = Camera(EYE, 30.0, 30.0, 20.0, 15.0, 40, 30)
    a, b = rasterize(v, f, cam), rasterize(v, f, cam, chunk_pairs=50)
    assert torch.equal(a.face_id, b.face_id) and torch.equal(a.depth, b.depth)


def _quad(x0, x1, y0, y1, z):
    v = torch.tensor([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=torch.float64)
    return v, torch.tensor([[0, 1, 2], [0, 2, 3]])


def test_pixel_centres_at_half_integers():
    # fx = 1, cx = 0, z = 1: the projection is exact, pixel x = world x.
    cam = Camera(EYE, 1.0, 1.0, 0.0, 0.0, 8, 6)
    r = rasterize(*_quad(2.0, 5.0, 1.0, 3.0, 1.0), cam)
    expected = torch.zeros(6, 8, dtype=torch.bool)
    expected[1:3, 2:5] = True  # centres 2.5, 3.5, 4.5 and 1.5, 2.5 (edges inclusive; 5.5 and 3.5 outside)
    assert torch.equal(r.mask, expected)
    thin = rasterize(*_quad(2.4, 2.6, 0.0, 6.0, 1.0), cam)
    assert thin.mask.any(0).nonzero().flatten().tolist() == [2]


def test_quad_closed_form_coverage_depth_and_barycentrics():
    cam = Camera(EYE, 20.0, 20.0, 8.0, 6.0, 16, 12)
    v, f = _quad(-0.3, 0.5, -0.2, 0.3, 2.0)  # projects to x in [5, 13], y in [4, 9]
    r = rasterize(v, f, cam)
    expected = torch.zeros(12, 16, dtype=torch.bool)
    expected[4:9, 5:13] = True
    assert torch.equal(r.mask, expected)
    assert torch.all(r.depth[expected] == 2.0)
    i, j = torch.meshgrid(torch.arange(12, dtype=torch.float64), torch.arange(16, dtype=torch.float64),
                          indexing="ij")
    ray_hit = torch.stack([(j + 0.5 - 8.0) / 20.0 * 2.0, (i + 0.5 - 6.0) / 20.0 * 2.0, torch.full_like(i, 2.0)], -1)
    pos = interpolate(v, r, f)
    torch.testing.assert_close(pos[expected], ray_hit[expected], rtol=0, atol=1e-12)


def test_tilted_triangle_is_perspective_correct():
    cam = Camera(orbit((0.0, 0.0, 0.0), 1.0, 25.0, 15.0), 40.0, 40.0, 16.0, 16.0, 32, 32)
    v = torch.tensor([[-0.6, -0.5, -0.4], [0.7, -0.4, 0.5], [0.0, 0.6, -0.2]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2]])
    r = rasterize(v, f, cam)
    assert r.mask.sum() > 100
    o, d = cam.rays(torch.float64)
    n = torch.linalg.cross(v[1] - v[0], v[2] - v[0])
    t = ((v[0] - o) @ n) / (d @ n)  # ray-plane intersection
    hit = o + t[..., None] * d
    z_cam = (hit - cam.center) @ cam.c2w[:3, 2]
    torch.testing.assert_close(r.depth[r.mask], z_cam[r.mask], rtol=1e-12, atol=0)
    torch.testing.assert_close(interpolate(v, r, f)[r.mask], hit[r.mask], rtol=0, atol=1e-12)
    torch.testing.assert_close(pixel_barycentrics(r, v, f, cam), r.bary, rtol=0, atol=1e-12)
    # screen-affine (not perspective-correct) weights differ clearly on this slanted triangle
    uv = cam.project(v)[:, :2]
    i, j = r.mask.nonzero().unbind(1)
    px = torch.stack([j + 0.5, i + 0.5], -1).double()
    m = torch.stack([uv[1] - uv[0], uv[2] - uv[0]], -1)  # (2, 2)
    bc = torch.linalg.solve(m, (px - uv[0]).T).T
    affine = torch.stack([1 - bc.sum(1), bc[:, 0], bc[:, 1]], -1)
    assert (affine - r.bary[r.mask]).abs().max() > 1e-2


def test_near_plane_drops_whole_triangles_and_culling_by_normal():
    cam = Camera(EYE, 10.0, 10.0, 5.0, 5.0, 10, 10)
    front = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    f = torch.tensor([[0, 1, 2]])
    # y is down: (−1,−1) → (1,−1) → (0,1) has normal cross(b−a, c−a) along +z, away from the camera
    assert rasterize(front, f, cam).mask.sum() > 10
    assert rasterize(front, f, cam, cull_backfaces=True).mask.sum() == 0
    assert rasterize(front, f[:, [0, 2, 1]], cam, cull_backfaces=True).mask.sum() > 10
    behind = front.clone()
    behind[0, 2] = -0.5
    assert rasterize(behind, f, cam).mask.sum() == 0
    assert rasterize(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), cam).mask.sum() == 0


def test_size_override_scales_intrinsics():
    v, f = icosphere(1, 0.1)
    cam = Camera(orbit((0.0, 0.0, 0.0), 0.5, 10.0, 5.0), 30.0, 30.0, 12.0, 10.0, 24, 20)
    a = rasterize(v, f, cam, width=48, height=40)
    b = rasterize(v, f, cam.scaled(48, 40))
    assert a.face_id.shape == (40, 48) and torch.equal(a.face_id, b.face_id)


def test_interpolate_gradients_match_finite_differences():
    v, f = icosphere(1, 0.1)
    cam = Camera(orbit((0.0, 0.0, 0.0), 0.35, 20.0, 10.0), 30.0, 30.0, 6.3, 5.1, 12, 10)
    r = rasterize(v, f, cam)
    g = torch.Generator().manual_seed(0)
    attr = torch.randn(len(v), 2, generator=g, dtype=torch.float64, requires_grad=True)
    corner = torch.randn(len(f), 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    verts = v.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, x: interpolate(a, r, f, vertices=x, camera=cam), (attr, verts))
    assert torch.autograd.gradcheck(lambda a, x: interpolate(a, r, f, vertices=x, camera=cam), (corner, verts))


def test_interpolate_variants_agree():
    v, f = icosphere(2, 0.1)
    cam = Camera(orbit((0.0, 0.0, 0.0), 0.4, -15.0, 5.0), 50.0, 50.0, 16.0, 12.0, 32, 24)
    r = rasterize(v, f, cam)
    attr = torch.randn(len(v), 3, dtype=torch.float64)
    a = interpolate(attr, r, f)
    torch.testing.assert_close(interpolate(attr[f], r), a)
    torch.testing.assert_close(interpolate(attr, r, f, vertices=v, camera=cam), a, rtol=0, atol=1e-12)
    assert (a[~r.mask] == 0).all()
    z = ((v - cam.center) @ cam.c2w[:3, 2])[:, None]  # camera z per vertex interpolates to the depth
    torch.testing.assert_close(interpolate(z, r, f)[..., 0][r.mask], r.depth[r.mask], rtol=1e-12, atol=0)


def test_bad_shapes_raise_with_the_shape():
    cam = Camera(EYE, 10.0, 10.0, 5.0, 5.0, 10, 10)
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        rasterize(torch.zeros(4, 2), torch.zeros(1, 3, dtype=torch.long), cam)
    with pytest.raises(ValueError, match=r"\(1, 4\)"):
        rasterize(torch.zeros(4, 3), torch.zeros(1, 4, dtype=torch.long), cam)
    r = rasterize(torch.zeros(4, 3), torch.zeros(1, 3, dtype=torch.long), cam)
    with pytest.raises(ValueError, match=r"\(2, 2, 2, 2\)"):
        interpolate(torch.zeros(2, 2, 2, 2), r)
