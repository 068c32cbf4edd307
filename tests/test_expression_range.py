"""The field's conditioning clamped to the trained expression range (pav/nerf/expression_range.py): the clamp
against its closed form, and `Avatar.render` conditioning the field on the clamped expression while the mesh
follows the expression as given."""
import pytest
import torch

from pav.nerf.expression_range import clamp_expression, trained_expression_range


def test_range_is_the_per_coefficient_min_and_max_and_the_clamp_its_closed_form():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(50, 6, generator=g, dtype=torch.float64)
    rng = trained_expression_range(train.float())
    lo, hi = train.float().double().min(0).values, train.float().double().max(0).values
    assert rng == {"lo": lo.tolist(), "hi": hi.tolist()}
    inside = train[7:9].float()
    assert torch.equal(clamp_expression(inside, rng), inside)  # every training expression is left alone
    e = torch.tensor([[-9.0, 9.0, 0.0, float(lo[3]) - 1e-3, float(hi[4]) + 1e-3, float((lo[5] + hi[5]) / 2)]])
    expected = torch.tensor([[lo[0], hi[1], 0.0, lo[3], hi[4], (lo[5] + hi[5]) / 2]], dtype=torch.float64)
    torch.testing.assert_close(clamp_expression(e.double(), rng), expected, atol=1e-15, rtol=0)
    assert clamp_expression(e, None) is e and clamp_expression(e, {}) is e
    with pytest.raises(ValueError, match="expression range has 6 coefficients, the expression 4"):
        clamp_expression(torch.zeros(1, 4), rng)


def test_render_conditions_the_field_on_the_clamped_expression_and_deforms_with_the_given_one():
    from pav.camera import Camera, orbit
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar
    from test_avatar import small_config

    torch.manual_seed(0)
    head = load_head_model("default")
    avatar = Avatar(small_config(), head, torch.zeros(head.n_shape), ["a"])
    E = head.n_expression
    avatar.info = {"expression_range": {"lo": [-0.2] * E, "hi": [0.3] * E}}
    seen = []
    real = avatar.render_rays
    avatar.render_rays = lambda *a, **k: seen.append((a[5], a[6])) or real(*a, **k)
    e = torch.linspace(-1.0, 1.0, E)
    centre = avatar.canonical_vertices.mean(0)
    cam = Camera.from_fov(orbit(centre.tolist(), 0.6, 10.0, 0.0).float(), 25, 24, 24)
    avatar.render(cam, e, torch.zeros(head.n_joints, 3), "a")
    vertices, conditioning = seen[0]
    torch.testing.assert_close(conditioning[0], e.clamp(-0.2, 0.3), atol=0, rtol=0)
    torch.testing.assert_close(vertices, avatar.deform(e[None], torch.zeros(1, head.n_joints, 3)), atol=0, rtol=0)
    seen.clear()
    avatar.info = {}  # an avatar without a recorded range (a fresh one, an older checkpoint) is not clamped
    avatar.render(cam, e, torch.zeros(head.n_joints, 3), "a")
    torch.testing.assert_close(seen[0][1][0], e, atol=0, rtol=0)
