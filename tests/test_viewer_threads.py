"""The viewer's threads, GUI-free: one training thread, export without the shared lock and cancellable
without leftovers, render errors shown then cleared, a dead render worker restarted."""
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from viewer.scheduler import RenderScheduler
from viewer.state import ViewerSettings, ViewerState
from viewer.training import TrainingSession


def wait_for(predicate, timeout=5.0):
    end = time.time() + timeout
    while not predicate() and time.time() < end:
        time.sleep(0.005)
    return predicate()


def train_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pav-train"]


class SlowTrainer:
    """Steps take 20 ms; counts steps that overlap (must never happen) and can fail on demand."""

    def __init__(self):
        self.step_count, self.active, self.overlaps, self.fail_at = 0, 0, 0, None
        self.guard = threading.Lock()

    def prepare(self):
        pass

    def step(self):
        with self.guard:
            self.active += 1
            self.overlaps += self.active > 1
        time.sleep(0.02)
        with self.guard:
            self.active -= 1
        if self.fail_at is not None and self.step_count + 1 == self.fail_at:
            self.fail_at = None
            raise RuntimeError("NaN loss")
        self.step_count += 1
        return SimpleNamespace(step=self.step_count, loss=1.0, psnr=20.0)


def test_pause_resume_keeps_one_training_thread_and_close_stops_saves_joins():
    trainer, saved = SlowTrainer(), []
    session = TrainingSession(trainer, lambda: saved.append(trainer.step_count), threading.Lock())
    before = len(train_threads())
    session.start()
    for _ in range(30):  # the panel's button, clicked fast: pause, resume, pause, ...
        session.stop(wait=False)
        session.start()
        assert len(train_threads()) - before <= 1
    assert wait_for(lambda: trainer.step_count >= 3)
    session.pause(wait=True)
    n = trainer.step_count
    time.sleep(0.1)
    assert trainer.step_count == n and not session.running  # paused means no steps
    session.start()
    assert wait_for(lambda: trainer.step_count > n) and session.running
    thread = session._thread
    session.close()
    assert not thread.is_alive() and len(train_threads()) == before
    assert trainer.overlaps == 0 and saved == [trainer.step_count] and session.saved_at_step == trainer.step_count
    steps = trainer.step_count
    time.sleep(0.06)
    assert trainer.step_count == steps  # closed: nothing runs any more


def test_training_error_is_shown_pauses_and_clears_on_the_next_success():
    trainer = SlowTrainer()
    trainer.fail_at = 3
    session = TrainingSession(trainer, lambda: None, threading.Lock())
    session.start()
    assert wait_for(lambda: session.error is not None)
    assert "NaN loss" in session.error and not session.running and trainer.step_count == 2
    session.start()  # the user resumes
    assert wait_for(lambda: trainer.step_count >= 3) and wait_for(lambda: session.error is None)
    session.close(save=False)


class FakeAvatar:
    """Enough of pav's Avatar for viewer.scenes.avatar_scene and pav.export.export_clip; render sleeps."""

    def __init__(self, delay=0.02):
        self.delay = delay
        self.canonical_vertices = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.2, 0.1]])
        self.head = SimpleNamespace(expression_names=["jawOpen"], joint_names=["global"],
                                    faces=torch.zeros((1, 3), dtype=torch.long))
        self.appearance_names = ["a"]

    def render(self, camera, expression, pose, appearance, translation=None, background=None, **kw):
        time.sleep(self.delay)
        rgb = torch.full((camera.height, camera.width, 3), 0.5)
        return SimpleNamespace(rgb=rgb, alpha=rgb[..., 0], depth=rgb[..., 0])


def keyframes(n):
    from viewer.orbit import OrbitCamera
    from viewer.timeline import Keyframe

    return [Keyframe(np.zeros(1, np.float32), np.zeros((1, 3), np.float32), OrbitCamera(), np.ones(1, np.float32))
            for _ in range(n)]


def test_export_leaves_the_lock_free_and_cancel_leaves_no_temp_file(tmp_path):
    from viewer.scenes import avatar_scene
    from viewer.timeline import ExportJob

    lock = threading.Lock()
    scene = avatar_scene(FakeAvatar(), lock=lock)
    job = ExportJob(scene.export, keyframes(40), tmp_path / "clip.mp4", 25.0, 32)
    assert wait_for(lambda: job.progress > 0.1)
    waits = []
    for _ in range(5):  # the render worker and the trainer take the lock while the clip renders
        t = time.perf_counter()
        assert lock.acquire(timeout=2.0)
        waits.append(time.perf_counter() - t)
        lock.release()
        time.sleep(0.02)
    progress = job.progress
    assert max(waits) < 0.05 and wait_for(lambda: job.progress > progress)  # the bar keeps moving
    job.cancel(wait=10)
    assert job.done and job.cancelled and job.error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no clip, no .tmp left behind


def test_export_finishes_and_writes_the_clip(tmp_path):
    from viewer.scenes import avatar_scene
    from viewer.timeline import ExportJob

    scene = avatar_scene(FakeAvatar(delay=0.0), lock=threading.Lock())
    job = ExportJob(scene.export, keyframes(5), tmp_path / "clip.mp4", 25.0, 32)
    job.wait(30)
    assert job.done and not job.cancelled and job.error is None and job.written == 5
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_render_error_is_shown_and_cleared_by_the_next_success():
    calls = []

    def flaky(request, cancelled):
        calls.append(float(request.expression[0]))
        if request.expression[0] == 1:
            raise RuntimeError("out of memory")
        return np.zeros((request.camera.height, request.camera.width, 3), np.uint8)

    sched = RenderScheduler(flaky, ViewerSettings(preview_size=8, refine_sizes=(), final_size=8))
    s = ViewerState(["e"], ["global"], ["x"])
    s.expression[0] = 1
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)
    assert wait_for(lambda: sched.error is not None) and "out of memory" in sched.error
    s.expression[0] = 2
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)
    assert wait_for(lambda: sched.latest() is not None and sched.latest().version == s.version)
    assert sched.error is None
    sched.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_error_outside_the_render_function_keeps_the_worker_and_a_dead_worker_is_restarted():
    renders = []

    def render(request, cancelled):
        if request.expression[0] == 3:
            raise SystemExit  # not an Exception: escapes every handler and ends the thread
        renders.append(request.camera.height)
        return np.zeros((request.camera.height, request.camera.width, 3), np.uint8)

    sched = RenderScheduler(render, ViewerSettings(preview_size=8, refine_sizes=(), final_size=8))
    s = ViewerState(["e"], ["global"], ["x"])

    def broken_request(w, h):  # a request the worker cannot use (fails in the worker, not in render)
        return s.request(w, h)._replace(camera=None)

    sched.submit(s.version, broken_request, 1.0, interacting=False)
    assert wait_for(lambda: sched.error is not None) and "AttributeError" in sched.error
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)
    assert wait_for(lambda: sched.latest() is not None) and sched.error is None  # the same worker carries on

    s.expression[0] = 3
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)
    assert wait_for(lambda: not sched._thread.is_alive())
    s.expression[0] = 4
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)  # detects the dead worker, restarts it
    assert sched.restarts == 1 and "restarted" in sched.error
    assert wait_for(lambda: sched.latest().version == s.version) and sched.error is None
    sched.close()


PRELOAD_PROBE = """
import json, sys, threading
sys.path.insert(0, "tests")
import numpy as np, torch
from conftest import make_toy_head
from test_avatar import make_avatar
from viewer.orbit import OrbitCamera
from viewer.scenes import avatar_scene
from viewer.state import RenderRequest
from viewer.timeline import ExportJob, Keyframe
out = sys.argv[1]
keys = [Keyframe(np.full(2, 0.1 * k, np.float32), np.zeros((5, 3), np.float32), OrbitCamera(),
                 np.array([1.0, 0.0], np.float32)) for k in range(2)]
avatar = make_avatar(make_toy_head())
scene = avatar_scene(avatar, lock=threading.Lock())
k = keys[0]  # the app's first render happens during start-up
scene.render(RenderRequest(k.orbit.camera(24, 24), k.expression, k.pose, k.appearance, "rgb"), lambda: False)
if sys.argv[2] == "preload":
    from viewer.preload import preload
    preload()
before = set(sys.modules)

def jobs():  # what runs after start-up: an export, a checkpoint save, a screenshot
    from pav.checkpoint import save_avatar
    from pav.io import write_png
    job = ExportJob(scene.export, keys, out + "/clip.mp4", 25.0, 24)
    job.wait(120)
    assert job.error is None and job.written == 2, job.error
    save_avatar(avatar, out + "/avatar.pav")
    write_png(out + "/shot.png", np.zeros((8, 8, 3), np.uint8))

worker = threading.Thread(target=jobs)
worker.start()
worker.join()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_after_preload_the_background_jobs_import_nothing(tmp_path):
    """An import in a background thread holds the GIL while the extension loads (cv2's first import in the
    export thread froze the UI for ~600 ms). viewer.preload imports them at start-up; the jobs then import
    nothing. Without it they import cv2 (the check that this probe can see it)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    new = {}
    for mode in ("plain", "preload"):
        (tmp_path / mode).mkdir()
        done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE, str(tmp_path / mode), mode], cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        new[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "cv2" in new["plain"] and "imageio_ffmpeg" in new["plain"]
    assert new["preload"] == []


def test_viewer_chunk_is_small_only_where_queries_hold_the_gil(monkeypatch):
    """fcpw and pcu hold the GIL through a render call's queries: the viewer gives them 2048 rays per call
    (the UI's wait); with warp and torch it leaves the chunking to the renderer."""
    import pav.backends
    from viewer.scenes import avatar_scene, render_chunk
    from viewer.state import RenderRequest

    chosen = {}

    def fake(device=None, value=None):
        return pav.backends.BackendChoice(chosen["name"], "test")

    monkeypatch.setattr(pav.backends, "nearest_backend", fake)
    sizes = {}
    for name in ("warp", "torch", "fcpw", "pcu"):
        chosen["name"] = name
        sizes[name] = render_chunk("cpu")
    assert sizes == {"warp": None, "torch": None, "fcpw": 2048, "pcu": 2048}  # None: the renderer's own
    seen = []
    avatar = FakeAvatar()
    avatar.render = lambda *a, **kw: seen.append(kw["chunk"])
    chosen["name"] = "fcpw"
    request = RenderRequest(keyframes(1)[0].orbit.camera(8, 8), np.zeros(1), np.zeros((1, 3)), np.ones(1), "rgb")
    avatar_scene(avatar).render(request, lambda: False)
    assert seen == [2048]
