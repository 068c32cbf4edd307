"""The optional regularizers of issue 18 §2 (pav/train/losses.py) against float64 references written here:
the distortion loss against the O(K²) double sum and against a numerical double integral of the
piecewise-constant weight density; the alpha entropy and the far-density ramp against closed forms; the
SH Dirichlet energy against a quadrature of |∇_S f|² on the sphere; the shell probes against their
construction; `--set` overrides; and the trainer adding exactly the switched-on terms."""
import math

import pytest
import torch

from pav.config import ModelConfig, TrainConfig, apply_overrides
from pav.nerf.sh import spherical_harmonics
from pav.train.losses import (alpha_entropy, distortion_loss, far_density, inner_transparency,
                              sh_dirichlet_energy, shell_probes)


def random_rays(R=5, K=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    near = 1 + torch.rand(R, generator=g, dtype=torch.float64)
    length = 0.02 + 0.1 * torch.rand(R, generator=g, dtype=torch.float64)
    step = length / K
    t = near[:, None] + (torch.arange(K, dtype=torch.float64) + torch.rand(R, K, generator=g, dtype=torch.float64)) \
        * step[:, None]
    w = torch.rand(R, K, generator=g, dtype=torch.float64)
    w = w / w.sum(1, keepdim=True) * torch.rand(R, 1, generator=g, dtype=torch.float64)  # Σw ≤ 1
    return w, t, step[:, None].expand(R, K), length


def distortion_twin(w, t, dt, length):
    """Mip-NeRF 360's definition as written: an explicit double sum over sample pairs, float64."""
    R, K = w.shape
    out = torch.zeros(R, dtype=torch.float64)
    for r in range(R):
        s, ds = t[r] / length[r], dt[r] / length[r]
        for i in range(K):
            for j in range(K):
                out[r] += w[r, i] * w[r, j] * abs(s[i] - s[j])
            out[r] += w[r, i] ** 2 * ds[i] / 3
    return out


def test_distortion_loss_equals_the_double_sum():
    w, t, dt, length = random_rays()
    got = distortion_loss(w, t, dt, length)
    torch.testing.assert_close(got, distortion_twin(w, t, dt, length), atol=1e-14, rtol=1e-12)
    assert float(got.min()) > 0
    # float32 inputs (as training has them) agree to float32 precision
    got32 = distortion_loss(w.float(), t.float(), dt.float(), length.float())
    torch.testing.assert_close(got32.double(), distortion_twin(w, t, dt, length), atol=1e-6, rtol=1e-5)


def test_distortion_loss_is_the_double_integral_of_the_step_density():
    """Bin centres (rendering layout: adjacent intervals): the loss equals ∫∫ w(u) w(v) |u − v| du dv with
    w(u) = w_i / δ_i on interval i, integrated numerically on a fine midpoint grid."""
    K, near, length = 6, 2.0, 0.05
    w = torch.tensor([[0.05, 0.1, 0.4, 0.3, 0.0, 0.1]], dtype=torch.float64)
    step = length / K
    t = near + (torch.arange(K, dtype=torch.float64)[None] + 0.5) * step
    got = float(distortion_loss(w, t, torch.full_like(t, step), torch.tensor([length], dtype=torch.float64)))
    n = 600  # cells per interval
    u = (torch.arange(K * n, dtype=torch.float64) + 0.5) / (K * n)  # normalised distance, [0, 1]
    density = (w[0] / (1.0 / K)).repeat_interleave(n)  # w_i / δ_i with δ_i = 1/K normalised
    du = 1.0 / (K * n)
    integral = float((density[:, None] * density[None, :] * (u[:, None] - u[None, :]).abs()).sum() * du * du)
    # the midpoint rule on the diagonal cells misses ⅓ Σ w_i² δ_i / n² relatively: error ~1/n²
    assert got == pytest.approx(integral, rel=1e-5)


def test_distortion_loss_prefers_one_surface():
    """Same total weight: one sample < two adjacent < two far apart (the point of the loss)."""
    t = torch.linspace(0.5, 9.5, 10, dtype=torch.float64)[None].expand(3, 10)
    w = torch.zeros(3, 10, dtype=torch.float64)
    w[0, 4] = 0.8
    w[1, 4] = w[1, 5] = 0.4
    w[2, 0] = w[2, 9] = 0.4
    loss = distortion_loss(w, t, torch.ones_like(t), torch.full((3,), 10.0, dtype=torch.float64))
    # by hand: 0.64·0.1/3; 2·0.16·0.1 + 2·0.16·0.1/3; 2·0.16·0.9 + 2·0.16·0.1/3
    expected = torch.tensor([0.64 * 0.1 / 3, 0.032 + 0.032 / 3, 0.288 + 0.032 / 3], dtype=torch.float64)
    torch.testing.assert_close(loss, expected, atol=1e-15, rtol=1e-13)


def test_alpha_entropy_closed_forms():
    a = torch.tensor([0.5, 0.1, 0.9, 0.0, 1.0, 0.3], dtype=torch.float64, requires_grad=True)
    h = alpha_entropy(a, eps=1e-4)
    hb = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))
    expected = [math.log(2), hb(0.1), hb(0.1), hb(1e-4), hb(1e-4), hb(0.3)]
    torch.testing.assert_close(h.detach(), torch.tensor(expected, dtype=torch.float64), atol=1e-15, rtol=1e-13)
    h.sum().backward()
    # dH/da = ln((1 − a) / a) inside the clamp, 0 where alpha is clamped
    grad = [0.0, math.log(9), -math.log(9), 0.0, 0.0, math.log(0.7 / 0.3)]
    torch.testing.assert_close(a.grad, torch.tensor(grad, dtype=torch.float64), atol=1e-13, rtol=1e-12)


def test_far_density_ramp_and_opacity():
    sigma = torch.tensor([100.0, 100.0, 100.0, 100.0, 0.0, 500.0], dtype=torch.float64)
    height = torch.tensor([0.0, 0.015, 0.03, 0.06, 0.05, 0.0375], dtype=torch.float64)
    got = far_density(sigma, height, start=0.015, stop=0.045, delta=0.002)
    ramp = [0.0, 0.0, 0.5, 1.0, 1.0, 0.75]
    expected = [r * (1 - math.exp(-s * 0.002)) for r, s in zip(ramp, sigma.tolist())]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), atol=1e-15, rtol=1e-13)
    with pytest.raises(ValueError, match="start < stop"):
        far_density(sigma, height, start=0.05, stop=0.045, delta=0.002)
    torch.testing.assert_close(inner_transparency(sigma, 0.01), torch.tensor(
        [math.exp(-1.0)] * 4 + [1.0, math.exp(-5.0)], dtype=torch.float64), atol=1e-15, rtol=1e-13)


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_sh_dirichlet_energy_is_the_surface_gradient_integral(degree):
    """f(d) = W·Y(d) with Y the project's SH; ∫_{S²} |∇_S f|² dΩ by Gauss–Legendre in cos θ × uniform φ,
    with ∂f/∂θ and ∂f/∂φ by autograd in float64: |∇_S f|² = f_θ² + f_φ² / sin² θ."""
    g = torch.Generator().manual_seed(degree)
    W = torch.randn(3, degree ** 2, generator=g, dtype=torch.float64)
    x, wx = (torch.from_numpy(a) for a in __import__("numpy").polynomial.legendre.leggauss(24))
    n_phi = 48
    theta = torch.arccos(x).repeat_interleave(n_phi).requires_grad_()
    phi = (torch.arange(n_phi, dtype=torch.float64) * 2 * math.pi / n_phi).repeat(len(x)).requires_grad_()
    d = torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], -1)
    f = spherical_harmonics(d, degree) @ W.T + 0 * theta[:, None]  # (N, 3); a graph even when constant
    grad_sq = torch.zeros(len(theta), dtype=torch.float64)
    for k in range(3):
        f_theta, f_phi = torch.autograd.grad(f[:, k].sum(), (theta, phi), retain_graph=True, allow_unused=True,
                                             materialize_grads=True)
        grad_sq += f_theta ** 2 + f_phi ** 2 / theta.detach().sin() ** 2
    quadrature = float((grad_sq * wx.repeat_interleave(n_phi)).sum() * 2 * math.pi / n_phi)
    got = float(sh_dirichlet_energy(W, degree))
    assert got == pytest.approx(quadrature, rel=1e-9, abs=1e-12)
    if degree == 1:
        assert got == 0.0  # the constant band is free
    with pytest.raises(ValueError, match="weight must be"):
        sh_dirichlet_energy(W[:, :-1], degree)


def test_shell_probes_stand_on_their_faces_at_their_heights():
    """A tetrahedron: each probe is its foot point (inside its face) plus height × the face's unit normal
    cross(b − a, c − a) / |…|; faces are drawn by area (the big face gets its share)."""
    v = torch.tensor([[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 0.5]], dtype=torch.float64)
    f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    g = torch.Generator().manual_seed(0)
    p = shell_probes(v, f, 20000, 0.04, g)
    a, b, c = v[f[p.face, 0]], v[f[p.face, 1]], v[f[p.face, 2]]
    n = torch.linalg.cross(b - a, c - a)
    n = n / n.norm(dim=-1, keepdim=True)
    foot = p.bary[:, :1] * a + p.bary[:, 1:2] * b + p.bary[:, 2:] * c
    torch.testing.assert_close(p.points, foot + p.height[:, None] * n, atol=1e-12, rtol=0)
    assert float(p.bary.min()) >= 0 and torch.allclose(p.bary.sum(1), torch.ones(20000, dtype=torch.float64))
    assert 0 <= float(p.height.min()) and float(p.height.max()) <= 0.04
    assert float(p.height.mean()) == pytest.approx(0.02, abs=5e-4)
    area = 0.5 * torch.linalg.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]).norm(dim=-1)
    share = torch.bincount(p.face, minlength=4).double() / 20000
    torch.testing.assert_close(share, area / area.sum(), atol=0.015, rtol=0)
    # uniform on the face: the mean barycentric is (⅓, ⅓, ⅓)
    torch.testing.assert_close(p.bary.mean(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=5e-3, rtol=0)
    assert float((p.points[p.face == 0, 2]).max()) <= 0  # face 0 (z = 0, wound downwards) points to −z
    below = shell_probes(v, f, 4000, 0.0, torch.Generator().manual_seed(1), min_height=-0.01)
    assert -0.01 <= float(below.height.min()) and float(below.height.max()) <= 0
    assert float(below.height.mean()) == pytest.approx(-0.005, abs=3e-4)
    assert float((below.points[below.face == 0, 2]).min()) >= 0  # under face 0: inside the tetrahedron, z ≥ 0


def test_set_overrides_fields_and_names_bad_ones():
    model, train = ModelConfig(), TrainConfig()
    m, t = apply_overrides(model, train, ["train.lambda_distortion=0.01", "model.field.sh_degree=2",
                                          "model.shell_out=0.05", "model.hashgrid.n_levels=8", "train.steps=7"])
    assert (t.lambda_distortion, m.field.sh_degree, m.shell_out, m.hashgrid.n_levels, t.steps) == \
        (0.01, 2, 0.05, 8, 7)
    assert (model.field.sh_degree, train.lambda_distortion, model.hashgrid.n_levels) == (4, 0.0, 12)  # untouched
    defaults = TrainConfig()
    assert (defaults.lambda_distortion, defaults.lambda_alpha_entropy, defaults.lambda_far_density,
            defaults.lambda_view_smooth) == (0.0, 0.0, 0.0, 0.0)
    for bad, match in [("train.lambda_distorsion=1", "'lambda_distorsion' is not a field of TrainConfig"),
                       ("model.field.sh_degree=5", "sh_degree=5 must be in 1..4"),
                       ("train.steps=1.5", "'1.5' is not a valid int"),
                       ("train.lambda_far_density=-1", "lambda_far_density=-1.0 must be ≥ 0"),
                       ("lambda_color=1", "expected model.FIELD=VALUE"),
                       ("train.lambda_color", "expected model.FIELD=VALUE"),
                       ("model.variant=nope", "variant 'nope' is not one of")]:
        with pytest.raises(ValueError, match=match):
            apply_overrides(model, train, [bad])


def density_at(trainer, probes):
    """σ (float64) at shell probes, redrawn by hand: 16 frames, a frame per probe, random view directions, in
    the order the trainer draws them from its generator."""
    avatar = trainer.avatar
    frames = trainer.usable[torch.randint(len(trainer.usable), (16,), generator=trainer.generator)]
    group = torch.randint(16, (len(probes.points),), generator=trainer.generator)
    uv = (probes.bary[:, :, None] * avatar.face_uv[probes.face]).sum(1)
    z = avatar.codes.lookup(uv, trainer.data.appearance[frames][group])
    dirs = torch.nn.functional.normalize(torch.randn(len(probes.points), 3, generator=trainer.generator), dim=-1)
    with torch.no_grad():
        return avatar.field(avatar.to_unit_cube(probes.points).clamp(0, 1), dirs, trainer.data.expression[frames],
                            group, z).sigma.double()


def test_trainer_adds_exactly_the_switched_on_terms(tiny_collection):
    """One Trainer step with the entropy, view-smoothness and far-density terms on: the loss equals the colour
    and depth terms plus each weight times its term recomputed here in float64 from the same rays, weights
    and probes; with every weight at 0 the step draws nothing more (same batch, same loss as before)."""
    from pav.data import load_split, read_collection
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar
    from pav.train.trainer import Trainer
    from test_avatar import small_config

    collection = read_collection(tiny_collection)
    data = load_split(collection, "train")

    def make(**weights):
        torch.manual_seed(0)
        avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                        collection.appearance_names)
        cfg = TrainConfig(rays_per_step=128, frames_per_step=2, occupancy_every=1000, seed=0, far_density_probes=256,
                          **weights)
        return Trainer(avatar, data, cfg)

    weights = dict(lambda_alpha_entropy=0.3, lambda_view_smooth=0.02, lambda_far_density=0.7,
                   lambda_inner_opacity=0.4, lambda_distortion=0.05)
    trainer = make(**weights)
    outputs, penalties, inner = [], [], []
    real_render, real_far, real_inner = trainer.render_rays, trainer.far_density_penalty, trainer.inner_opacity_penalty
    trainer.render_rays = lambda *a, **k: outputs.append(real_render(*a, **k)) or outputs[-1]
    trainer.far_density_penalty = lambda: penalties.append(real_far()) or penalties[-1]
    trainer.inner_opacity_penalty = lambda: inner.append(real_inner()) or inner[-1]
    W = trainer.avatar.field.mlp_c.first.weight.detach()[:, :16].double().clone()
    gen_state = trainer.generator.get_state()
    batch = trainer.batch_loss()
    trainer.generator.set_state(gen_state)
    plain = make()
    base = plain.batch_loss()
    out = outputs[0]
    a = out.alpha.detach().double().clamp(1e-4, 1 - 1e-4)
    entropy = float((-(a * a.log() + (1 - a) * (1 - a).log())).mean())
    l_of_column = [0] + [1] * 3 + [2] * 5 + [3] * 7
    dirichlet = sum(l * (l + 1) * float((W[:, c] ** 2).sum()) for c, l in enumerate(l_of_column))
    length = out.dt[:, 0].detach().double() * out.dt.shape[1]  # the rays' sampled lengths (equal bins)
    distortion = float(distortion_twin(out.weights.detach().double(), out.t.detach().double(),
                                       out.dt.detach().double(), length).mean())
    expected = float(base.loss.detach()) + 0.3 * entropy + 0.02 * dirichlet + 0.7 * float(penalties[0].detach()) \
        + 0.4 * float(inner[0].detach()) + 0.05 * distortion
    assert distortion > 0
    assert float(batch.loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert float(batch.mse.detach()) == pytest.approx(float(base.mse.detach()), rel=1e-6)  # the same rays as without the terms
    assert 0 < float(penalties[0].detach()) < 1 and 0 < float(inner[0].detach()) < 1 and entropy > 0.01

    # the far-density penalty by hand: the same probes (same generator state), the field at them
    trainer.generator.set_state(gen_state)
    trainer.sample_batch()  # the draws batch_loss made before the penalty
    state = trainer.generator.get_state()
    avatar, cfg = trainer.avatar, trainer.config
    probes = shell_probes(avatar.canonical_vertices, avatar.head.faces, 256, avatar.config.shell_out, trainer.generator)
    sigma = density_at(trainer, probes)
    ramp = ((probes.height.double() - 0.015) / (avatar.config.shell_out - 0.015)).clamp(0, 1)
    by_hand = float((ramp * (1 - torch.exp(-sigma * 0.002))).mean())
    # the inner-opacity penalty: the next draws, points in the layer shell_in below the surface
    shell_in = avatar.config.shell_in
    probes = shell_probes(avatar.canonical_vertices, avatar.head.faces, 256, 0.0, trainer.generator,
                          min_height=-shell_in)
    sigma = density_at(trainer, probes)
    inner_by_hand = float(torch.exp(-sigma * shell_in).mean())
    trainer.generator.set_state(state)
    assert float(trainer.far_density_penalty().detach()) == pytest.approx(by_hand, rel=1e-5)
    assert float(trainer.inner_opacity_penalty().detach()) == pytest.approx(inner_by_hand, rel=1e-5)


def test_a_resumed_run_refuses_a_different_model_override():
    import argparse
    from pathlib import Path

    from pav.config import to_dict
    from pav.train.command import check_model_overrides

    loaded = to_dict(ModelConfig())  # sh_degree 4
    args = argparse.Namespace(set=["model.field.sh_degree=2", "train.lambda_distortion=0.1"], out=Path("a.pav"))
    wanted, _ = apply_overrides(ModelConfig(), TrainConfig(), args.set)
    with pytest.raises(ValueError, match=r"a.pav was trained with model.field.sh_degree=4; use --force"):
        check_model_overrides(args, loaded, to_dict(wanted))
    check_model_overrides(args, to_dict(wanted), to_dict(wanted))  # the same model: resumes
    check_model_overrides(argparse.Namespace(set=["train.lambda_distortion=0.1"], out=Path("a.pav")), loaded,
                          to_dict(ModelConfig()))  # train fields may change on resume
