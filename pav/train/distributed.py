"""Several processes train one avatar: `torchrun --nproc_per_node N -m pav train DATA --out CKPT`.

The same `Trainer`, wrapped (docs/distributed.md has the commands for several GPUs, machines and Slurm):
- torchrun sets RANK, WORLD_SIZE, LOCAL_RANK (and MASTER_ADDR/PORT); `pav train` sees WORLD_SIZE > 1 and
  comes here. Backend gloo on the CPU, NCCL on CUDA (rank r uses cuda:LOCAL_RANK);
- the trainer's ray renderer goes through DistributedDataParallel, so backward all-reduces (averages)
  every gradient: MLPs, hash-grid table and latent textures. `find_unused_parameters` stays off: every
  parameter takes part in every step's loss (DDP raises at the next step if one did not);
- each rank draws its frames, rays and jitter from its own stream, seeded by (seed, rank, step at start):
  ranks never repeat each other's draws; after a resume the streams restart from the resumed step;
- occupancy grid, its densities and the per-vertex extents are computed by rank 0 alone and broadcast
  after each refresh (DDP syncs buffers once at the start, not at every forward: the head model's buffers never change);
- rank 0 alone logs, shows progress, probes the test PSNR and writes checkpoints (atomically, as the
  single-process command does); rank 0 decides when to stop and tells the others every step;
- rank 0 holds `<out>.lock` (lock.py) for the whole run, as single-process training does: a second run on
  the same --out, distributed or not, is refused with one line (exit 2 on every rank);
- Ctrl-C (torchrun forwards it to every rank) saves on rank 0 and stops all; a rank that dies makes the
  others' next collective fail (or torchrun stops them), the job exits non-zero and the last checkpoint is
  intact. Collectives time out after $PAV_DIST_TIMEOUT_S seconds (default 300).
$PAV_DIST_BACKEND=gloo|nccl overrides the process-group backend: `gloo` with `--device cuda:0` lets several
ranks share one GPU (a smoke test on a one-GPU machine; NCCL refuses two ranks on one device).
Resume works with any number of ranks: the checkpoint holds one model and one optimiser state.
"""
from __future__ import annotations

import argparse
import functools
import os
import time
from contextlib import ExitStack
from datetime import timedelta
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn

from .lock import LockedError, OutputLock
from .trainer import StepStats, Trainer

TIMEOUT_VAR = "PAV_DIST_TIMEOUT_S"
BACKEND_VAR = "PAV_DIST_BACKEND"


class DistEnv(NamedTuple):
    rank: int
    world_size: int
    local_rank: int


def environment() -> DistEnv | None:
    """The torchrun/Slurm process layout from RANK, WORLD_SIZE, LOCAL_RANK, or None for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    try:
        return DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    except KeyError:
        raise ValueError("WORLD_SIZE > 1 but RANK is unset: start distributed training with torchrun") from None


def stream_seed(seed: int, rank: int, step: int) -> int:
    """The seed of rank `rank`'s draws when training (re)starts at `step` (distinct per rank and restart)."""
    return (seed * 1_000_003 + rank * 7_919 + step * 104_729 + 1) % (2 ** 63)


def process_group_backend(device: torch.device) -> str:
    """'nccl' for CUDA, 'gloo' for the CPU, unless $PAV_DIST_BACKEND says otherwise (validated)."""
    raw = os.environ.get(BACKEND_VAR, "").strip().lower()
    if not raw:
        return "nccl" if device.type == "cuda" else "gloo"
    if raw not in ("gloo", "nccl"):
        raise ValueError(f"${BACKEND_VAR}={raw!r}: expected gloo or nccl (or unset: nccl on CUDA, gloo on the CPU)")
    if raw == "nccl" and device.type != "cuda":
        raise ValueError(f"${BACKEND_VAR}=nccl needs CUDA devices; this run is on {device}: unset it or use gloo")
    return raw


def setup(env: DistEnv, device: str) -> torch.device:
    """Join the process group; returns this rank's device ('auto'/'cuda' → cuda:LOCAL_RANK)."""
    from ..backends import resolve_device

    chosen = resolve_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", env.local_rank if chosen.index is None else chosen.index)
        torch.cuda.set_device(chosen)
    backend = process_group_backend(chosen)
    if not dist.is_initialized():
        timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_VAR, "300")))
        dist.init_process_group(backend, timeout=timeout,
                                rank=env.rank, world_size=env.world_size)
    return chosen


class _RenderRays(nn.Module):
    """The avatar's `render_rays` as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, avatar: nn.Module):
        super().__init__()
        self.avatar = avatar

    def forward(self, *args, **kwargs):
        return self.avatar.render_rays(*args, **kwargs)


class DistributedTrainer:
    """A `Trainer` whose gradients are averaged over the process group and whose shared state comes from
    rank 0. `step()` is the trainer's step plus the broadcast of the occupancy state after a refresh."""

    SHARED = ("occupancy", "occupancy_density", "vertex_extent")

    def __init__(self, trainer: Trainer, rank: int):
        self.trainer, self.rank = trainer, rank
        avatar = trainer.avatar
        device_ids = [avatar.device.index] if avatar.device.type == "cuda" else None
        self.ddp = nn.parallel.DistributedDataParallel(_RenderRays(avatar), device_ids=device_ids,
                                                       forward_sync_buffers=False, find_unused_parameters=False)
        trainer.render_rays = self.ddp
        trainer.updates_shared_state = rank == 0
        trainer.generator.manual_seed(stream_seed(trainer.config.seed, rank, trainer.step_count))
        self.broadcast_shared_state()  # a resumed rank 0 may hold newer state than the others built

    def broadcast_shared_state(self) -> None:
        for name in self.SHARED:
            buffer = getattr(self.trainer.avatar, name)
            if buffer.dtype == torch.bool:  # gloo and NCCL broadcast numbers, not bools
                carrier = buffer.to(torch.uint8)
                dist.broadcast(carrier, 0)
                buffer.copy_(carrier.bool())
            else:
                dist.broadcast(buffer, 0)

    def step(self) -> StepStats:
        stats = self.trainer.step()
        if self.trainer.step_count % self.trainer.config.occupancy_every == 0:
            self.broadcast_shared_state()
        return stats


def agree(flag: bool, device: torch.device) -> bool:
    """Rank 0's `flag`, on every rank (one tiny broadcast)."""
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def quiet_progress_bars() -> None:
    """No tqdm bar shows in this process (ranks other than 0). TQDM_DISABLE would not do: tqdm reads it once,
    when `import pav` imports tqdm, before torchrun's rank is known to pav."""
    import tqdm

    tqdm.tqdm.__init__ = functools.partialmethod(tqdm.tqdm.__init__, disable=True)


def hold_output_lock(out, lead: bool, device: torch.device, stack: ExitStack) -> bool:
    """Rank 0 takes the lock on `out` (held until `stack` closes); every rank learns whether it could.
    False on the other ranks when rank 0 was refused; rank 0 then raises its LockedError (one line)."""
    from .command import took_lock

    refusal = None
    if lead:
        try:
            took_lock(stack.enter_context(OutputLock(out)), out)
        except LockedError as exc:
            refusal = exc
    if not agree(refusal is None, device):
        if refusal is not None:
            raise refusal
        return False
    return True


def train(args: argparse.Namespace, collection, env: DistEnv) -> int:
    """`pav train` on rank `env.rank` of `env.world_size` (see the module docstring). Returns the exit code."""
    lead = env.rank == 0
    if not lead:
        quiet_progress_bars()
    args.device = str(setup(env, args.device))
    try:
        with ExitStack() as held:
            if not hold_output_lock(args.out, lead, torch.device(args.device), held):
                return 2
            return _train(args, collection, env)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _train(args: argparse.Namespace, collection, env: DistEnv) -> int:
    from tqdm import tqdm

    from . import command

    lead = env.rank == 0
    avatar, trainer = command.build(args, collection)
    runner = DistributedTrainer(trainer, env.rank)
    cfg = trainer.config
    if lead and trainer.step_count:
        print(f"resuming {args.out} at step {trainer.step_count} on {env.world_size} ranks")
    # a resumed --minutes run gets what is left of its budget (as in single-process training)
    deadline = time.monotonic() + 60 * cfg.minutes - trainer.train_seconds if cfg.minutes else None
    bar = tqdm(total=cfg.steps if deadline is None else None, initial=trainer.step_count, desc="training",
               unit="step", disable=not lead)
    last_save, next_eval = time.monotonic(), (len(trainer.history) + 1) * args.eval_every_s
    try:
        while agree(trainer.step_count < cfg.steps and (deadline is None or time.monotonic() < deadline),
                    avatar.device):
            stats = runner.step()
            bar.update(1)
            if lead and stats.step % 10 == 0:
                bar.set_postfix(loss=f"{stats.loss:.4f}", psnr=f"{stats.psnr:.2f}")
            if lead and args.eval_every_s and trainer.train_seconds >= next_eval:  # the others wait
                next_eval += args.eval_every_s
                test = command.probe_test_psnr(avatar, collection, args.eval_frames)
                trainer.history.append({"seconds": round(trainer.train_seconds, 1), "step": trainer.step_count,
                                        "test_psnr": None if test is None else round(test, 3)})
            if lead and time.monotonic() - last_save > cfg.checkpoint_every_s:
                command.save(avatar, trainer, args)
                last_save = time.monotonic()
    except KeyboardInterrupt:
        bar.close()
        if lead:
            command.save(avatar, trainer, args)
            print(f"interrupted: saved {args.out} at step {trainer.step_count}; run the same command to resume")
        return 130
    bar.close()
    if lead:
        command.save(avatar, trainer, args, finished=True)  # the budget was reached
        print(f"saved {args.out} after {trainer.step_count} steps on {env.world_size} ranks "
              f"({trainer.train_seconds / 60:.1f} min of training)")
    dist.barrier()
    return 0
