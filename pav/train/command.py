"""`python -m pav train DATA --out CKPT`: train an avatar on a collection, resumably.

Progress bar with loss and PSNR; a checkpoint every `checkpoint_every_s` seconds and at the end, written
as a consistent pair (pav.checkpoint.save_checkpoint); Ctrl-C or SIGTERM saves and stops; running the same
command again resumes from the last save. `<out>.lock` keeps a second run off the same --out (lock.py).
An existing --out without its training state (a finished or copied avatar) is never overwritten silently.
"""
from __future__ import annotations

import argparse
import glob
import signal
import threading
import time
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from ..backends import add_device_argument, resolve_device
from ..checkpoint import (UnreadableState, check_pair, load_avatar, load_train_state, read_metadata,
                          save_checkpoint, train_state_path)
from ..cliargs import (float_range, head_model_spec, int_range, output_file, positive_float, positive_int,
                       seed)
from ..config import VARIANTS, apply_overrides, preset, to_dict
from ..data import load_split, read_collection
from ..eval.evaluate import evaluate
from ..head import load_head_model
from ..io import NoSpaceError
from ..nerf.avatar import Avatar
from ..nerf.expression_range import trained_expression_range
from ..view_range import trained_view_range
from .lock import OutputLock
from .trainer import Trainer

TRAIN_DEFAULTS = {"preset": "cpu", "variant": "full", "steps": None, "minutes": None, "appearance": None,
                  "head_model": None, "force": False, "resume_weights": False, "seed": 0, "eval_every_s": 120.0,
                  "eval_frames": 6, "checkpoint_every_s": None, "device": "auto", "set": []}
"""argument defaults, for callers that build an argparse.Namespace themselves (pav reproduce)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="collection folder (see docs/collection-format.md)")
    p.add_argument("--out", type=output_file(), required=True, help="checkpoint to write (resumed if it exists)")
    p.add_argument("--preset", default="cpu", choices=["cpu", "paper"], help="hyper-parameters (default cpu)")
    p.add_argument("--variant", default="full", choices=VARIANTS, help="method variant (default full)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=positive_int, help="optimisation steps (default: the preset's)")
    budget.add_argument("--minutes", type=positive_float, help="wall-time budget instead of a step count")
    p.add_argument("--appearance", action="append", help="train on this appearance only (protocol b); repeatable")
    p.add_argument("--head-model", type=head_model_spec,
                   help="head-model file if the collection's spec is not 'default'")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--force", "--restart", dest="force", action="store_true",
                       help="start over, overwriting --out and its training state")
    start.add_argument("--resume-weights", action="store_true",
                       help="train on from the weights in --out with a fresh optimiser (an avatar without .train.pt)")
    p.add_argument("--checkpoint-every-s", type=float_range(0.0, 1e7),
                   help="seconds of training between checkpoints (default 120; 0: after every step)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--eval-every-s", type=float_range(0.0, 1e7), default=120.0,
                   help="seconds of training between test-PSNR probes (0: never; default 120)")
    p.add_argument("--eval-frames", type=int_range(1, 10000), default=6, help="test frames per probe (default 6)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field of a new run, e.g. train.lambda_distortion=0.01 or "
                        "model.field.sh_degree=2 (repeatable; fields: pav/config.py, docs/quality.md)")
    add_device_argument(p)


def for_avatar(data, collection, names: list[str]):
    """Re-index a FrameBatch's appearances (and backgrounds) from the collection's order to `names`,
    the avatar's own appearances (a single-appearance model has one texture, index 0)."""
    order = [collection.appearance_names.index(n) for n in names]
    remap = {c: a for a, c in enumerate(order)}
    appearance = data.appearance.apply_(lambda c: remap[c])
    backgrounds = data.backgrounds[order] if data.backgrounds is not None else None
    return data._replace(appearance=appearance, backgrounds=backgrounds)


class Start(NamedTuple):
    """How a run starts from what is at --out."""

    mode: str
    """new | resume (weights + state) | weights (--resume-weights: count from 0) | recover (a mismatched pair:
    the weights, keeping their step count, with a fresh optimiser)."""
    state: dict | None
    """the training state to load (mode resume)."""
    note: str | None
    """a line to print before training."""


def plan_start(args) -> Start:
    """Decide from --out, its training state and --force / --resume-weights; refuse to overwrite an avatar
    without a training state, and never advise deleting a file."""
    out, state_file = args.out, train_state_path(args.out)
    choices = (f"pass --resume-weights to train on from the weights in {out} (with a fresh optimiser) or "
               "--force to start over, overwriting it")
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder: give the checkpoint's file name, e.g. {out / 'avatar.pav'}")
    if getattr(args, "force", False):
        return Start("new", None, None)
    if getattr(args, "resume_weights", False):
        if not out.is_file():
            raise FileNotFoundError(f"--resume-weights: there is no checkpoint at {out}")
        return Start("weights", None, None)
    if not out.exists():
        note = f"note: {state_file} has no weights file beside it: starting over" if state_file.exists() else None
        return Start("new", None, note)
    try:
        state = load_train_state(out)
    except UnreadableState as exc:
        raise ValueError(f"{exc}; {choices}") from None
    if state is None:
        raise ValueError(f"{out} exists without its training state {state_file.name} (a finished or copied "
                         f"avatar): {choices}")
    steps = read_metadata(out)["info"].get("steps")
    why = check_pair(out, state, steps)
    if why:
        return Start("recover", None, f"warning: {state_file} does not match {out}: {why} (a save was "
                                      f"interrupted); continuing from the weights in {out} at step {steps} "
                                      "with a fresh optimiser state")
    return Start("resume", state, None)


def build(args, collection):
    """(avatar, trainer) for the arguments, new or resumed as `plan_start` decides (resumed in this order:
    avatar weights and buffers, then the Trainer, then its state)."""
    start = plan_start(args)  # first: a refusal costs no data loading
    device = resolve_device(getattr(args, "device", "auto"))
    head = load_head_model(args.head_model or collection.manifest.head_model.spec)
    if head.checksum() != collection.manifest.head_model.checksum:
        raise ValueError(f"{args.data}: the collection was tracked with head model "
                         f"'{collection.manifest.head_model.name}', not '{head.name}': pass the right --head-model")
    names = args.appearance or collection.appearance_names
    data = for_avatar(load_split(collection, "train", appearances=names, progress=True), collection, names)
    model_cfg, train_cfg = apply_overrides(*preset(args.preset, args.variant), getattr(args, "set", None) or [])
    train_cfg.seed = args.seed
    if args.steps is not None:
        train_cfg.steps = args.steps
    if args.minutes is not None:
        train_cfg.minutes, train_cfg.steps = args.minutes, 10 ** 9
    if getattr(args, "checkpoint_every_s", None) is not None:
        train_cfg.checkpoint_every_s = args.checkpoint_every_s
    if start.note:
        print(start.note)
    history = []
    if start.mode == "new":
        torch.manual_seed(args.seed)
        avatar = Avatar(model_cfg, head, torch.tensor(collection.manifest.shape, device="cpu"), names).to(device)
        avatar.info = {}
    else:
        avatar = load_avatar(args.out, head, device=device)
        check_model_overrides(args, to_dict(avatar.config), to_dict(model_cfg))
        if avatar.appearance_names != names:
            raise ValueError(f"{args.out} was trained on appearances {avatar.appearance_names}; use --force "
                             "or another --out")
        if start.mode == "weights":
            avatar.info = {"initial_weights": {"file": str(args.out), "steps": avatar.info.get("steps")}}
        history = avatar.info.get("history", [])
        avatar.train()
    bar = tqdm(total=len(data.expression), desc="preparing rays", leave=False)
    trainer = Trainer(avatar, data, train_cfg, progress=lambda i, n: bar.update(1))
    bar.close()
    if start.mode == "resume":
        trainer.load_state_dict(start.state)
    elif start.mode == "recover":
        trainer.step_count = int(avatar.info.get("steps") or 0)
        trainer.train_seconds = float(avatar.info.get("train_seconds") or 0.0)
    trainer.history = history
    return avatar, trainer


def check_model_overrides(args, loaded: dict, wanted: dict) -> None:
    """A resumed run keeps its checkpoint's model: a `--set model.…` that disagrees with it is an error."""
    for item in getattr(args, "set", None) or []:
        path = item.partition("=")[0].strip().split(".")
        if path[0] != "model":
            continue
        have, want = loaded, wanted
        for name in path[1:]:
            have, want = have[name], want[name]
        if have != want:
            raise ValueError(f"--set {item}: {args.out} was trained with {'.'.join(path)}={have}; use --force "
                             "or another --out")


def save(avatar, trainer, args, finished: bool = False) -> None:
    """Write the checkpoint pair; a full disk or an unwritable place becomes a one-line error that says the
    previous pair is intact. `finished`: the run reached its budget (reproduce reuses only finished models)."""
    cfg = trainer.config
    info = {"steps": trainer.step_count, "train_seconds": round(trainer.train_seconds, 1),
            "collection": str(args.data), "variant": avatar.config.variant, "preset": args.preset,
            "history": trainer.history, "finished": finished,
            "view_range": trained_view_range(avatar, trainer.data),
            "expression_range": trained_expression_range(trainer.data.expression),
            "budget": {"steps": None if cfg.minutes else cfg.steps, "minutes": cfg.minutes}}
    if getattr(args, "set", None):
        info["overrides"] = list(args.set)
    if "initial_weights" in getattr(avatar, "info", {}):
        info["initial_weights"] = avatar.info["initial_weights"]
    try:
        save_checkpoint(avatar, args.out, trainer.state_dict(), head_spec=args.head_model or "default", info=info)
    except NoSpaceError as exc:
        raise ValueError(f"{exc}; {args.out} keeps its previous checkpoint: free some room and rerun the same "
                         "command to resume") from None
    except OSError as exc:
        raise ValueError(f"cannot write {args.out}: {exc.strerror or exc}") from None


def probe_test_psnr(avatar, collection, frames: int) -> float | None:
    """Test PSNR on a few evenly spread test frames (the training curve); None without test frames."""
    try:
        return evaluate(avatar, collection, "test", max_frames=frames, progress=False, learned=False)["psnr"]
    except ValueError:
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loop, raised where the process is (as Ctrl-C raises KeyboardInterrupt)."""


class StopSignals:
    """SIGINT and SIGTERM while training: `with StopSignals() as stop:` — while `stop.armed`, a signal sets
    `stop.name` ("SIGINT"/"SIGTERM") and the loop stops after its current step, so that the saved weights,
    step count and RNG belong together; a second signal, or one while not armed, raises at once
    (KeyboardInterrupt or Terminated). Off the main thread the handlers are not installed."""

    def __init__(self):
        self.name: str | None = None
        self.armed = False
        self._previous: dict = {}

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.armed and self.name is None:
            self.name = name
            return
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class TrainResult(NamedTuple):
    avatar: Avatar
    trainer: Trainer
    interrupted: str | None
    """None when the budget was reached, else the signal that stopped it: "SIGINT" or "SIGTERM"."""


EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""exit code of a run stopped (and saved) by each signal."""


def train(args: argparse.Namespace, collection) -> TrainResult:
    """Build (or resume) and run training for the arguments, holding the lock on --out.
    Every `eval_every_s` seconds of training, the test PSNR on a few frames joins `trainer.history`."""
    with OutputLock(args.out) as lock, StopSignals() as stop:
        took_lock(lock, args.out)
        return _train(args, collection, stop)


def took_lock(lock: OutputLock, out: Path) -> None:
    """Once `lock` on `out` is held: say so if it was taken over from a dead run, and remove that run's
    half-written temps (no one else can be writing them now)."""
    if lock.stale_pid is not None:
        print(f"note: {lock.path} was left by pid {lock.stale_pid}, which is no longer running: taken over")
    for leftover in out.parent.glob(glob.escape(f".{out.name}.") + "*.tmp"):
        leftover.unlink(missing_ok=True)  # temps of a save that was killed (we hold the lock)


def _train(args: argparse.Namespace, collection, stop: StopSignals) -> TrainResult:
    avatar, trainer = build(args, collection)
    cfg = trainer.config
    if trainer.step_count:
        print(f"resuming {args.out} at step {trainer.step_count}")
    # a resumed --minutes run gets what is left of its budget
    deadline = time.monotonic() + 60 * cfg.minutes - trainer.train_seconds if cfg.minutes else None
    bar = tqdm(total=cfg.steps if deadline is None else None, initial=trainer.step_count, desc="training",
               unit="step")
    last_save, next_eval = time.monotonic(), (len(trainer.history) + 1) * args.eval_every_s
    stop.armed = True
    try:
        while trainer.step_count < cfg.steps and (deadline is None or time.monotonic() < deadline):
            if stop.name:
                raise KeyboardInterrupt
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
        bar.close()
        save(avatar, trainer, args, finished=True)
    except KeyboardInterrupt as exc:
        bar.close()
        name = stop.name or ("SIGTERM" if isinstance(exc, Terminated) else "SIGINT")
        save(avatar, trainer, args)
        print(f"interrupted ({name}): saved {args.out} at step {trainer.step_count}; run the same command to resume")
        return TrainResult(avatar, trainer, name)
    except BaseException:
        bar.close()  # before the error line is printed
        raise
    print(f"saved {args.out} after {trainer.step_count} steps ({trainer.train_seconds / 60:.1f} min of training)")
    return TrainResult(avatar, trainer, None)


def run(args: argparse.Namespace) -> int:
    from .distributed import environment, train as train_distributed

    if (env := environment()) is not None:  # started by torchrun with several processes
        return train_distributed(args, read_collection(args.data), env)
    result = train(args, read_collection(args.data))
    return EXIT_CODES[result.interrupted] if result.interrupted else 0
