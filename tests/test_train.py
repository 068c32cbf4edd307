"""Training on a tiny synthetic collection: it learns, it resumes exactly, the CLI saves on Ctrl-C."""
import pytest
import torch

from pav import cli
from pav.checkpoint import load_avatar, load_train_state
from pav.config import TrainConfig
from pav.data import load_split, read_collection
from pav.eval import evaluate
from pav.head import load_head_model
from pav.nerf.avatar import Avatar
from pav.train import Trainer
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


def test_resume_continues_exactly(tiny_collection):
    collection = read_collection(tiny_collection)
    _, straight = new_trainer(collection)
    for _ in range(8):
        straight.step()
    assert_resumed_run_matches(collection, straight, stop_at=5)


def assert_resumed_run_matches(collection, straight, stop_at, refresh_every=0):
    """A run stopped at step `stop_at`, saved and resumed into a differently initialised trainer, must end
    with the same weights as the `straight` run."""
    first, interrupted = new_trainer(collection, refresh_every=refresh_every)
    for _ in range(stop_at):
        interrupted.step()
    weights, state = first.state_dict(), interrupted.state_dict()
    second, resumed = new_trainer(collection, seed=1, refresh_every=refresh_every)  # everything from the state
    second.load_state_dict(weights)
    resumed.load_state_dict(state)
    for _ in range(straight.step_count - stop_at):
        resumed.step()
    for (name, a), b in zip(straight.avatar.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


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
    result = evaluate(avatar, collection, "test", max_frames=2, progress=False)
    assert list(result["per_appearance"]) == [name] and result["frames"] == 2
