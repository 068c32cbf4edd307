"""Faults while training and loading (issue 13: items 1, 3, 4, 9, 13, 14, 22, SIGTERM; issue 12: the CLI
resume after SIGKILL). Nothing is lost, nothing hangs, every error is one line.

Subprocess tests run tests/tiny_cli.py: PAV's real command line (`pav.cli.main`, the same files, lock,
signal handling and exit codes as `python -m pav train`) with the small test model, and every wait in
them is bounded. The others call `pav.cli.main` in this process with the same small model.
"""
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import pav.io
import pav.train.command as command
from pav import cli
from pav.checkpoint import check_pair, load_avatar, load_train_state, read_metadata, train_state_path
from pav.train.lock import OutputLock, lock_path
from pav.train.trainer import Trainer
from tiny_cli import tiny_preset

REPO = Path(__file__).resolve().parents[1]
TINY_CLI = REPO / "tests" / "tiny_cli.py"
WAIT_S = 240.0
"""the longest any wait below may take (the shared test machine can be slow; a healthy run takes seconds)."""


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate

    out = tmp_path_factory.mktemp("faults") / "tiny"
    generate(SynthConfig(appearances=2, frames=6, size=32, supersample=1, texture_size=128, seed=3), out)
    return out


@pytest.fixture(scope="session")
def trained(data, tmp_path_factory):
    """A checkpoint pair after one training step (`tiny` model), for tests to copy."""
    mp = pytest.MonkeyPatch()
    mp.setattr(command, "preset", tiny_preset)
    out = tmp_path_factory.mktemp("trained") / "good.pav"
    try:
        assert train_cli(data, out, steps=1) == 0
    finally:
        mp.undo()
    return out


def copy_pair(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    shutil.copy(train_state_path(src), train_state_path(dst))
    return dst


@pytest.fixture
def tiny(monkeypatch):
    """In-process CLI runs use the small model (as tests/tiny_cli.py does for subprocesses)."""
    monkeypatch.setattr(command, "preset", tiny_preset)


def train_cli(data, out, *extra, steps=2):
    return cli.main(["train", str(data), "--out", str(out), "--steps", str(steps), "--eval-every-s", "0", *extra])


def error_line(stderr: str) -> str:
    """The one error line of a failed command's stderr (progress bars aside), checked to be alone."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith(("loading ", "preparing rays", "training", "evaluating"))]
    assert "Traceback" not in stderr and len(errors) == 1 and errors[0].startswith("error: "), lines[-5:]
    return errors[0]


def one_error_line(capsys) -> str:
    return error_line(capsys.readouterr().err)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def consistent_step(out: Path) -> int:
    """The pair's step, after checking independently that the state names these very weights."""
    state = torch.load(train_state_path(out), weights_only=True)
    weights = Path(out).read_bytes()
    assert state["weights"]["sha256"] == hashlib.sha256(weights).hexdigest()
    assert state["weights"]["bytes"] == len(weights)
    assert state["step"] == state["weights"]["step"] == read_metadata(out)["info"]["steps"]
    return state["step"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".lock"))


# ---- subprocesses: kill -9, SIGINT, SIGTERM, a second run ----------------------------------------------

def start(data, out, *extra, steps=100_000) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, str(TINY_CLI), "train", str(data), "--out", str(out), "--steps", str(steps),
           "--eval-every-s", "0", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def wait_until(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode} before {what}: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {WAIT_S} s")
        time.sleep(0.05)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running after {WAIT_S} s")
    return proc.returncode, out, err


def saved_step(out: Path) -> int:
    try:
        return load_train_state(out)["step"] if train_state_path(out).exists() else 0
    except ValueError:
        return 0  # (never happens: the state file is renamed into place whole)


def test_kill_9_during_training_then_rerun_continues_from_the_last_checkpoint(data, tmp_path, tiny, capsys):
    """SIGKILL two checkpoint intervals into a run: the files on disk are a consistent pair at most one
    interval (+ one step and one save) old, and the same command continues from that step to the end."""
    out, interval = tmp_path / "k.pav", 1.0
    proc = start(data, out, "--checkpoint-every-s", str(interval))
    wait_until(lambda: saved_step(out) >= 1, proc, "a first checkpoint")
    first = time.time()
    wait_until(lambda: time.time() > first + 2 * interval, proc, f"{2 * interval} s more")
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    code, _, _ = finish(proc)
    assert code == -signal.SIGKILL
    step = consistent_step(out)
    age = killed_at - train_state_path(out).stat().st_mtime
    assert step >= 1 and age <= interval + 6.0, (step, age)  # 6 s: one step and one save on a loaded machine
    total = step + 2
    capsys.readouterr()
    assert train_cli(data, out, steps=total) == 0  # the same command line, in this process
    assert f"resuming {out} at step {step}" in capsys.readouterr().out
    assert consistent_step(out) == total and load_avatar(out).info["finished"] is True
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("sig, code", [pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow),  # as test_train's
                                       (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_save_and_stop(data, tmp_path, sig, code):
    out = tmp_path / "s.pav"
    proc = start(data, out, "--checkpoint-every-s", "0")
    wait_until(lambda: saved_step(out) >= 2, proc, "two steps")
    proc.send_signal(sig)
    returncode, stdout, err = finish(proc)
    assert returncode == code, err[-2000:]
    assert f"interrupted ({sig.name}): saved {out} at step" in stdout and "Traceback" not in err
    step = consistent_step(out)
    assert f"at step {step};" in stdout and step >= 2
    assert read_metadata(out)["info"]["finished"] is False and leftovers(tmp_path) == []


def test_a_second_run_on_the_same_out_is_refused_and_a_killed_runs_lock_is_taken_over(data, tmp_path, tiny, capsys):
    out = tmp_path / "c.pav"
    first = start(data, out, "--checkpoint-every-s", "0")
    wait_until(lambda: saved_step(out) >= 1, first, "a first checkpoint")
    capsys.readouterr()
    assert train_cli(data, out, steps=1) == 2  # the second run, in this process
    assert one_error_line(capsys) == (f"error: {out} is being written by another training run (pid {first.pid}); "
                                      "wait for it to finish or choose another --out")
    first.send_signal(signal.SIGKILL)
    finish(first)
    assert lock_path(out).read_text().strip() == str(first.pid)  # left behind by kill -9: stale
    step = consistent_step(out)
    assert train_cli(data, out, steps=step + 1) == 0
    assert f"was left by pid {first.pid}, which is no longer running: taken over" in capsys.readouterr().out
    assert consistent_step(out) == step + 1 and leftovers(tmp_path) == []


def test_a_lock_file_naming_a_dead_pid_is_stale_and_a_live_one_is_not(tmp_path):
    out = tmp_path / "x.pav"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock_path(out).write_text(f"{gone.pid}\n")
    with OutputLock(out) as lock:
        assert lock.stale_pid == gone.pid and lock_path(out).read_text() == f"{os.getpid()}\n"
        with pytest.raises(ValueError, match=rf"another training run \(pid {os.getpid()}\)"):
            with OutputLock(out):
                pass
    assert not lock_path(out).exists()


def test_an_output_on_a_read_only_file_system_is_one_line(data, tmp_path, capsys):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only tmpfs needs root")
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(ro)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert train_cli(data, ro / "a.pav", steps=1) == 2  # refused when the arguments are read
        line = one_error_line(capsys)
        assert line.startswith("error: argument --out: ") and "read-only" in line and str(ro) in line
        from pav.train.lock import LockedError, OutputLock

        with pytest.raises(LockedError, match="cannot create the lock file .*Read-only file system"):
            with OutputLock(ro / "a.pav"):  # library callers (reproduce, the app) reach the lock itself
                pass
    finally:
        subprocess.run(["umount", str(ro)])


# ---- a full disk --------------------------------------------------------------------------------------

@pytest.mark.slow  # the fault-injected test below covers the same code in a third of the time
def test_out_of_space_on_a_small_tmpfs_keeps_the_previous_pair(data, trained, tmp_path, tiny, capsys):
    """A tmpfs with room for the pair and half another: the next save fails (ENOSPC) with one line saying
    how much room it needs, the previous pair stays byte for byte, and after making room the same command
    resumes from it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    seed = trained
    need = seed.stat().st_size + train_state_path(seed).stat().st_size
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    size_kb = (need + need // 2) // 1024
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = mnt / "a.pav"
        copy_pair(seed, out)
        before = {p.name: sha(p) for p in mnt.iterdir()}
        capsys.readouterr()
        assert train_cli(data, out, "--checkpoint-every-s", "0", steps=3) == 2
        line = one_error_line(capsys)
        assert f"no space left on the device of {mnt} to write a.pav and a.pav.train.pt" in line
        needed_mb = float(line.split("they need ")[1].split(" MB")[0])
        free_mb = float(line.split("MB, ")[1].split(" MB are free")[0])
        assert abs(needed_mb - need / 2 ** 20) < 0.05 and free_mb < needed_mb, line
        assert f"{out} keeps its previous checkpoint" in line
        assert {p.name: sha(p) for p in mnt.iterdir()} == before  # nothing changed, no temp left, no lock
        subprocess.run(["mount", "-o", f"remount,size={4 * size_kb}k", str(mnt)], check=True)
        assert train_cli(data, out, "--checkpoint-every-s", "0", steps=3) == 0
        assert "resuming" in capsys.readouterr().out and consistent_step(out) == 3
    finally:
        subprocess.run(["umount", str(mnt)])


@pytest.mark.parametrize("failing", [0, 1], ids=["while-writing-the-weights", "while-writing-the-state"])
def test_out_of_space_midway_through_a_save_keeps_the_previous_pair(data, trained, tmp_path, tiny, monkeypatch,
                                                                   capsys, failing):
    out = copy_pair(trained, tmp_path / "a.pav")
    before = {p.name: sha(p) for p in tmp_path.iterdir()}
    sizes, calls, real_write = [], [], pav.io._write_all

    def disk_fills(fd, payload):
        calls.append(len(payload))
        if len(calls) - 1 == failing:
            real_write(fd, payload[: len(payload) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, payload)

    real_commit = pav.io.commit_files
    monkeypatch.setattr(pav.io, "_write_all", disk_fills)
    monkeypatch.setattr("pav.checkpoint.commit_files", lambda files: (sizes.append([len(d) for _, d in files]),
                                                                     real_commit(files))[1])
    capsys.readouterr()
    assert train_cli(data, out, steps=3) == 2
    line = one_error_line(capsys)
    assert f"they need {sum(sizes[-1]) / 2 ** 20:.1f} MB" in line and "keeps its previous checkpoint" in line
    assert len(calls) == failing + 1
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before  # the step-1 pair; no temp; lock released
    assert consistent_step(out) == 1


def test_a_crash_between_the_two_renames_is_detected_and_resumes_from_the_weights(data, trained, tmp_path, tiny,
                                                                                   monkeypatch, capsys):
    """New weights with the previous state (the one window commit_files cannot close): the resume says so
    and continues from the weights' step with a fresh optimiser, instead of mixing the two."""
    out = copy_pair(trained, tmp_path / "m.pav")
    old_state = train_state_path(out).read_bytes()
    assert train_cli(data, out, steps=3) == 0
    train_state_path(out).write_bytes(old_state)  # weights of step 3, state of step 1
    weights_3 = load_avatar(out).state_dict()
    assert "step 1" in check_pair(out, load_train_state(out), 3)
    capsys.readouterr()
    seen = []
    real_step = Trainer.step

    def first_step(self):
        seen.append((self.step_count, {k: v.clone() for k, v in self.avatar.state_dict().items()},
                     len(self.optimizer.state)))
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", first_step)
    assert train_cli(data, out, steps=4) == 0
    text = capsys.readouterr().out
    assert f"warning: {train_state_path(out)} does not match {out}: it belongs to the weights of step 1" in text
    assert "continuing from the weights in" in text and "at step 3 with a fresh optimiser state" in text
    step_count, weights, optimizer_entries = seen[0]
    assert len(seen) == 1 and step_count == 3 and optimizer_entries == 0
    for name, value in weights_3.items():
        if not name.startswith("head.") and name != "occupancy":  # the trainer re-derives the occupancy
            assert torch.equal(weights[name], value), name
    assert consistent_step(out) == 4


def test_diverged_weights_are_never_saved_over_a_good_checkpoint(data, trained, tmp_path, tiny, monkeypatch, capsys):
    out = copy_pair(trained, tmp_path / "n.pav")
    before = {p.name: sha(p) for p in tmp_path.iterdir()}
    real_step = Trainer.step

    def diverge(self):
        stats = real_step(self)
        with torch.no_grad():
            next(self.avatar.field.parameters()).view(-1)[:3] = float("nan")
        return stats

    monkeypatch.setattr(Trainer, "step", diverge)
    capsys.readouterr()
    assert train_cli(data, out, steps=2) == 2
    line = one_error_line(capsys)
    name = next(n for n, _ in load_avatar(out).field.named_parameters())
    assert f"training diverged at step 2: tensor 'field.{name}' holds 3 NaN/Inf values; {out} was not overwritten" \
        in line
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before


def test_a_resumed_minutes_budget_counts_the_time_already_trained(data, trained, tmp_path, tiny, capsys):
    """A run interrupted after 600 s of training, resumed with --minutes 0.05 (3 s): nothing is left of
    the budget, so it saves at once as finished instead of training another 3 s."""
    out = copy_pair(trained, tmp_path / "t.pav")
    state = torch.load(train_state_path(out), weights_only=True)
    state["train_seconds"] = 600.0
    torch.save(state, train_state_path(out))  # the weights' checksum inside still matches
    assert cli.main(["train", str(data), "--out", str(out), "--minutes", "0.05", "--eval-every-s", "0"]) == 0
    assert f"resuming {out} at step 1" in capsys.readouterr().out
    info = read_metadata(out)["info"]
    assert consistent_step(out) == 1 and info["finished"] is True and info["budget"] == {"steps": None, "minutes": 0.05}


# ---- an existing avatar, unreadable states --------------------------------------------------------------

def test_an_avatar_without_training_state_is_not_overwritten(data, trained, tmp_path, tiny, monkeypatch, capsys):
    out = tmp_path / "done.pav"
    shutil.copy(trained, out)  # as a finished avatar copied from elsewhere (the demo's has no state)
    finished = sha(out)
    capsys.readouterr()
    assert train_cli(data, out, steps=3) == 2
    line = one_error_line(capsys)
    assert line == (f"error: {out} exists without its training state done.pav.train.pt (a finished or copied "
                    f"avatar): pass --resume-weights to train on from the weights in {out} (with a fresh "
                    "optimiser) or --force to start over, overwriting it")
    assert sha(out) == finished and sorted(p.name for p in tmp_path.iterdir()) == ["done.pav"]
    # --resume-weights: the first step starts from exactly those weights, counting from 0
    start_weights = load_avatar(out).state_dict()
    seen, real_step = [], Trainer.step

    def record(self):
        if not seen:
            seen.append((self.step_count, {k: v.clone() for k, v in self.avatar.state_dict().items()}))
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", record)
    assert train_cli(data, out, "--resume-weights", steps=1) == 0
    assert seen[0][0] == 0
    for name, value in start_weights.items():
        if not name.startswith("head.") and name != "occupancy":
            assert torch.equal(seen[0][1][name], value), name
    assert load_avatar(out).info["initial_weights"] == {"file": str(out), "steps": 1}
    assert consistent_step(out) == 1
    # --force starts over from a new initialisation
    seen.clear()
    assert train_cli(data, out, "--force", steps=1) == 0
    assert "initial_weights" not in load_avatar(out).info
    assert not torch.equal(seen[0][1]["field.mlp_d.last.weight"], start_weights["field.mlp_d.last.weight"])


@pytest.mark.parametrize("content", ["corrupt", "malicious"])
def test_an_unreadable_state_gives_one_safe_line(data, trained, tmp_path, tiny, capsys, content):
    out = copy_pair(trained, tmp_path / "u.pav")
    state = train_state_path(out)
    if content == "corrupt":
        state.write_bytes(state.read_bytes()[:500])
    else:
        class Payload:
            def __reduce__(self):
                return os.system, (f"touch {tmp_path / 'ran'}",)

        torch.save({"step": 1, "optimizer": Payload()}, state)
    before = {p.name: sha(p) for p in tmp_path.iterdir()}
    capsys.readouterr()
    assert train_cli(data, out, steps=2) == 2
    line = one_error_line(capsys)
    assert str(state) in line and "--resume-weights" in line and "--force" in line
    if content == "malicious":
        assert "holds objects other than tensors, which PAV never loads" in line
    for unsafe in ("delete", "weights_only", "remove", "trusted", "pickle=True"):
        assert unsafe not in line.lower()
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before and not (tmp_path / "ran").exists()


def test_a_pickled_npz_head_model_gives_one_safe_line(tmp_path):
    from pav.head import load_head_model

    path = tmp_path / "head.npz"
    np.savez(path, v_template=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError) as info:
        load_head_model(str(path))
    message = str(info.value)
    assert message == f"head model file {path} holds pickled objects, which PAV never loads: it is not a PAV head model"


# ---- damaged checkpoints: wrong shape, NaN/Inf --------------------------------------------------------

def rewrite(src: Path, dst: Path, edit) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(src))
    edit(tensors)
    save_file(tensors, str(dst), metadata=metadata)


@pytest.mark.parametrize("damage", ["shape", "nan", "inf"])
def test_a_damaged_checkpoint_is_refused_naming_file_and_tensor(data, trained, tmp_path, capsys, damage):
    checkpoint = trained
    bad = tmp_path / "bad.pav"
    if damage == "shape":
        rewrite(checkpoint, bad, lambda t: t.update(canonical_vertices=t["canonical_vertices"][:-1].clone()))
        expected = f"{bad}: tensor 'canonical_vertices' has shape"
    else:
        name = "field.mlp_d.last.weight"
        value = float("nan") if damage == "nan" else float("inf")

        def poison(t):
            t[name] = t[name].clone()
            t[name].view(-1)[[0, 5]] = value

        rewrite(checkpoint, bad, poison)
        expected = f"{bad}: tensor '{name}' holds 2 NaN/Inf values"
    with pytest.raises(ValueError, match="^" + expected.replace("(", r"\(")):
        load_avatar(bad)
    capsys.readouterr()
    assert cli.main(["eval", str(bad), str(data), "--max-frames", "1"]) == 2
    assert expected in one_error_line(capsys)


# ---- reproduce: stale models, SIGTERM -----------------------------------------------------------------

def test_reproduce_reuses_only_a_finished_model_with_the_same_settings(data, tmp_path, tiny, monkeypatch):
    from pav.data import read_collection
    from pav.eval import reproduce

    monkeypatch.setattr(reproduce, "preset", tiny_preset)
    collection = read_collection(data)
    runs, real_train = [], reproduce.train

    def counted(args, collection):
        runs.append((args.minutes, args.variant, args.appearance, args.force))
        return real_train(args, collection)

    monkeypatch.setattr(reproduce, "train", counted)
    out = tmp_path / "a_full.pav"
    reproduce.train_or_reuse(data, collection, out, 0.01)
    assert runs == [(0.01, "full", None, False)] and read_metadata(out)["info"]["budget"]["minutes"] == 0.01
    reproduce.train_or_reuse(data, collection, out, 0.01)
    assert len(runs) == 1  # reused
    assert reproduce.reuse_mismatch(out, data, collection, 0.01, "full", None) is None

    class Trained(Exception):
        pass

    def fake_train(args, collection):
        runs.append((args.minutes, args.variant, args.appearance, args.force))
        raise Trained

    monkeypatch.setattr(reproduce, "train", fake_train)
    name = collection.appearance_names[0]
    moved = tmp_path / "copy"
    shutil.copytree(data, moved)
    for minutes, variant, appearance, where, differs in [
            (0.02, "full", None, data, "it has budget {'minutes': 0.01}, not {'minutes': 0.02}"),
            (0.01, "no-lnf", None, data, "it has model config {'variant': 'full'}, not {'variant': 'no-lnf'}"),
            (0.01, "full", [name], data, f"it has appearances {collection.appearance_names}, not ['{name}']"),
            (0.01, "full", None, moved, f"it has collection {data.resolve()}, not {moved.resolve()}")]:
        assert reproduce.reuse_mismatch(out, where, collection, minutes, variant, appearance).startswith(differs)
        with pytest.raises(Trained):
            reproduce.train_or_reuse(where, collection, out, minutes, variant, appearance)
        assert runs[-1] == (minutes, variant, appearance, True)  # retrained from scratch, never reused


def test_reproduce_stops_on_sigterm_and_its_rerun_resumes(data, tmp_path, tiny, monkeypatch):
    from pav.eval import reproduce

    monkeypatch.setattr(reproduce, "preset", tiny_preset)
    monkeypatch.setattr(reproduce, "evaluate", lambda *a, **k: pytest.fail("evaluated an interrupted model"))
    real_step = Trainer.step

    def terminated_at_2(self):
        if self.step_count == 2:
            signal.raise_signal(signal.SIGTERM)  # a real signal, handled where it lands
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", terminated_at_2)
    argv = ["reproduce", str(data), "--out", str(tmp_path / "r"), "--minutes", "5", "--variants", "full", "--skip-b"]
    assert cli.main(argv) == 143
    out = tmp_path / "r" / "a_full.pav"
    assert consistent_step(out) == 3 and read_metadata(out)["info"]["finished"] is False
    assert not (tmp_path / "r" / "results.json").exists()
    from pav.data import read_collection

    class Trained(Exception):
        pass

    def fake_train(args, collection):
        runs.append(args.force)
        raise Trained

    runs = []
    monkeypatch.setattr(reproduce, "train", fake_train)
    with pytest.raises(Trained):
        reproduce.train_or_reuse(data, read_collection(data), out, 5.0)
    assert runs == [False]  # neither reused nor started over: resumed from its state
