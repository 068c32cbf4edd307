"""The UI frame's budget, GUI-free: the frame timer's arithmetic, background threads below the UI thread,
one malloc arena for all threads, the frozen GC, and the loop that sleeps while nothing moves."""
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from viewer import threads
from viewer.frametimer import STARTUP_FRAMES, FrameTimer
from viewer.pacing import FramePacer
from viewer.scheduler import RenderScheduler
from viewer.state import ViewerSettings, ViewerState
from viewer.training import TrainingSession

ROOT = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice and glibc: Linux")


class Clock:
    """A hand-driven clock and schedstat: `advance(wall, cpu, runnable)`."""

    def __init__(self):
        self.t, self.cpu, self.runq = 100.0, 0.0, 0.0

    def __call__(self):
        return self.t

    def sched(self):
        return self.cpu, self.runq

    def advance(self, wall, cpu=0.0, runnable=0.0):
        self.t, self.cpu, self.runq = self.t + wall, self.cpu + cpu, self.runq + runnable


def test_frame_timer_splits_frames_into_phases_and_cpu_runqueue_blocked_and_counts_drag_fps():
    c = Clock()
    timer = FrameTimer(clock=c, sched=c.sched)
    c.advance(10.0)  # past start-up time
    for n in range(STARTUP_FRAMES + 10):  # 10 ms frames: 4 ms on the CPU, 1 ms waiting for one, 5 ms blocked
        timer.begin()
        c.advance(0.004, cpu=0.003)
        timer.mark("panel")
        c.advance(0.006, cpu=0.001, runnable=0.001)
        timer.mark("swap")
        timer.end(dragging=n % 2 == 0)
    timer.begin()  # one slow frame: 250 ms, 200 of them in the swap, 150 of those blocked
    c.advance(0.05, cpu=0.04, runnable=0.01)
    timer.mark("panel")
    c.advance(0.2, cpu=0.02, runnable=0.03)
    timer.mark("swap")
    timer.end(dragging=True)
    st = timer.stats()
    n = STARTUP_FRAMES + 11
    assert st["frames"] == n
    assert st["mean_ms"] == pytest.approx(1000 * (0.01 * (n - 1) + 0.25) / n)
    assert st["worst_after_startup_ms"] == pytest.approx(250.0) and st["over_200ms_after_startup"] == 1
    worst = st["worst_frames"][0]
    assert worst["ms"] == 250.0 and worst["frame"] == n
    assert worst["phases"] == {"panel": 50.0, "swap": 200.0, "on_cpu": 60.0, "runnable": 40.0, "blocked": 150.0}
    assert len(st["worst_frames"]) == 8 and all(w["ms"] == 10.0 for w in st["worst_frames"][1:])
    drag_frames = (n - 1 + 1) // 2 + 1  # the even frames, and the slow one
    assert st["drag_frames"] == drag_frames
    assert st["drag_fps"] == pytest.approx(drag_frames / (0.01 * (drag_frames - 1) + 0.25))
    assert st["cpu_share"] == pytest.approx((0.004 * (n - 1) + 0.06) / (0.01 * (n - 1) + 0.25))


def test_frame_timer_times_garbage_collections():
    timer = FrameTimer()
    timer.watch_gc()
    try:
        timer.begin()
        gc.collect()
        timer.end()
    finally:
        timer.unwatch_gc()
    assert timer.gc_ms_total > 0 and timer.gc_ms_worst > 0
    assert timer._on_gc not in gc.callbacks


def test_a_frame_over_the_stall_limit_writes_every_threads_stack(tmp_path):
    """With a stall file, a frame still running after `stall_after_s` gets the Python stack of every thread,
    and again every `stall_after_s` until it ends (here: the UI frame asleep in this test, and a second thread
    holding the GIL in a busy loop); a short frame writes nothing."""
    stop = threading.Event()

    def hold_the_gil_in_python():
        while not stop.is_set():
            sum(range(1000))

    worker = threading.Thread(target=hold_the_gil_in_python, name="busy")
    worker.start()
    try:
        with open(tmp_path / "stalls.txt", "w") as f:
            timer = FrameTimer(stall_file=f, stall_after_s=0.05)
            timer.begin()
            timer.end()  # short: disarmed before the limit
            time.sleep(0.1)
            assert (tmp_path / "stalls.txt").read_text() == ""
            timer.begin()
            time.sleep(0.175)  # the slow frame: 3.5 limits long
            timer.end()
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join()
    text = (tmp_path / "stalls.txt").read_text()
    assert text.count("Timeout (0:00:00.050000)!") in (3, 4)  # at 50, 100 and 150 ms (175 ± the busy thread)
    assert "test_a_frame_over_the_stall_limit_writes_every_threads_stack" in text  # the UI thread's frame
    assert "hold_the_gil_in_python" in text  # and the other thread's


def test_the_stall_trace_file_comes_from_the_environment(tmp_path, monkeypatch):
    from viewer.frametimer import stall_trace_from_env

    monkeypatch.delenv("PAV_STALL_TRACE", raising=False)
    assert stall_trace_from_env() is None
    (tmp_path / "stalls.txt").write_text("earlier run\n")
    monkeypatch.setenv("PAV_STALL_TRACE", str(tmp_path / "stalls.txt"))
    with stall_trace_from_env() as f:
        f.write("this run\n")
    assert (tmp_path / "stalls.txt").read_text() == "earlier run\nthis run\n"  # appended, not truncated


def test_freeze_gc_moves_the_live_objects_out_of_the_collectors_reach():
    from viewer.memory import freeze_gc

    before = gc.get_freeze_count()
    alive = len(gc.get_objects())
    freeze_gc()
    try:
        assert gc.get_freeze_count() - before >= 0.9 * alive
        assert len(gc.get_objects()) < 0.1 * alive  # what a full collection still scans
    finally:
        gc.unfreeze()


class Trainer:
    step_count = 0
    nice = None

    def prepare(self):
        pass

    def step(self):
        self.nice = threads.thread_nice(threading.current_thread())
        self.step_count += 1
        time.sleep(0.01)
        return SimpleNamespace(step=self.step_count, loss=1.0, psnr=20.0)


@linux_only
def test_render_worker_training_and_export_threads_run_at_a_lower_priority_than_the_ui(tmp_path):
    from viewer.orbit import OrbitCamera
    from viewer.timeline import ExportJob, Keyframe

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    expected = min(19, base + threads.WORKER_NICE)
    assert threads.WORKER_NICE > 0
    seen = {}

    def render(request, cancelled):
        seen["render"] = threads.thread_nice(threading.current_thread())
        return np.zeros((request.camera.height, request.camera.width, 3), np.uint8)

    scheduler = RenderScheduler(render, ViewerSettings(preview_size=8, final_size=8))
    state = ViewerState(["a"], ["j"], ["x"])
    scheduler.submit(1, state.request, 1.0, False)
    trainer = Trainer()
    session = TrainingSession(trainer, lambda: None, threading.Lock(), max_steps=2)
    session.start()

    def export(frames, path, fps, size, orbit, progress):
        seen["export"] = threads.thread_nice(threading.current_thread())
        return 0

    job = ExportJob(export, [Keyframe(np.zeros(1), np.zeros((1, 3)), OrbitCamera())], tmp_path / "c.mp4", 25, 8)
    job.wait(5)
    end = time.time() + 5
    while (scheduler.latest() is None or trainer.step_count < 2) and time.time() < end:
        time.sleep(0.01)
    session.close(save=False)
    scheduler.close()
    assert (seen["render"], trainer.nice, seen["export"]) == (expected, expected, expected)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the calling (UI) thread kept its own


def test_scheduler_wakes_the_ui_once_per_finished_frame():
    woken = []
    settings = ViewerSettings(preview_size=4, refine_sizes=(6,), final_size=8)
    scheduler = RenderScheduler(lambda r, c: np.zeros((r.camera.height, r.camera.width, 3), np.uint8), settings,
                                on_frame=lambda: woken.append(scheduler.latest().height))
    scheduler.submit(1, ViewerState(["a"], ["j"], ["x"]).request, 1.0, False)
    end = time.time() + 5
    while len(woken) < 3 and time.time() < end:
        time.sleep(0.01)
    scheduler.close()
    assert woken == [4, 6, 8]  # each picture, preview to final, as soon as it is there


def test_pacer_draws_at_full_rate_while_active_and_after_input_then_sleeps():
    p = FramePacer(idle_after_frames=3, idle_wait_s=0.25)
    assert p.wait_s() is None
    for _ in range(2):
        p.frame_done(active=False)
    assert p.wait_s() is None  # still settling after the last activity
    p.frame_done(active=False)
    assert p.wait_s() == 0.25
    p.woke(0.25, 0.25)  # timed out: nothing happened, stay idle
    p.frame_done(active=False)
    assert p.wait_s() == 0.25
    p.woke(0.01, 0.25)  # woken early: input or a finished render
    assert p.wait_s() is None
    for _ in range(3):
        p.frame_done(active=False)
    p.frame_done(active=True)
    assert p.wait_s() is None


ARENA_SCRIPT = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {root!r})
    from pav.allocator import tune_allocator
    from viewer import memory
    tune_allocator()  # keep freed memory (no mmap, no trim): as the app
    if sys.argv[1] == "shared":
        assert memory.share_arenas(1)
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    turn = [threading.Event() for _ in range(4)]
    done = threading.Event()
    def work(i):  # each thread in turn: allocate 8 x 5 MB, touch, free, then stay alive
        turn[i].wait()
        ptrs = [libc.malloc(5 << 20) for _ in range(8)]
        for p in ptrs:
            ctypes.memset(p, 1, 5 << 20)
        for p in ptrs:
            libc.free(p)
        turn[i + 1].set()
        done.wait()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    [t.start() for t in ts]
    turn[0].set()
    turn[3].wait()
    print(memory.memory_stats()["malloc_arenas"], memory.memory_stats()["malloc_free_mb"])
    done.set()
    [t.join() for t in ts]
""")


@linux_only
def test_one_shared_arena_reuses_what_another_thread_freed(tmp_path):
    """Three live threads each allocate and free 40 MB in turn. With a malloc arena per thread, each keeps
    its own 40 MB free (~120 MB held); with one shared arena the second and third reuse the first's."""
    script = tmp_path / "arenas.py"
    script.write_text(ARENA_SCRIPT.format(root=str(ROOT)))
    free, arenas = {}, {}
    for mode in ("shared", "per-thread"):
        done = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert done.returncode == 0, done.stderr[-2000:]
        arenas[mode], free[mode] = int(done.stdout.split()[-2]), float(done.stdout.split()[-1])
    assert arenas == {"shared": 1, "per-thread": 4}  # malloc_info's count: the main arena + one per thread
    assert free["shared"] < 50, free
    assert free["per-thread"] > 110, free
