"""`bench`'s A/B of data-parallel training on the CPU: 2 gloo processes × 1 thread against 1 process ×
2 threads, same collection, same preset, same run (`python -m pav bench`; the CPU path of
pav/train/distributed.py).

Per process: `warmup` steps, then `steps` timed steps. A DDP step trains on every rank's rays, so its
samples/s counts all ranks' field samples; steps/s is the wall rate of the synchronised steps.
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import torch


def _trainer(data: str, preset_name: str, device: str = "cpu"):
    from ..config import preset
    from ..data import load_split, read_collection
    from ..head import load_head_model
    from ..nerf.avatar import Avatar
    from .trainer import Trainer

    collection = read_collection(data)
    model_cfg, train_cfg = preset(preset_name)
    torch.manual_seed(0)
    avatar = Avatar(model_cfg, load_head_model(collection.manifest.head_model.spec),
                    torch.tensor(collection.manifest.shape, device="cpu"), collection.appearance_names).to(device)
    return Trainer(avatar, load_split(collection, "train"), train_cfg)


def _timed(step, steps: int, warmup: int, sync=lambda: None) -> tuple[float, int]:
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    samples = sum(step().samples for _ in range(steps))
    sync()
    return time.perf_counter() - start, samples


def _rank(rank: int, port: int, data: str, preset_name: str, steps: int, warmup: int, out: str) -> None:
    import torch.distributed as dist

    from .distributed import DistEnv, DistributedTrainer, setup

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    setup(DistEnv(rank, 2, rank), "cpu")
    runner = DistributedTrainer(_trainer(data, preset_name), rank)
    seconds, samples = _timed(runner.step, steps, warmup, dist.barrier)
    total = torch.tensor([samples], dtype=torch.float64)
    dist.all_reduce(total)
    if rank == 0:
        Path(out).write_text(f"{seconds} {float(total)}")
    dist.destroy_process_group()


def bench_ddp_cpu(data: str | Path, preset_name: str = "cpu", steps: int = 10, warmup: int = 3) -> dict:
    """{one_process_2_threads, two_processes_1_thread}: steps/s and field samples/s of each, measured now."""
    import torch.multiprocessing as mp

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seconds, samples = _timed(_trainer(str(data), preset_name).step, steps, warmup)
    finally:
        torch.set_num_threads(threads)
    single = {"steps_per_s": round(steps / seconds, 3), "samples_per_s": round(samples / seconds)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "ddp.txt")
        mp.spawn(_rank, args=(port, str(data), preset_name, steps, warmup, out), nprocs=2, join=True)
        seconds, samples = (float(x) for x in Path(out).read_text().split())
    double = {"steps_per_s": round(steps / seconds, 3), "samples_per_s": round(samples / seconds)}
    return {"one_process_2_threads": single, "two_processes_1_thread": double, "steps": steps,
            "preset": preset_name}
