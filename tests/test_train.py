"""Training on a tiny synthetic collection: it learns, it resumes exactly, the CLI saves on Ctrl-C."""
import argparse
import dataclasses

import torch

from pav import cli
from pav.checkpoint import load_avatar, load_train_state
from pav.config import TrainConfig
from pav.data import load_split, read_collection
from pav.eval import evaluate
from pav.head import load_head_model
from pav.nerf.avatar import Avatar
from pav.train import Trainer, command
from test_avatar import small_config


def new_trainer(collection, steps=10, seed=0, refresh_every=0):
    torch.manual_seed(seed)
    head = load_head_model("default")
    avatar = Avatar(small_config(), head, torch.tensor(collection.manifest.shape), collection.appearance_names)
    cfg = TrainConfig(steps=steps, rays_per_step=256, frames_per_step=4, occupancy_every=4, occupancy_warmup=6,
                      interval_refresh_every=refresh_every, seed=seed)
    return avatar, Trainer(avatar, load_split(collection, "train"), cfg)


def test_training_improves_the_training_views(tiny_collection):
    collection = read_collection(tiny_collection)
    avatar, trainer = new_trainer(collection)
    before = evaluate(avatar, collection, "train", max_frames=4, progress=False)["psnr"]
    for _ in range(60):
        stats = trainer.step()
    after = evaluate(avatar, collection, "train", max_frames=4, progress=False)["psnr"]
    assert after > before + 3.0, (before, after)
    assert stats.step == 60 and stats.samples > 0 and torch.isfinite(torch.tensor(stats.loss))


def resume_config(steps):
    """Small, with the occupancy grid in use from step 4 (updated every 2 steps) and the training intervals
    refreshed from the per-vertex extents at steps 4 and 8. A low learning rate keeps the density near its
    start, where (with `spread_density`) about a third of the reachable cells are empty: after a few
    steps at the usual rate every cell is occupied, and a grid reset on resume would go unseen."""
    return TrainConfig(steps=steps, rays_per_step=256, frames_per_step=4, occupancy_every=2, occupancy_warmup=4,
                       interval_refresh_every=4, lr=1e-4, lr_offset=1e-4)


def spread_density(avatar, reachable):
    """A hash-grid table of N(0, 1) (seeded) instead of ±1e-4, and the density logit shifted so that half the
    reachable cells start below the occupancy threshold (σ = 1): the density varies over the head."""
    with torch.no_grad():
        avatar.field.encoder.params.normal_(0, 1, generator=torch.Generator().manual_seed(5))
        x01 = (reachable.nonzero().float() + 0.5) / reachable.shape[0]
        e = torch.zeros(1, avatar.head.n_expression)
        sigma_logit = avatar.field.mlp_d(avatar.field.encoder(x01), e, torch.zeros(len(x01), dtype=torch.long))[:, 0]
        avatar.field.mlp_d.last.bias[0] -= sigma_logit.median()


def test_resume_through_the_cli_path_continues_exactly(tiny_collection, tmp_path, monkeypatch):
    """As `pav train` and the app resume (command.build: load the checkpoint, build the Trainer on it, load
    its state): 6 steps + save + resume + 4 steps end exactly where 10 straight steps end: weights, occupancy
    grid and its densities, per-vertex extents, training intervals, optimiser state."""
    model = dataclasses.replace(small_config(), occupancy_resolution=16)  # cells of ~2 cm: extents below the shell
    monkeypatch.setattr(command, "preset", lambda name, variant: (model, resume_config(10)))
    collection = read_collection(tiny_collection)

    def args(out):  # one appearance: half the frames to prepare
        return argparse.Namespace(**(command.TRAIN_DEFAULTS | {"data": tiny_collection, "out": out,
                                                               "appearance": collection.appearance_names[:1]}))

    straight_avatar, straight = command.build(args(tmp_path / "straight.pav"), collection)
    spread_density(straight_avatar, straight.reachable)
    for _ in range(10):
        straight.step()
    run = args(tmp_path / "run.pav")
    avatar, trainer = command.build(run, collection)
    spread_density(avatar, trainer.reachable)
    for _ in range(6):
        trainer.step()
    # what resuming must restore is not trivial here: the grid is in use and is not the reachable cells
    assert trainer.step_count >= trainer.config.occupancy_warmup and trainer.ray_extent is not None
    assert 0.2 < float(avatar.occupancy.sum() / trainer.reachable.sum()) < 0.9
    assert float((trainer.ray_extent < model.shell_out).float().mean()) > 0.1  # intervals tighter than the shell
    command.save(avatar, trainer, run)
    saved = {k: v.clone() for k, v in avatar.state_dict().items()}
    resumed_avatar, resumed = command.build(run, collection)
    assert resumed.step_count == 6
    for name in ("occupancy", "occupancy_density", "vertex_extent"):
        assert torch.equal(getattr(resumed_avatar, name), saved[name]), name
    assert torch.equal(resumed.rays.near, trainer.rays.near) and torch.equal(resumed.rays.far, trainer.rays.far)
    for _ in range(4):
        resumed.step()
    assert_same_training_state(straight, resumed)


def assert_same_training_state(a, b):
    """Two trainers (and their avatars) hold equal weights, buffers, intervals and optimiser state (to a few
    float32 ulps: two runs of the same steps differ by one ulp here and there; a resume that loses state
    differs by whole optimiser steps)."""
    assert a.step_count == b.step_count and a.refreshed_at == b.refreshed_at
    sa, sb = a.avatar.state_dict(), b.avatar.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        torch.testing.assert_close(sb[name], sa[name], atol=1e-7, rtol=1e-6, msg=lambda m: f"{name}: {m}")
    assert torch.equal(a.avatar.occupancy, b.avatar.occupancy)
    assert (a.ray_extent is None) == (b.ray_extent is None)
    if a.ray_extent is not None:
        torch.testing.assert_close(b.ray_extent, a.ray_extent, atol=1e-7, rtol=1e-6)
    for field in ("near", "far", "surface_t"):
        torch.testing.assert_close(getattr(b.rays, field), getattr(a.rays, field), atol=1e-7, rtol=1e-6,
                                   msg=lambda m: f"{field}: {m}")
    oa, ob = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert oa.keys() == ob.keys()
    for i in oa:
        for k in oa[i]:  # Adam's moments are tiny: tolerances scale with each tensor
            ref = oa[i][k]
            torch.testing.assert_close(ob[i][k], ref, atol=1e-6 * float(ref.abs().max()), rtol=1e-4,
                                       msg=lambda m: f"optimizer {i} {k}: {m}")


def assert_resumed_run_matches(collection, straight, stop_at, refresh_every=0):
    """A run stopped at step `stop_at` and resumed in-process, in the order the CLI and the app use (a
    differently initialised avatar loads the weights, then a Trainer is built on it and loads the state),
    must end where the `straight` run ends."""
    first, interrupted = new_trainer(collection, refresh_every=refresh_every)
    for _ in range(stop_at):
        interrupted.step()
    weights, state = first.state_dict(), interrupted.state_dict()
    torch.manual_seed(1)
    second = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                    collection.appearance_names)
    second.load_state_dict(weights)
    resumed = Trainer(second, load_split(collection, "train"), dataclasses.replace(interrupted.config, seed=1))
    resumed.load_state_dict(state)
    for _ in range(straight.step_count - stop_at):
        resumed.step()
    assert_same_training_state(straight, resumed)


def test_interval_refresh_follows_the_extents_and_resumes_exactly(tiny_collection):
    """Refreshes at step 8 (every 4 after a 6-step warm-up): the rays then start at the per-vertex extents
    (never before the whole shell's start, on the same pixels), and a run interrupted at step 9 and
    resumed from its state ends where the straight run ends."""
    collection = read_collection(tiny_collection)
    _, straight = new_trainer(collection, refresh_every=4)
    for _ in range(12):
        straight.step()
    assert straight.ray_extent is not None  # refreshed at step 8
    _, probe = new_trainer(collection)
    probe.refresh_intervals(torch.full((probe.avatar.head.n_vertices,), 0.005))  # a 5 mm shell instead of 4.5 cm
    shell, rays = probe.shell_rays, probe.rays
    assert all(torch.equal(a, b) for a, b in zip(shell.pixels, rays.pixels))
    hit = torch.isfinite(shell.near)
    assert bool((rays.near[hit] >= shell.near[hit] - 1e-6).all())
    assert float((rays.near[hit] > shell.near[hit] + 0.01).float().mean()) > 0.3
    assert_resumed_run_matches(collection, straight, stop_at=9, refresh_every=4)


def test_cli_saves_on_ctrl_c_and_resumes(tiny_collection, tmp_path, monkeypatch, capsys):
    out = tmp_path / "avatar.pav"
    real_step = Trainer.step

    def step_then_interrupt(self):
        if self.step_count == 2:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step_then_interrupt)
    assert cli.main(["train", str(tiny_collection), "--out", str(out), "--steps", "5"]) == 130
    assert load_train_state(out)["step"] == 2
    assert "saved" in capsys.readouterr().out
    monkeypatch.setattr(Trainer, "step", real_step)
    assert cli.main(["train", str(tiny_collection), "--out", str(out), "--steps", "4"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert load_train_state(out)["step"] == 4 and load_avatar(out).info["steps"] == 4


def test_cli_reports_bad_data_in_one_line(tmp_path, capsys):
    assert cli.main(["train", str(tmp_path / "nothing"), "--out", str(tmp_path / "a.pav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nothing" in err[0]


def test_single_appearance_model_protocol_b(tiny_collection, tmp_path):
    collection = read_collection(tiny_collection)
    name = collection.appearance_names[1]
    out = tmp_path / "one.pav"
    assert cli.main(["train", str(tiny_collection), "--out", str(out), "--steps", "2", "--appearance", name,
                     "--eval-every-s", "0"]) == 0
    avatar = load_avatar(out)
    assert avatar.appearance_names == [name] and avatar.codes.textures.shape[0] == 1
    trained = load_split(collection, "train", appearances=[name]).expression.double()  # the range it saw
    assert avatar.info["expression_range"] == {"lo": trained.min(0).values.tolist(),
                                               "hi": trained.max(0).values.tolist()}
    result = evaluate(avatar, collection, "test", max_frames=2, progress=False)
    assert list(result["per_appearance"]) == [name] and result["frames"] == 2


def test_posed_cache_reuses_frames_and_changes_nothing(tiny_collection):
    """The trainer keeps the training frames' prepared meshes (LRU): a run with the cache and one that
    rebuilds every mesh every step (capacity 0) take the same steps bit for bit; the cache is hit."""
    from pav.train.posed_cache import PosedCache

    collection = read_collection(tiny_collection)
    runs = []
    for capacity in (256, 0):
        avatar, trainer = new_trainer(collection, seed=3)
        trainer.posed = PosedCache(avatar.pose, capacity)
        losses = [trainer.step().loss for _ in range(8)]
        runs.append((losses, [p.detach().clone() for p in avatar.parameters()], trainer.posed))
    (l_a, p_a, cache), (l_b, p_b, rebuilt) = runs
    assert l_a == l_b and all(torch.equal(a, b) for a, b in zip(p_a, p_b))
    frames = len(load_split(collection, "train").images)
    assert cache.misses <= frames and cache.hits == 8 * 4 - cache.misses > 0
    assert rebuilt.hits == 0 and rebuilt.misses == 8 * 4 and not rebuilt.meshes


def test_posed_cache_evicts_the_least_recently_used_and_rebuilds_moved_meshes():
    from pav.train.posed_cache import PosedCache

    built = []
    cache = PosedCache(lambda v: built.append(v) or type("Mesh", (), {"vertices": v})(), capacity=2)
    v = [torch.full((3, 3), float(i)) for i in range(3)]
    cache.get(0, v[0]), cache.get(1, v[1]), cache.get(0, v[0])  # 0 is now the most recent
    cache.get(2, v[2])                                           # evicts 1
    assert list(cache.meshes) == [0, 2] and len(built) == 3 and cache.hits == 1
    cache.get(0, v[0] + 1)                                       # frame 0 moved: rebuilt
    assert len(built) == 4 and torch.equal(cache.meshes[0].vertices, v[0] + 1)
