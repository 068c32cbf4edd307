"""`python -m pav train DATA --out CKPT`: train an avatar on a collection, resumably.

Progress bar with loss and PSNR; a checkpoint every `checkpoint_every_s` seconds and at the end, written
atomically; Ctrl-C saves and stops; running the same command again resumes from the last save.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..checkpoint import load_avatar, load_train_state, save_avatar, save_train_state
from ..config import VARIANTS, preset
from ..data import load_split, read_collection
from ..eval.evaluate import evaluate
from ..head import load_head_model
from ..nerf.avatar import Avatar
from .trainer import Trainer

TRAIN_DEFAULTS = {"preset": "cpu", "variant": "full", "steps": None, "minutes": None, "appearance": None,
                  "head_model": None, "restart": False, "seed": 0, "eval_every_s": 120.0, "eval_frames": 6}
"""argument defaults, for callers that build an argparse.Namespace themselves (pav reproduce)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="collection folder (see docs/collection-format.md)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (resumed if it exists)")
    p.add_argument("--preset", default="cpu", choices=["cpu", "paper"], help="hyper-parameters (default cpu)")
    p.add_argument("--variant", default="full", choices=VARIANTS, help="method variant (default full)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="optimisation steps (default: the preset's)")
    budget.add_argument("--minutes", type=float, help="wall-time budget instead of a step count")
    p.add_argument("--appearance", action="append", help="train on this appearance only (protocol b); repeatable")
    p.add_argument("--head-model", help="head-model file if the collection's spec is not 'default'")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every-s", type=float, default=120.0,
                   help="seconds of training between test-PSNR probes (0: never; default 120)")
    p.add_argument("--eval-frames", type=int, default=6, help="test frames per probe (default 6)")


def for_avatar(data, collection, names: list[str]):
    """Re-index a FrameBatch's appearances (and backgrounds) from the collection's order to `names`,
    the avatar's own appearances (a single-appearance model has one texture, index 0)."""
    order = [collection.appearance_names.index(n) for n in names]
    remap = {c: a for a, c in enumerate(order)}
    appearance = data.appearance.apply_(lambda c: remap[c])
    backgrounds = data.backgrounds[order] if data.backgrounds is not None else None
    return data._replace(appearance=appearance, backgrounds=backgrounds)


def build(args, collection):
    """(avatar, trainer) for the arguments: a new avatar, or the one at `args.out` with its training state
    (resumed in this order: avatar weights and buffers, then the Trainer, then its state)."""
    head = load_head_model(args.head_model or collection.manifest.head_model.spec)
    if head.checksum() != collection.manifest.head_model.checksum:
        raise ValueError(f"{args.data}: the collection was tracked with head model "
                         f"'{collection.manifest.head_model.name}', not '{head.name}': pass the right --head-model")
    names = args.appearance or collection.appearance_names
    data = for_avatar(load_split(collection, "train", appearances=names, progress=True), collection, names)
    model_cfg, train_cfg = preset(args.preset, args.variant)
    train_cfg.seed = args.seed
    if args.steps is not None:
        train_cfg.steps = args.steps
    if args.minutes is not None:
        train_cfg.minutes, train_cfg.steps = args.minutes, 10 ** 9
    state = None if args.restart else load_train_state(args.out)
    history = []
    if state is not None and args.out.exists():
        avatar = load_avatar(args.out, head)
        if avatar.appearance_names != names:
            raise ValueError(f"{args.out} was trained on appearances {avatar.appearance_names}; use --restart "
                             "or another --out")
        history = avatar.info.get("history", [])
        avatar.train()
    else:
        torch.manual_seed(args.seed)
        avatar = Avatar(model_cfg, head, torch.tensor(collection.manifest.shape), names)
        state = None
    bar = tqdm(total=len(data.expression), desc="preparing rays", leave=False)
    trainer = Trainer(avatar, data, train_cfg, progress=lambda i, n: bar.update(1))
    bar.close()
    if state is not None:
        trainer.load_state_dict(state)
    trainer.history = history
    return avatar, trainer


def save(avatar, trainer, args) -> None:
    info = {"steps": trainer.step_count, "train_seconds": round(trainer.train_seconds, 1),
            "collection": str(args.data), "variant": avatar.config.variant, "preset": args.preset,
            "history": trainer.history}
    save_avatar(avatar, args.out, head_spec=args.head_model or "default", info=info)
    save_train_state(args.out, trainer.state_dict())


def probe_test_psnr(avatar, collection, frames: int) -> float | None:
    """Test PSNR on a few evenly spread test frames (the training curve); None without test frames."""
    try:
        return evaluate(avatar, collection, "test", max_frames=frames, progress=False)["psnr"]
    except ValueError:
        return None


def train(args: argparse.Namespace, collection) -> tuple[Avatar, Trainer, bool]:
    """Build (or resume) and run training for the arguments; returns (avatar, trainer, interrupted).
    Every `eval_every_s` seconds of training, the test PSNR on a few frames joins `trainer.history`."""
    avatar, trainer = build(args, collection)
    cfg = trainer.config
    if trainer.step_count:
        print(f"resuming {args.out} at step {trainer.step_count}")
    deadline = time.monotonic() + 60 * cfg.minutes if cfg.minutes else None
    bar = tqdm(total=cfg.steps if deadline is None else None, initial=trainer.step_count, desc="training",
               unit="step")
    last_save, next_eval = time.monotonic(), (len(trainer.history) + 1) * args.eval_every_s
    try:
        while trainer.step_count < cfg.steps and (deadline is None or time.monotonic() < deadline):
            stats = trainer.step()
            bar.update(1)
            if stats.step % 10 == 0:
                bar.set_postfix(loss=f"{stats.loss:.4f}", psnr=f"{stats.psnr:.2f}", depth_mm=f"{1000 * stats.depth_l1:.1f}")
            if args.eval_every_s and trainer.train_seconds >= next_eval:
                next_eval += args.eval_every_s
                test = probe_test_psnr(avatar, collection, args.eval_frames)
                trainer.history.append({"seconds": round(trainer.train_seconds, 1), "step": trainer.step_count,
                                        "test_psnr": None if test is None else round(test, 3)})
                bar.write(f"step {trainer.step_count}: test PSNR {test if test is None else round(test, 2)} dB "
                          f"after {trainer.train_seconds / 60:.1f} min")
            if time.monotonic() - last_save > cfg.checkpoint_every_s:
                save(avatar, trainer, args)
                last_save = time.monotonic()
    except KeyboardInterrupt:
        bar.close()
        save(avatar, trainer, args)
        print(f"interrupted: saved {args.out} at step {trainer.step_count}; run the same command to resume")
        return avatar, trainer, True
    bar.close()
    save(avatar, trainer, args)
    print(f"saved {args.out} after {trainer.step_count} steps ({trainer.train_seconds / 60:.1f} min of training)")
    return avatar, trainer, False


def run(args: argparse.Namespace) -> int:
    _, _, interrupted = train(args, read_collection(args.data))
    return 130 if interrupted else 0
