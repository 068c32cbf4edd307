"""Losses and optimiser (DESIGN §1.8) against hand computations: λ_color · L2 + λ_depth · L1 on the face rays
only, λ = 50 / 10, Adam β = (0.9, 0.99) with ε = 1e-15, MLP-O at its own learning rate."""
import math

import pytest
import torch

from pav.config import TrainConfig
from pav.data import load_split, read_collection
from pav.head import load_head_model
from pav.nerf.avatar import Avatar
from pav.train.trainer import Trainer, training_loss
from test_avatar import small_config


def test_design_numbers_are_the_defaults():
    cfg = TrainConfig()
    assert (cfg.lambda_color, cfg.lambda_depth, cfg.betas) == (50.0, 10.0, (0.9, 0.99))


def test_loss_on_a_four_ray_batch_by_hand():
    """Ray 0: on the face, hits the mesh; ray 1: face pixel whose ray misses the mesh (surface_t = inf);
    ray 2: off the face (its depth error of 1 m must not count); ray 3: on the face, hits."""
    rgb = torch.tensor([[0.5, 0.5, 0.5], [0.2, 0.4, 0.6], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64,
                       requires_grad=True)
    gt = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.4, 0.9], [0.0, 0.0, 0.0], [0.0, 0.0, 0.5]], dtype=torch.float64)
    depth = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, requires_grad=True)
    surface_t = torch.tensor([1.5, math.inf, 2.0, 4.25], dtype=torch.float64)
    face = torch.tensor([True, True, False, True])
    loss = training_loss(rgb, gt, depth, surface_t, face, 50.0, 10.0)
    total, mse, depth_l1 = (float(x.detach()) for x in loss)
    # squared errors per ray: 0, 0.01 + 0.09, 1, 0.25 → sum 1.35 over 12 values
    assert mse == pytest.approx(1.35 / 12, abs=1e-15)
    # depth: rays 0 and 3 only: (|1 − 1.5| + |4 − 4.25|) / 2
    assert depth_l1 == pytest.approx(0.375, abs=1e-15)
    assert total == pytest.approx(50 * 1.35 / 12 + 10 * 0.375, abs=1e-13)  # 9.375
    loss.total.backward()
    # ∂/∂depth = λ_depth · sign(depth − surface) / 2 on rays 0 and 3, nothing elsewhere
    torch.testing.assert_close(depth.grad, torch.tensor([-5.0, 0.0, 0.0, -5.0], dtype=torch.float64))
    torch.testing.assert_close(rgb.grad, 50 * 2 * (rgb - gt).detach() / 12)


def test_loss_without_face_rays_is_the_colour_term_alone():
    rgb, gt = torch.full((2, 3), 0.25), torch.zeros(2, 3)
    depth = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = training_loss(rgb, gt, depth, torch.tensor([5.0, math.inf]), torch.tensor([False, True]), 50.0, 10.0)
    assert float(loss.depth_l1.detach()) == 0.0 and float(loss.total.detach()) == pytest.approx(50 * 0.0625)
    loss.total.backward()
    assert torch.equal(depth.grad, torch.zeros(2))


def adam_twin(initial, grads, lr, betas, eps):
    """Float64 Adam (Kingma & Ba, with bias correction) from recorded gradients; steps with no gradient
    (None) leave the parameter and its moments alone, as torch does."""
    p = initial.double().clone()
    m, v, t = torch.zeros_like(p), torch.zeros_like(p), 0
    for g in grads:
        if g is None:
            continue
        g, t = g.double(), t + 1
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (v_hat.sqrt() + eps)
    return p


def test_trainer_steps_follow_the_loss_and_adam_by_hand(tiny_collection):
    """Three real Trainer steps on the tiny collection: each step's loss equals the hand formula on the rays
    it drew, and every parameter ends where a float64 Adam with the config's betas and per-group learning
    rates (MLP-O's own) takes it from the recorded gradients."""
    collection = read_collection(tiny_collection)
    torch.manual_seed(0)
    avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                    collection.appearance_names)
    cfg = TrainConfig(rays_per_step=128, frames_per_step=2, occupancy_every=1000, seed=0)
    data = load_split(collection, "train")
    trainer = Trainer(avatar, data, cfg)
    opt = trainer.optimizer
    assert [g["lr"] for g in opt.param_groups] == [cfg.lr, cfg.lr_offset] and cfg.lr_offset != cfg.lr
    offset_ids = {id(p) for p in avatar.field.mlp_o.parameters()}
    assert {id(p) for p in opt.param_groups[1]["params"]} == offset_ids

    batches, outputs = [], []
    real_sample, real_render = trainer.sample_batch, trainer.render_rays
    trainer.sample_batch = lambda: batches.append(real_sample()) or batches[-1]
    trainer.render_rays = lambda *a, **k: outputs.append(real_render(*a, **k)) or outputs[-1]
    named = dict(avatar.named_parameters())
    initial = {k: p.detach().clone() for k, p in named.items()}
    grads = {k: [] for k in named}

    def record_gradients(*_):
        for k, p in named.items():
            grads[k].append(None if p.grad is None else p.grad.clone())

    opt.register_step_pre_hook(record_gradients)
    H, W = data.height, data.width
    for step in range(3):
        stats = trainer.step()
        frames, pixels, group = batches[step]
        out, f = outputs[step], frames[group]
        row = f * H * W + pixels  # flat pixel index of every ray
        gt = data.images.reshape(-1, 3)[row].double()
        surface = trainer.rays.surface_t[f, pixels].double()
        face = (data.face_masks.reshape(-1)[row] > 0.5) & torch.isfinite(surface)
        assert 0 < int(face.sum()) < len(face)  # both kinds of rays in the batch
        mse = ((out.rgb.detach().double() - gt) ** 2).mean()
        depth_l1 = (out.depth.detach().double()[face] - surface[face]).abs().mean()
        assert stats.loss == pytest.approx(float(50 * mse + 10 * depth_l1), rel=1e-5)
        assert stats.depth_l1 == pytest.approx(float(depth_l1), rel=1e-5)
        if step == 0:  # Adam's first step moves every coordinate with a gradient by exactly its group's lr
            moved = avatar.field.mlp_o.last.weight.detach() - initial["field.mlp_o.last.weight"]
            g = grads["field.mlp_o.last.weight"][0]
            assert int((g != 0).sum()) > 10
            step_size = moved[g != 0].abs()
            torch.testing.assert_close(step_size, torch.full_like(step_size, cfg.lr_offset), rtol=1e-4, atol=0)
            moved = avatar.field.mlp_d.last.bias.detach() - initial["field.mlp_d.last.bias"]
            torch.testing.assert_close(moved.abs(), torch.full_like(moved, cfg.lr), rtol=1e-4, atol=0)

    for k, p in named.items():
        lr = cfg.lr_offset if id(p) in offset_ids else cfg.lr
        expected = adam_twin(initial[k], grads[k], lr, (0.9, 0.99), 1e-15)
        torch.testing.assert_close(p.detach().double(), expected, atol=lr * 1e-3, rtol=0, msg=k)
    # tolerance: float32 rounding of the stored parameters (rtol) plus 1e-4 of a step; the wrong β₂ (0.999)
    # would move them by ~4e-3 of a step within these three steps: the check below sees it
    for k, p in named.items():
        lr = cfg.lr_offset if id(p) in offset_ids else cfg.lr
        expected = adam_twin(initial[k], grads[k], lr, (0.9, 0.99), 1e-15)
        torch.testing.assert_close(p.detach().double(), expected, atol=lr * 1e-4, rtol=1e-6, msg=k)
    k = "field.mlp_d.last.weight"
    other_beta2 = adam_twin(initial[k], grads[k], cfg.lr, (0.9, 0.999), 1e-15)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(named[k].detach().double(), other_beta2, atol=cfg.lr * 1e-4, rtol=1e-6)


def test_an_emptied_occupancy_grid_is_a_clear_error(tiny_collection):
    """If training diverges until no cell is occupied, no sample reaches the field: the step says so in one
    line (the CLI prints it) instead of failing inside backward()."""
    collection = read_collection(tiny_collection)
    torch.manual_seed(0)
    avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                    collection.appearance_names)
    trainer = Trainer(avatar, load_split(collection, "train"), TrainConfig(rays_per_step=64, frames_per_step=2,
                                                                           occupancy_warmup=0, seed=0))
    trainer.step()  # a healthy step first
    avatar.occupancy.zero_()
    with pytest.raises(ValueError, match="occupancy grid emptied"):
        trainer.step()
