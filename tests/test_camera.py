"""Camera conventions: projection, rays, look_at/orbit, and the one OpenGL conversion."""
import math

import pytest
import torch

from pav.camera import Camera, look_at, opencv_to_opengl, opengl_to_opencv, opengl_view_projection, orbit


def make_camera():
    return Camera(orbit([0.01, 0.02, 0.0], 0.6, 30.0, -10.0).float(), 150.0, 160.0, 60.5, 45.25, 128, 96)


def test_pixel_centres_and_rays_round_trip():
    cam = make_camera()
    origins, dirs = cam.rays(torch.float64)
    # the ray through pixel (i, j) hits, at depth 1, a point that projects to (j + 0.5, i + 0.5)
    i, j = 17, 101
    p = origins[i, j] + dirs[i, j] / (dirs[i, j] @ cam.c2w[:3, 2].double())
    u, v, z = cam.project(p.float()).tolist()
    assert (u, v, z) == pytest.approx((j + 0.5, i + 0.5, 1.0), abs=1e-4)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(96, 128, dtype=torch.float64))


def test_look_at_target_projects_to_principal_point_and_axes_are_orthonormal():
    c2w = look_at([0.3, 0.2, 0.5], [0.0, 0.05, 0.0])
    R = c2w[:3, :3]
    assert torch.allclose(R.T @ R, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.det(R) == pytest.approx(1.0)
    cam = Camera(c2w, 100.0, 100.0, 40.0, 30.0, 80, 60)
    assert cam.project(torch.tensor([0.0, 0.05, 0.0], dtype=torch.float64)).tolist()[:2] == pytest.approx([40, 30])
    # world up (+y) appears up in the image (smaller v)
    assert cam.project(torch.tensor([0.0, 0.15, 0.0], dtype=torch.float64))[1] < 30


def test_orbit_radius_and_front():
    c2w = orbit([0, 0, 0], 0.8, 0.0, 0.0)
    assert c2w[:3, 3].tolist() == pytest.approx([0, 0, 0.8])
    c2w = orbit([0, 0, 0], 0.8, 90.0, 0.0)
    assert c2w[:3, 3].tolist() == pytest.approx([0.8, 0, 0], abs=1e-12)


def test_opengl_conversion_is_an_involution_and_flips_y_and_z():
    c2w = make_camera().c2w.double()
    gl = opencv_to_opengl(c2w)
    assert torch.equal(opengl_to_opencv(gl), c2w)
    assert torch.allclose(gl[:3, 1], -c2w[:3, 1]) and torch.allclose(gl[:3, 2], -c2w[:3, 2])
    assert torch.equal(gl[:3, 0], c2w[:3, 0]) and torch.equal(gl[:3, 3], c2w[:3, 3])


def test_opengl_view_projection_lands_on_the_same_pixel():
    cam = make_camera()
    M = opengl_view_projection(cam, near=0.1, far=5.0)
    pts = torch.tensor([[0.0, 0.0, 0.0], [0.05, -0.03, 0.04], [-0.08, 0.1, -0.02]], dtype=torch.float64)
    clip = torch.cat([pts, torch.ones(3, 1, dtype=torch.float64)], 1) @ M.T
    ndc = clip[:, :3] / clip[:, 3:]
    window_x = (ndc[:, 0] + 1) * cam.width / 2
    window_y_down = cam.height - (ndc[:, 1] + 1) * cam.height / 2
    ref = cam.project(pts.float()).double()
    assert torch.allclose(window_x, ref[:, 0], atol=1e-4) and torch.allclose(window_y_down, ref[:, 1], atol=1e-4)
    # depth: near → −1, far → +1 (closed form of the standard GL depth mapping)
    z = ref[:, 2]
    expected = (5.1 / 4.9) - 2 * 5.0 * 0.1 / (4.9 * z)
    assert torch.allclose(ndc[:, 2], expected, atol=1e-5)


def test_bad_camera_is_rejected():
    with pytest.raises(ValueError, match=r"c2w must be \(4, 4\), got \(3, 4\)"):
        Camera(torch.zeros(3, 4), 1, 1, 0, 0, 4, 4)


def test_from_fov_and_scaled():
    cam = Camera.from_fov(torch.eye(4), 90.0, 200, 100)
    assert cam.fy == pytest.approx(50.0) and (cam.cx, cam.cy) == (100, 50)
    half = cam.scaled(100, 50)
    assert (half.fx, half.cx, half.cy) == pytest.approx((25.0, 50.0, 25.0))
    assert math.isclose(half.fy, 25.0)
