"""Multi-process training (pav.train.distributed) on the CPU with gloo: two processes equal one process that
ran the union of both ranks' batches; the killed rank ends the job with the last checkpoint intact."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from pav.checkpoint import load_avatar, load_train_state
from pav.config import TrainConfig
from pav.data import load_split, read_collection
from pav.head import load_head_model
from pav.nerf.avatar import Avatar
from pav.train import Trainer
from pav.train.distributed import DistEnv, DistributedTrainer, setup, stream_seed
from pav.train.lock import LockedError, OutputLock
from test_avatar import small_config

STEPS = 4
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def collection_path(tmp_path_factory):
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate

    out = tmp_path_factory.mktemp("dist") / "tiny"
    generate(SynthConfig(appearances=2, frames=4, size=24, supersample=1, texture_size=32, seed=5), out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_trainer(path, avatar=None):
    """The same fresh avatar and trainer in every process (occupancy refresh and interval refresh every
    2 steps after a 1-step warm-up, so the broadcast state matters within STEPS)."""
    collection = read_collection(path)
    if avatar is None:
        torch.manual_seed(0)
        avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                        collection.appearance_names)
    cfg = TrainConfig(steps=STEPS, rays_per_step=128, frames_per_step=2, occupancy_every=2, occupancy_warmup=1,
                      interval_refresh_every=2, seed=0)
    trainer = Trainer(avatar, load_split(collection, "train"), cfg)
    # plain SGD: its step is linear in the gradient, so summing the ranks' gradients in another order moves
    # the weights only in the last bits (Adam with eps 1e-15 would turn ~0 gradients into whole steps)
    trainer.optimizer = torch.optim.SGD(avatar.parameters(), lr=0.5)
    return avatar, trainer


def _worker(rank, port, path, out):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    setup(DistEnv(rank, 2, rank), "cpu")
    avatar, trainer = new_trainer(path)
    runner = DistributedTrainer(trainer, rank)
    for _ in range(STEPS):
        runner.step()
    torch.save({k: v.clone() for k, v in avatar.state_dict().items() if not k.startswith("head.")},
               Path(out) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_gloo_ranks_equal_one_process_on_the_union_of_their_batches(collection_path, tmp_path):
    mp.spawn(_worker, args=(free_port(), str(collection_path), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]

    # the reference: one process, both ranks' draws (two generators), the mean of their losses
    avatar, a = new_trainer(collection_path)
    _, b = new_trainer(collection_path, avatar)
    a.generator.manual_seed(stream_seed(0, 0, 0))
    b.generator.manual_seed(stream_seed(0, 1, 0))
    start = {k: v.clone() for k, v in avatar.state_dict().items()}
    for _ in range(STEPS):
        a.prepare()
        b.prepare()
        loss = (a.batch_loss().loss + b.batch_loss().loss) / 2
        a.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        a.optimizer.step()
        a.step_count += 1
        b.step_count += 1
        a.update_shared_state()  # rank 0 owns the occupancy state
    assert a.refreshed_at == b.refreshed_at == 2 and a.ray_extent is not None
    reference = avatar.state_dict()
    moved = 0
    for name, value in ranks[0].items():
        torch.testing.assert_close(ranks[1][name], value, rtol=0, atol=0, msg=f"ranks differ: {name}")
        torch.testing.assert_close(value, reference[name], rtol=2e-3, atol=2e-5, msg=lambda m: f"{name}: {m}")
        moved += not torch.equal(value, start[name])
    assert moved >= 8  # parameters (MLPs, hash table, textures) and the occupancy state changed
    assert not torch.equal(ranks[0]["occupancy_density"], start["occupancy_density"])  # refreshed, broadcast


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def local_rank(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError):
        return None
    return next((e[len(b"LOCAL_RANK="):].decode() for e in env if e.startswith(b"LOCAL_RANK=")), None)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the ranks through /proc (Linux)")
def test_killing_one_rank_stops_the_job_and_keeps_the_checkpoint(collection_path, tmp_path):
    out = tmp_path / "a.pav"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PAV_DIST_TIMEOUT_S": "30"}
    base = [sys.executable, "-m", "pav", "train", str(collection_path), "--out", str(out), "--device", "cpu",
            "--eval-every-s", "0"]
    subprocess.run(base + ["--steps", "2"], env=env, check=True, capture_output=True, timeout=600)
    before = load_avatar(out).state_dict()
    job = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                            "--master-port", str(free_port()), "-m", "pav", "train", *base[4:], "--steps", "100000"],
                           env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in job.stdout:  # rank 0 says so once training has started on both ranks
            if "resuming" in line:
                break
        time.sleep(3)
        lead = next(p for p in children(job.pid) if local_rank(p) == "0")
        with pytest.raises(LockedError, match=f"another training run \\(pid {lead}\\)"):  # rank 0 holds --out
            with OutputLock(out):
                pass
        victim = next(p for p in children(job.pid) if local_rank(p) == "1")
        os.kill(victim, signal.SIGKILL)
        start = time.monotonic()
        code = job.wait(timeout=120)
        elapsed = time.monotonic() - start
    finally:
        if job.poll() is None:
            job.kill()
    assert code != 0 and elapsed < 120
    after = load_avatar(out)  # the previous checkpoint still loads
    assert load_train_state(out)["step"] >= 2
    assert set(after.state_dict()) == set(before)


def test_a_second_run_on_the_same_out_is_refused_on_every_rank(collection_path, tmp_path):
    """A single-process run (here: this test, holding the lock as `pav train` does) owns --out: a 2-rank job
    on the same --out stops at once, rank 0 with the one-line error naming the owner, and --out is untouched."""
    out = tmp_path / "b.pav"
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PAV_DIST_TIMEOUT_S": "30"}
    with OutputLock(out):
        start = time.monotonic()
        job = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master-port", str(free_port()), "-m", "pav", "train", str(collection_path), "--out",
                              str(out), "--device", "cpu", "--steps", "2"],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        elapsed = time.monotonic() - start
    assert job.returncode != 0 and elapsed < 120
    mine = [line for line in job.stderr.splitlines() if line.startswith("error:")]
    assert mine == [f"error: {out} is being written by another training run (pid {os.getpid()}); wait for it to "
                    "finish or choose another --out"], job.stderr
    assert "exitcode  : 2" in job.stderr and "exitcode  : 1" not in job.stderr  # both ranks: exit 2, no crash
    assert "preparing rays" not in job.stderr and not out.exists()  # refused before any work


def test_process_group_backend_follows_the_device_unless_overridden(monkeypatch):
    from pav.train.distributed import BACKEND_VAR, process_group_backend

    monkeypatch.delenv(BACKEND_VAR, raising=False)
    assert process_group_backend(torch.device("cpu")) == "gloo"
    assert process_group_backend(torch.device("cuda", 1)) == "nccl"
    monkeypatch.setenv(BACKEND_VAR, " GLOO ")
    assert process_group_backend(torch.device("cuda", 0)) == "gloo"  # several ranks on one GPU
    monkeypatch.setenv(BACKEND_VAR, "nccl")
    with pytest.raises(ValueError, match=r"^\$PAV_DIST_BACKEND=nccl needs CUDA devices; this run is on cpu"):
        process_group_backend(torch.device("cpu"))
    monkeypatch.setenv(BACKEND_VAR, "mpi")
    with pytest.raises(ValueError, match=r"^\$PAV_DIST_BACKEND='mpi': expected gloo or nccl"):
        process_group_backend(torch.device("cpu"))
